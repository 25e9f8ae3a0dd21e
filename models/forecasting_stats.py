"""Local statistical forecasters: one Nixtla ``statsforecast`` model per series (ETS, Theta,
ARIMA, CES, MSTL) behind the :class:`~models.forecasting_base._Forecaster` contract.

The adapter is thin: it converts the long frame to statsforecast's ``unique_id, ds, y``
(``ds`` is the step's position in its series, so any ``freq`` works; timestamps come back
from :meth:`_Forecaster.future_index`), picks the season lengths each series can support,
and keeps each series' fitted statsforecast model. No statistical model is implemented here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import (
    MSTL,
    AutoARIMA,
    AutoCES,
    AutoETS,
    AutoTheta,
    DynamicOptimizedTheta,
    SeasonalNaive,
)

from models import forecasting_calibration as calibration
from models.forecasting_base import _Forecaster, _step_seconds
from pomona.schemas import SERIES_ID, Y

__all__ = ["MODELS", "StatsForecaster"]

# Config name -> statsforecast class (MSTL is built in :func:`_build`).
_SEASONAL = {"auto_ets": AutoETS, "auto_theta": AutoTheta, "dynamic_theta": DynamicOptimizedTheta,
             "auto_arima": AutoARIMA, "auto_ces": AutoCES}
MODELS = (*_SEASONAL, "mstl")


def _build(model: str, seasons: tuple[int, ...]):
    """The statsforecast model for one group of series; ``seasons`` () = no seasonality."""
    if model == "mstl":
        trend = AutoETS(model="ZZN")  # MSTL's own default; with no usable season MSTL is its trend model
        return MSTL(season_length=list(seasons), trend_forecaster=trend) if seasons else trend
    return _SEASONAL[model](season_length=seasons[0] if seasons else 1)


def _forecast(fitted, h: int, level) -> np.ndarray:
    """(3, h): mean, lower and upper bound at ``level``% from one fitted statsforecast model."""
    res = fitted.predict(h=h, level=[level])
    # AutoARIMA returns its bounds as pandas Series, the others as arrays.
    return np.vstack([np.asarray(res[k], dtype="float64") for k in ("mean", f"lo-{level}", f"hi-{level}")])


def _checked(fitted, h: int, level) -> tuple[np.ndarray | None, str | None]:
    """:func:`_forecast`, or None and what went wrong (an error or non-finite values)."""
    try:
        f = _forecast(fitted, h, level)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        return None, f"forecast failed ({type(exc).__name__}: {exc})"
    return (f, None) if np.isfinite(f).all() else (None, "non-finite forecasts")


class StatsForecaster(_Forecaster):
    """One statistical model per series, fit by Nixtla ``statsforecast`` (no exogenous inputs).

    ``model``: ``auto_ets`` (AutoETS), ``auto_theta`` (AutoTheta), ``dynamic_theta``
    (DynamicOptimizedTheta), ``auto_arima`` (AutoARIMA), ``auto_ces`` (AutoCES) or ``mstl``
    (MSTL, AutoETS ``"ZZN"`` trend). A series gets ``season_length`` (m) when it has two
    seasons of values, else no season; MSTL adds the week to sub-daily data (168 hourly)
    and the year (365) to daily data on the same terms, and is its trend model alone
    without a season (``seasons_``: what each series got). A series whose model fails to
    fit (statsforecast's ``fallback_model``) or forecasts non-finite values gets
    statsforecast's SeasonalNaive(m) (naive below m values); ``fallback_``: series id ->
    reason.

    Intervals: ``"conformal"`` (default) scales each side of the model's own ``level``%
    interval by the pooled conformal quantile of its errors on held-out last steps of the fit
    data (``horizon`` steps, else ``max_horizon``; :mod:`models.forecasting_calibration`;
    ``calibration_scores_``), which serves any
    level; ``"native"``: the model's own interval at each level. Steps 1..``max_horizon`` (m
    steps when None) at the fitted level are forecast once at fit (``forecasts_``,
    ``forecasts_level_``) and :meth:`predict` slices them, so a step's answer does not
    depend on the h asked (AutoETS widens its seasonal intervals with h) and serving pays
    no simulation (AutoCES simulates 5000 paths per call, ~200 ms). More steps, or another
    native level, are computed from ``fitted_`` (series id -> fitted statsforecast model).
    Exogenous columns are accepted and ignored; ``n_jobs`` is statsforecast's, for fitting.
    """

    POINT_ONLY = {"intervals": "native"}  # the same point forecasts without the calibration fit

    def __init__(self, model: str = "auto_ets", season_length: int = 7, freq: str = "D",
                 max_horizon: int | None = None, horizon: int | None = None, level: int = 90,
                 intervals: str = "conformal", n_jobs: int = 1):
        self.model = model
        self.season_length = season_length
        self.freq = freq
        self.max_horizon = max_horizon
        self.horizon = horizon
        self.level = level
        self.intervals = intervals
        self.n_jobs = n_jobs

    def _seasons(self, n: int) -> tuple[int, ...]:
        """The season lengths a series of ``n`` values gets: each needs two full seasons."""
        periods = {max(int(self.season_length), 1)}
        if self.model == "mstl":
            step = _step_seconds(self.freq)
            if step < 86400 and (7 * 86400) % step == 0:
                periods.add(int(7 * 86400 // step))  # the week: 168 for hourly data
            elif step == 86400:
                periods.add(365)
        return tuple(p for p in sorted(periods) if p > 1 and n >= 2 * p)

    def fit(self, X: pd.DataFrame, y=None):
        """Fit the model to every series (fallbacks where it fails); returns self."""
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, got {self.model!r}")
        if not 0 < self.level < 100:
            raise ValueError(f"level must be in (0, 100), got {self.level}")
        calibration.check(self.intervals)
        X = self._long(X, y)
        self._fit_common(X)
        self.exog_ = []  # local univariate models
        self.max_horizon_ = None if self.max_horizon is None else int(self.max_horizon)
        sizes = X.groupby(SERIES_ID, sort=False).size().reindex(self.series_)
        self.seasons_ = pd.Series([self._seasons(int(n)) for n in sizes], index=self.series_, name="seasons",
                                  dtype=object)
        frame = pd.DataFrame({"unique_id": X[SERIES_ID].to_numpy(),
                              "ds": X.groupby(SERIES_ID, sort=False).cumcount().to_numpy(),
                              "y": X[Y].to_numpy()})
        m = max(int(self.season_length), 1)
        groups: dict[tuple, list] = {}  # (seasons, fallback's season length) -> series ids
        for sid, seasons in self.seasons_.items():
            groups.setdefault((seasons, m if sizes[sid] >= m else 1), []).append(sid)
        self.fitted_ = {}
        for (seasons, fallback_m), ids in groups.items():  # one statsforecast run per group
            sf = StatsForecast(models=[_build(self.model, seasons)], freq=1, n_jobs=self.n_jobs,
                               fallback_model=SeasonalNaive(season_length=fallback_m))
            sf.fit(frame[frame["unique_id"].isin(ids)])
            self.fitted_.update(zip(sf.uids, sf.fitted_[:, 0]))
        # statsforecast swallows the error and fits the fallback in the model's place.
        reasons = {s: f"{self.model} failed to fit" for s, f in self.fitted_.items() if isinstance(f, SeasonalNaive)}
        steps = self.max_horizon_ or m
        values = {s: v.to_numpy() for s, v in X.groupby(SERIES_ID, sort=False)[Y]}
        self.forecasts_level_ = self.level
        self.forecasts_ = np.empty((len(self.series_), 3, steps))  # (series, [yhat, lower, upper], step)
        for i, sid in enumerate(self.series_):
            f, problem = _checked(self.fitted_[sid], steps, self.level)
            if problem is not None:
                self.fitted_[sid] = SeasonalNaive(season_length=m if sizes[sid] >= m else 1).fit(y=values[sid])
                reasons[sid] = f"{reasons.get(sid, self.model)}: {problem}"
                f, problem = _checked(self.fitted_[sid], steps, self.level)
                if problem is not None:
                    raise ValueError(f"series {sid!r}: seasonal naive, the fallback, failed too: {problem}")
            self.forecasts_[i] = f
        self.fallback_ = pd.Series(reasons, dtype=object, name="reason").reindex(
            [s for s in self.series_ if s in reasons])
        calibration.calibrate(self, X)
        return self

    def predict(self, h: int, X_future: pd.DataFrame | None = None, level: int | None = None,
                series=None) -> pd.DataFrame:
        """Forecasts for h steps per series (all, or the ids in ``series``) with ``level``%
        intervals (default: the fitted level). ``X_future`` is ignored."""
        h = self._check_h(h)
        level = self.level if level is None else level
        scale, native = calibration.scale_for(self, level)
        sel = self._select(series)
        out = self.future_index(h, sel)
        if native == self.forecasts_level_ and h <= self.forecasts_.shape[2]:
            f = self.forecasts_[pd.Index(self.series_).get_indexer(sel), :, :h]
        else:
            f = np.stack([_forecast(self.fitted_[s], h, native) for s in sel]) if len(sel) else np.empty((0, 3, h))
        yhat = f[:, 0].ravel()
        lower, upper = calibration.widen(yhat, f[:, 1].ravel(), f[:, 2].ravel(), scale)
        out["yhat"], out["yhat_lower"], out["yhat_upper"] = yhat, lower, upper
        return self._finish(out)

    def boosters(self) -> tuple:
        """No LightGBM boosters (serving pins the boosters of global models to one thread)."""
        return ()
