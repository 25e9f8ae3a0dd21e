"""Forecasting training: train / validation / test by position in each series, and a
rolling-origin backtest (synthetic) or the official test horizon (M4).

Parts: the test part is the dataset's own (M4's official test horizon, the synthetic world's
last ``horizon`` days); the validation part is the last ``horizon`` steps of each series'
remaining history (per series, by position, so ragged series such as M4's are handled); the
training part is everything before that. ``fit(until="valid")`` fits on the training part,
``"test"`` on training and validation, ``None`` on every row (the registered, served model).

Backtest of a part: with ``origins = n`` the last origin is the start of the part and each
earlier origin is ``horizon`` steps before the next. A forecaster's state is its history, so
every earlier origin refits a clone of the candidate on the data before it; the last uses the
fitted model itself. The model's future inputs at every origin are built as serving builds
them (:func:`models.forecasting.future_inputs`): exogenous columns declared
``known_in_advance`` come from the data (a plan), all others carry their last value forward.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field
from sklearn.base import clone

import features
from models.forecasting import fit_once, future_inputs, last_values
from models.scoring import ModelBundle, score
from pomona.errors import PomonaError
from pomona.schemas import SERIES_ID, TS, Y
from training import metrics, plots, splits
from training.common import Data, require_rows
from training.config import TrainConfig


class Config(TrainConfig):
    """The generic config, the longest forecast the registered model serves, and how each
    exogenous input is known at forecast time."""

    # Default and minimum: the evaluation horizon. Conformal intervals are calibrated for as
    # many steps of it as the history allows.
    max_horizon: int | None = Field(None, ge=1, le=10_000)
    # Exogenous columns whose future values are known in advance (a price or promotion plan,
    # holidays): the backtest reads them from the data, serving from the request's ``plan``.
    # Every other exogenous column is carried forward from its last known value, in the
    # backtest exactly as in serving.
    known_in_advance: list[str] = Field(default_factory=list)


PRIMARY = "mase"
LABEL = Y
BASELINE = "seasonal_naive"  # scored on the test part next to the chosen model
CALENDAR_VIEW = "forecasting_calendar"
METRIC_KEYS = ("mase", "smape", "owa", "wape", "coverage_90")


def prepare(ws, cfg, manifest) -> Data:
    frame = require_rows(features.training_frame("forecasting", ws=ws), "forecasting")
    exog = features.service_views("forecasting", ws).get(CALENDAR_VIEW, [])
    exog = [c for c in exog if c not in cfg.exclude_features]
    unknown = sorted(set(cfg.known_in_advance) - set(exog))
    if unknown:
        raise PomonaError(f"known_in_advance names {unknown}, which are not exogenous inputs of this dataset "
                          f"({exog or 'none'})")
    frame = frame[[SERIES_ID, TS, Y, "split", *exog]].sort_values([SERIES_ID, TS], kind="stable").reset_index(drop=True)
    before = splits.official(frame["split"])
    horizon = cfg.split.horizon or manifest.horizon or int((~before).sum() / max(frame[SERIES_ID].nunique(), 1))
    # Steps before the end of each series' part before the test part (0 = its last step).
    back = np.full(len(frame), -1)
    back[before] = frame[before].groupby(SERIES_ID, sort=False).cumcount(ascending=False).to_numpy()
    masks = splits.Masks(train=back >= horizon, valid=before & (back < horizon), test=~before).check("forecasting")
    kind = splits.resolve(cfg.split.kind, "official" if manifest.dataset == "m4" else "rolling_origin")
    origins = cfg.split.origins if kind == "rolling_origin" else 1
    season = manifest.season_length or 1
    sizes = frame[before].groupby(SERIES_ID, sort=False).size()
    if (sizes - horizon * origins).min() < 2 * season:
        short = sizes.idxmin()
        raise PomonaError(f"series {short!r} has {sizes.min()} values before the test part: too few for a validation "
                          f"part of {horizon} and {origins} origin(s) with season {season}; lower split.origins "
                          f"or split.horizon")
    if cfg.max_horizon is not None and cfg.max_horizon < horizon:
        raise PomonaError(f"max_horizon {cfg.max_horizon} is below the evaluation horizon {horizon}")
    protocol = (f"{kind}: validation = the last {horizon} steps of each series before the test part; "
                f"{origins} origin(s) per part, horizon {horizon}")
    return Data(frame, masks, LABEL, protocol,
                extra={"exog": exog, "known": list(cfg.known_in_advance), "horizon": horizon,
                       "max_horizon": cfg.max_horizon or horizon, "origins": origins, "back": back,
                       "freq": manifest.frequency or "D", "season_length": season})


def configure(estimator, data: Data):
    """Give the forecaster the dataset's frequency, season and horizon (the config sets the rest)."""
    params = estimator.get_params()
    update = {k: v for k, v in (("freq", data.extra["freq"]), ("season_length", data.extra["season_length"]),
                                 ("max_horizon", data.extra["max_horizon"]), ("horizon", data.extra["horizon"]))
              if k in params}
    return estimator.set_params(**update)


def fit(estimator, data: Data, cfg, until: str | None = "valid", params: dict | None = None):
    """Fit on the rows before ``until`` (``None``: every row, so the served forecast starts one
    step after each series' last observation). Nothing is chosen on validation."""
    configure(estimator, data)
    rows = data.upto(until)
    estimator = fit_once(estimator, rows[[SERIES_ID, TS, Y, *data.extra["exog"]]])
    return estimator, {"horizon": data.extra["horizon"], "known_in_advance": list(data.extra["known"])}


