"""Forecast accuracy as the M4 competition measures it (sMAPE, MASE, OWA against Naive2),
reproducing the M4 benchmark R code (``Benchmarks and Evaluation.R``) including its seasonality test."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from utilsforecast import losses


def smape(y, f) -> float:
    """M4 sMAPE in percent: mean(200*|y-f| / (|y|+|f|)); a point with y = f = 0 counts 0."""
    y, f = np.asarray(y, dtype=float), np.asarray(f, dtype=float)
    if y.shape != f.shape:
        raise ValueError(f"actuals and forecasts differ in shape: {y.shape} vs {f.shape}")
    num = 200.0 * np.abs(y - f)
    den = np.abs(y) + np.abs(f)
    return float(np.mean(np.divide(num, den, out=np.zeros_like(num), where=den > 0)))


def mase_scale(insample, m: int) -> float:
    """M4 MASE scale: in-sample mean |x_t - x_{t-m}|; NaN when the series has <= m points."""
    x = np.asarray(insample, dtype=float)
    if x.size <= m:
        return float("nan")
    return float(np.mean(np.abs(x[m:] - x[:-m])))


def mase(y, f, insample, m: int) -> float:
    """M4 MASE: mean |y-f| over the horizon divided by :func:`mase_scale` (NaN or inf when
    the scale is undefined or zero)."""
    y, f = np.asarray(y, dtype=float), np.asarray(f, dtype=float)
    if y.shape != f.shape:
        raise ValueError(f"actuals and forecasts differ in shape: {y.shape} vs {f.shape}")
    scale = mase_scale(insample, m)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.mean(np.abs(y - f)) / np.float64(scale))


def naive_forecast(insample, h: int) -> np.ndarray:
    """Naive (Naive1): the last observation repeated ``h`` times."""
    x = np.asarray(insample, dtype=float)
    return np.full(h, x[-1])


def seasonal_naive_forecast(insample, h: int, m: int) -> np.ndarray:
    """Seasonal naive (M4 ``naive_seasonal``): the last season repeated; naive when m <= 1."""
    x = np.asarray(insample, dtype=float)
    if m <= 1:
        return naive_forecast(x, h)
    return np.resize(x[-m:], h)


def _acf(x: np.ndarray, nlags: int) -> np.ndarray:
    """Sample autocorrelations at lags 1..nlags, as R's ``acf`` (demeaned, denominator n)."""
    d = x - x.mean()
    c0 = float(d @ d)
    return np.array([float(d[k:] @ d[:-k]) / c0 for k in range(1, nlags + 1)])


def seasonality_test(insample, m: int) -> bool:
    """The M4 90% seasonality test (``SeasonalityTest`` in the M4 benchmark R code).

    Seasonal when ``|acf_m| > 1.645 * sqrt((1 + 2*sum_{k<m} acf_k^2) / n)``. Applied only if
    ``m > 1`` and ``n >= 3m``. Like the reference, which calls R's ``acf`` with its default
    ``lag.max = floor(10*log10(n))``, lag m is unavailable when m exceeds that bound and the
    series is then treated as not seasonal (R's NA -> FALSE).
    """
    x = np.asarray(insample, dtype=float)
    n = x.size
    if m <= 1 or n < 3 * m:
        return False
    lag_max = min(int(math.floor(10 * math.log10(n))), n - 1)
    if m > lag_max or np.all(x == x[0]):
        return False
    acf = _acf(x, m)
    limit = 1.645 * math.sqrt((1.0 + 2.0 * float(np.sum(acf[:-1] ** 2))) / n)
    return bool(abs(acf[-1]) > limit)


def _seasonal_indices(x: np.ndarray, m: int) -> np.ndarray:
    """Multiplicative seasonal figure (m,) of R's ``decompose``: centered moving average trend,
    x/trend averaged per season position (NaNs ignored), normalised to mean 1. Position 0 is
    the first observation."""
    if m % 2 == 0:
        weights = np.r_[0.5, np.ones(m - 1), 0.5] / m
    else:
        weights = np.ones(m) / m
    half = len(weights) // 2
    trend = np.full(x.size, np.nan)
    trend[half : x.size - half] = np.convolve(x, weights, mode="valid")
    with np.errstate(divide="ignore", invalid="ignore"):  # zero trend (intermittent series): NaN, ignored
        ratio = x / trend
    figure = np.array([np.nanmean(ratio[i::m]) for i in range(m)])
    return figure / figure.mean()


