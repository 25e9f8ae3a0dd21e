"""Forecasting training: rolling-origin backtest (synthetic) or the official test horizon (M4).

Folds: with ``origins = n``, the last fold forecasts each series' test period from the end of
its training period, and each earlier fold ends ``horizon`` steps before the next (per series,
by position, so ragged series such as M4's are handled). A forecaster's state is its history,
so every earlier fold refits a clone of the candidate on the data before its origin; the last
fold uses the fitted model itself (fit on the training period).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field
from sklearn.base import clone

import features
from models.scoring import ModelBundle, score
from pomona.errors import PomonaError
from pomona.schemas import SERIES_ID, TS, Y
from training import metrics, plots, splits
from training.common import Data, require_rows
from training.config import TrainConfig


class Config(TrainConfig):
    """The generic config plus the longest forecast the registered model serves."""

    # Default and minimum: the evaluation horizon. Conformal intervals are calibrated for every
    # step up to it.
    max_horizon: int | None = Field(None, ge=1, le=10_000)


PRIMARY = "mase"
LABEL = Y
CALENDAR_VIEW = "forecasting_calendar"
METRIC_KEYS = ("mase", "smape", "owa", "wape", "coverage_90")


def prepare(ws, cfg, manifest) -> Data:
    frame = require_rows(features.training_frame("forecasting", ws=ws), "forecasting")
    exog = features.service_views("forecasting", ws).get(CALENDAR_VIEW, [])
    exog = [c for c in exog if c not in cfg.exclude_features]
    frame = frame[[SERIES_ID, TS, Y, "split", *exog]].sort_values([SERIES_ID, TS], kind="stable").reset_index(drop=True)
    masks = splits.official(frame["split"]).check("forecasting")
    horizon = cfg.split.horizon or manifest.horizon or int(frame.loc[masks.test].groupby(SERIES_ID).size().max())
    kind = splits.resolve(cfg.split.kind, "official" if manifest.dataset == "m4" else "rolling_origin")
    origins = cfg.split.origins if kind == "rolling_origin" else 1
    # Steps before the end of each series' training period (0 = its last training step).
    train = pd.Series(masks.train, index=frame.index)
    g = frame[train].groupby(SERIES_ID, sort=False)
    back = pd.Series(-1, index=frame.index)
    back[train] = (g.cumcount(ascending=False)).to_numpy()
    season = manifest.season_length or 1
    if (g.size() - horizon * (origins - 1)).min() < 2 * season:
        raise PomonaError("too little history before the first forecast origin; lower split.origins")
    if cfg.max_horizon is not None and cfg.max_horizon < horizon:
        raise PomonaError(f"max_horizon {cfg.max_horizon} is below the evaluation horizon {horizon}")
    protocol = f"{kind}: {origins} origin(s), horizon {horizon}" + (
        ", the last on the official test period" if kind == "official" else ", the last on the test period")
    return Data(frame, masks, LABEL, protocol,
                extra={"exog": exog, "horizon": horizon, "max_horizon": cfg.max_horizon or horizon, "folds": list(range(origins - 1, -1, -1)),
                       "back": back.to_numpy(), "freq": manifest.frequency or "D", "season_length": season})


def configure(estimator, data: Data):
    """Give the forecaster the dataset's frequency, season and horizon (the config sets the rest)."""
    params = estimator.get_params()
    update = {k: v for k, v in (("freq", data.extra["freq"]), ("season_length", data.extra["season_length"]),
                                 ("max_horizon", data.extra["max_horizon"])) if k in params}
    return estimator.set_params(**update)


def fit(estimator, data: Data, cfg):
    configure(estimator, data)
    train = data.part("train")
    estimator.fit(train.drop(columns=["split"]))
    return estimator, {"horizon": data.extra["horizon"]}


def _fold(bundle: ModelBundle, data: Data, fold: int):
    """History and (actual, forecast) rows of one fold; ``fold`` horizons before the test period."""
    frame, h, back = data.frame, data.extra["horizon"], data.extra["back"]
    if fold == 0:
        history, future = frame[data.masks.train], frame[data.masks.test]
    else:
        history = frame[back >= h * fold]
        future = frame[(back >= h * (fold - 1)) & (back < h * fold)]
    if fold > 0 or not _fitted_on(bundle.estimator, history):
        est = configure(clone(bundle.estimator), data)
        est.fit(history.drop(columns=["split"]))
        bundle = ModelBundle(**{**bundle.__dict__, "estimator": est})
    request = future[[SERIES_ID, TS, *data.extra["exog"]]]
    fc = score(bundle, request, horizon=h)
    merged = future[[SERIES_ID, TS, Y]].merge(fc, on=[SERIES_ID, TS], how="left")
    if merged["yhat"].isna().any():
        raise PomonaError("the forecaster returned no value for some test steps")
    return history, merged


def evaluate(bundle: ModelBundle, data: Data, cfg):
    m_len = data.extra["season_length"]
    per_fold, last = [], None
    for fold in data.extra["folds"]:
        history, merged = _fold(bundle, data, fold)
        groups = merged.groupby(SERIES_ID, sort=False)
        hist = {k: g[Y].to_numpy() for k, g in history.groupby(SERIES_ID, sort=False)}
        per_fold.append(metrics.forecast_metrics(
            actuals={k: g[Y].to_numpy() for k, g in groups}, forecasts={k: g["yhat"].to_numpy() for k, g in groups},
            insample={k: hist[k] for k, _ in groups}, m=m_len,
            lower={k: g["yhat_lower"].to_numpy() for k, g in groups},
            upper={k: g["yhat_upper"].to_numpy() for k, g in groups}))
        last = (history, merged)
    out = {k: float(np.mean([f[k] for f in per_fold])) for k in METRIC_KEYS}
    history, merged = last
    figs = {"plots/forecasts.png": plots.forecasts(history, merged[[SERIES_ID, TS, Y]], merged, "test period")}
    imp = getattr(bundle.estimator, "feature_importances_", None)
    if isinstance(imp, pd.Series):
        figs["plots/feature_importance.png"] = plots.feature_importance(imp, "feature importance")
    return out, figs


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
    test = data.part("test")
    first = test[SERIES_ID].iloc[0]
    return test.loc[test[SERIES_ID] == first, [SERIES_ID, TS, *data.extra["exog"]]].reset_index(drop=True), \
        {"horizon": data.extra["horizon"]}