def model_future(bundle: ModelBundle, history: pd.DataFrame, series, horizon: int,
                 plan: pd.DataFrame | None = None) -> pd.DataFrame:
    """What the model scores at the end of ``history``: built as serving builds it."""
    est = bundle.estimator
    exog = list(getattr(est, "exog_", None) or [])
    last = last_values(history, exog) if exog else None
    return future_inputs(est, series, horizon, last, bundle.params.get("known_in_advance", ()), plan)


def _fold(bundle: ModelBundle, data: Data, part: str, fold: int):
    """History and (actual, forecast) rows of the origin ``fold`` horizons before ``part``."""
    frame, h, back = data.frame, data.extra["horizon"], data.extra["back"]
    k = fold + (part == "valid")  # horizons between this origin and the end of the pre-test rows
    history = frame[back >= h * k]
    future = frame[data.masks.test] if k == 0 else frame[(back >= h * (k - 1)) & (back < h * k)]
    if fold > 0 or not _fitted_on(bundle.estimator, history):
        est = fit_once(configure(clone(bundle.estimator), data), history[[SERIES_ID, TS, Y, *data.extra["exog"]]])
        bundle = ModelBundle(**{**bundle.__dict__, "estimator": est})
    series = pd.unique(future[SERIES_ID].astype(str))
    fc = score(bundle, model_future(bundle, history, series, h, plan=future), horizon=h)
    fc = fc.assign(**{SERIES_ID: fc[SERIES_ID].astype(str)})
    actual = future[[SERIES_ID, TS, Y]].assign(**{SERIES_ID: future[SERIES_ID].astype(str)})
    merged = actual.merge(fc, on=[SERIES_ID, TS], how="left")
    if merged["yhat"].isna().any():
        row = merged[merged["yhat"].isna()].iloc[0]
        raise PomonaError(f"the forecaster returned no value for series {row[SERIES_ID]!r} at {row[TS]} "
                          f"(frequency {data.extra['freq']!r}: do the timestamps lie on its grid?)")
    return history, merged


def _metrics(history: pd.DataFrame, merged: pd.DataFrame, m: int) -> dict:
    groups = merged.groupby(SERIES_ID, sort=True)
    hist = {str(k): g[Y].to_numpy() for k, g in history.groupby(SERIES_ID, sort=False)}
    return metrics.forecast_metrics(
        actuals={k: g[Y].to_numpy() for k, g in groups}, forecasts={k: g["yhat"].to_numpy() for k, g in groups},
        insample={k: hist[k] for k, _ in groups}, m=m,
        lower={k: g["yhat_lower"].to_numpy() for k, g in groups},
        upper={k: g["yhat_upper"].to_numpy() for k, g in groups})


def evaluate(bundle: ModelBundle, data: Data, cfg, part: str = "test"):
    """Mean over the part's origins of the M4 metrics; figures for the test part only."""
    m_len = data.extra["season_length"]
    per_fold = []
    for fold in range(data.extra["origins"] - 1, -1, -1):
        history, merged = _fold(bundle, data, part, fold)
        per_fold.append(_metrics(history, merged, m_len))
    out = {k: float(np.mean([f[k] for f in per_fold])) for k in METRIC_KEYS}
    if part != "test":
        return out, {}
    figs = {"plots/forecasts.png": plots.forecasts(history, merged[[SERIES_ID, TS, Y]], merged, "test period")}
    imp = getattr(bundle.estimator, "feature_importances_", None)
    if isinstance(imp, pd.Series):
        figs["plots/feature_importance.png"] = plots.feature_importance(imp, "feature importance")
    return out, figs


def units(bundle: ModelBundle, data: Data, cfg, part: str) -> pd.DataFrame:
    """One row per series (sorted by id): its MASE at the part's last origin (NaN where the
    series' scale is undefined or zero)."""
    history, merged = _fold(bundle, data, part, 0)
    m_len = data.extra["season_length"]
    hist = {str(k): g[Y].to_numpy() for k, g in history.groupby(SERIES_ID, sort=False)}
    rows = [(k, metrics.forecast.mase(g[Y].to_numpy(), g["yhat"].to_numpy(), hist[k], m_len))
            for k, g in merged.groupby(SERIES_ID, sort=True)]
    return pd.DataFrame(rows, columns=[SERIES_ID, "mase"]).replace([np.inf, -np.inf], np.nan)


def _fitted_on(estimator, history: pd.DataFrame) -> bool:
    """Whether ``estimator`` was fit on exactly these series up to these last timestamps."""
    last = getattr(estimator, "last_timestamp_", None)
    series = getattr(estimator, "series_", None)
    if last is None or series is None:
        return False
    ends = history.groupby(SERIES_ID, sort=False)[TS].max()
    fitted = pd.Series(pd.DatetimeIndex(np.asarray(last)), index=pd.Index(np.asarray(series)).astype(str))
    ends.index = ends.index.astype(str)
    if set(fitted.index) != set(ends.index):
        return False
    fitted = pd.to_datetime(fitted, utc=True) if fitted.dt.tz is None else fitted
    return bool((fitted.reindex(ends.index) == ends).all())


def example(data: Data):
    """A request as serving builds it for the registered model (fit on every row): the first
    series' ``horizon`` steps after its last observation, its inputs carried forward."""
    h, exog = data.extra["horizon"], data.extra["exog"]
    first = data.frame[SERIES_ID].iloc[0]
    rows = data.frame[data.frame[SERIES_ID] == first]
    last = pd.Timestamp(rows[TS].max())
    ts = pd.date_range(last.tz_localize(None), periods=h + 1, freq=data.extra["freq"])[1:]
    out = pd.DataFrame({SERIES_ID: first, TS: ts.tz_localize(last.tz) if last.tz else ts})
    for c in exog:
        out[c] = float(rows[c].iloc[-1])  # float64, as serving builds carried-forward inputs
    return out, {"horizon": h}