def naive2_forecast(insample, h: int, m: int) -> np.ndarray:
    """M4 Naive2: naive forecast of the seasonally adjusted series, reseasonalised.

    When :func:`seasonality_test` finds seasonality, the series is divided by the classical
    multiplicative seasonal indices, the last adjusted value is repeated and multiplied by the
    indices of the forecast positions; otherwise this is the naive forecast.
    """
    x = np.asarray(insample, dtype=float)
    if not seasonality_test(x, m):
        return naive_forecast(x, h)
    figure = _seasonal_indices(x, m)
    n = x.size
    adjusted_last = x[-1] / figure[(n - 1) % m]
    return adjusted_last * figure[(n + np.arange(h)) % m]


def forecast_metrics(
    actuals: Mapping[object, np.ndarray],
    forecasts: Mapping[object, np.ndarray],
    insample: Mapping[object, np.ndarray],
    m: int,
    lower: Mapping[object, np.ndarray] | None = None,
    upper: Mapping[object, np.ndarray] | None = None,
) -> dict[str, float]:
    """M4 metrics over a set of series (keys: series ids; values: 1-d arrays).

    ``mase`` and ``smape`` are means over series of the per-series M4 values (computed by
    Nixtla's ``utilsforecast.losses``, whose sMAPE times 200 and MASE are M4's definitions);
    ``owa`` is ``0.5*(sMAPE/sMAPE_Naive2 + MASE/MASE_Naive2)`` on those means, with Naive2
    (:func:`naive2_forecast`, M4's own, which utilsforecast lacks) computed from the same
    ``insample`` over the same horizons; ``wape`` is ``sum|y-f| / sum|y|`` over all points;
    ``coverage_90`` the share of actuals inside ``[lower, upper]`` (NaN without intervals). A
    series whose MASE scale is undefined (<= m in-sample points) or zero has no MASE (M4 has no
    such series); it is left out of both MASE means and counted in ``n_series_skipped_mase``; it
    still counts in sMAPE and WAPE.
    """
    ids = list(actuals)
    if not ids:
        raise ValueError("no series to evaluate")
    missing = [i for i in ids if i not in forecasts or i not in insample]
    if missing:
        raise ValueError(f"series without a forecast or in-sample history: {missing[:5]}")
    key = {sid: k for k, sid in enumerate(ids)}  # integer ids: any hashable series key works
    y = [np.asarray(actuals[i], dtype=float) for i in ids]
    f = [np.asarray(forecasts[i], dtype=float) for i in ids]
    if any(a.shape != b.shape for a, b in zip(y, f)):
        raise ValueError("actuals and forecasts differ in shape for some series")
    x = [np.asarray(insample[i], dtype=float) for i in ids]
    sizes, hist = np.array([a.size for a in y]), np.array([a.size for a in x])
    frame = pd.DataFrame({
        "unique_id": np.repeat([key[i] for i in ids], sizes),
        "ds": np.concatenate([n + np.arange(k) for n, k in zip(hist, sizes)]),
        "y": np.concatenate(y), "f": np.concatenate(f),
        "naive2": np.concatenate([naive2_forecast(a, b.size, m) for a, b in zip(x, y)]),
    })
    train = pd.DataFrame({"unique_id": np.repeat([key[i] for i in ids], hist),
                          "ds": np.concatenate([np.arange(k) for k in hist]), "y": np.concatenate(x)})
    per_smape = losses.smape(frame, ["f", "naive2"]).set_index("unique_id") * 200.0
    per_mase = losses.mase(frame, ["f", "naive2"], seasonality=int(m), train_df=train).set_index("unique_id")
    scaled = per_mase[np.isfinite(per_mase).all(axis=1)]  # undefined or zero scale: no MASE

    s, s2 = (float(per_smape[c].mean()) for c in ("f", "naive2"))
    ms, ms2 = (float(scaled[c].mean()) if len(scaled) else float("nan") for c in ("f", "naive2"))
    owa = 0.5 * (s / s2 + ms / ms2) if s2 > 0 and ms2 > 0 else float("nan")
    abs_y = float(np.abs(frame["y"]).sum())
    coverage = float("nan")
    if lower is not None and upper is not None:
        frame["f-lo-90"] = np.concatenate([np.asarray(lower[i], dtype=float) for i in ids])
        frame["f-hi-90"] = np.concatenate([np.asarray(upper[i], dtype=float) for i in ids])
        inside = losses.coverage(frame, ["f"], level=90)  # per series: the share inside
        coverage = float(np.average(inside.set_index("unique_id")["f"].reindex(range(len(ids))), weights=sizes))
    return {
        "mase": ms,
        "smape": s,
        "owa": float(owa),
        "wape": float(np.abs(frame["y"] - frame["f"]).sum()) / abs_y if abs_y > 0 else float("nan"),
        "coverage_90": coverage,
        "n_series_skipped_mase": len(ids) - len(scaled),
    }
