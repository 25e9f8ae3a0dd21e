"""Forecasting training: rolling-origin backtest (synthetic) or the official test horizon (M4).

Folds: with ``origins = n``, the last fold forecasts the dataset's test period from the end
of its training period and each earlier fold starts ``horizon`` steps before the next. A
forecaster's state is its history, so every fold refits a clone of the candidate on the data
up to its origin; the last fold uses the fitted model itself (fit on the training period).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone

import features
from models.scoring import ModelBundle, score
from pomona.errors import PomonaError
from pomona.schemas import SERIES_ID, TS, Y
from training import metrics, plots, splits
from training.common import Data, require_rows

PRIMARY = "mase"
LABEL = Y
CALENDAR_VIEW = "forecasting_calendar"
METRIC_KEYS = ("mase", "smape", "owa", "wape", "coverage_90")


def prepare(ws, cfg, manifest) -> Data:
    store = features.feature_store(ws)
    frame = require_rows(features.training_frame("forecasting", ws=ws), "forecasting")
    svc = store.get_feature_service("forecasting_v1")
    exog = [f.name for p in svc.feature_view_projections if p.name == CALENDAR_VIEW for f in p.features]
    exog = [c for c in exog if c not in cfg.exclude_features]
    frame = frame[[SERIES_ID, TS, Y, "split", *exog]].sort_values([SERIES_ID, TS], kind="stable").reset_index(drop=True)
    masks = splits.official(frame["split"]).check("forecasting")
    horizon = cfg.split.horizon or manifest.horizon or int(frame.loc[masks.test].groupby(SERIES_ID).size().max())
    kind = splits.resolve(cfg.split.kind, "forecasting", manifest)
    origins = cfg.split.origins if kind == "rolling_origin" else 1
    train_end = frame.loc[masks.train, TS].max()
    step = pd.tseries.frequencies.to_offset(manifest.frequency or "D")
    cutoffs = [train_end - step * (horizon * i) for i in range(origins - 1, -1, -1)]
    if frame.loc[frame[TS] <= cutoffs[0]].groupby(SERIES_ID).size().min() < 2 * (manifest.season_length or 1):
        raise PomonaError("too little history before the first forecast origin; lower split.origins")
    protocol = f"{kind}: {origins} origin(s) {', '.join(f'{c:%Y-%m-%d %H:%M}' for c in cutoffs)}, horizon {horizon}"
    return Data(frame, masks, LABEL, protocol,
                extra={"exog": exog, "horizon": horizon, "cutoffs": cutoffs, "step": step,
                       "freq": manifest.frequency or "D", "season_length": manifest.season_length or 1})


def configure(estimator, data: Data):
    """Give the forecaster the dataset's frequency, season and horizon (the config sets the rest)."""
    params = estimator.get_params()
    update = {k: v for k, v in (("freq", data.extra["freq"]), ("season_length", data.extra["season_length"]),
                                 ("max_horizon", data.extra["horizon"])) if k in params}
    return estimator.set_params(**update)


def fit(estimator, data: Data, cfg):
    configure(estimator, data)
    train = data.part("train")
    estimator.fit(train.drop(columns=["split"]))
    return estimator, {"horizon": data.extra["horizon"]}


def _fold(estimator_or_bundle, data: Data, cutoff, last: bool):
    frame = data.frame
    h, step = data.extra["horizon"], data.extra["step"]
    future = frame[(frame[TS] > cutoff) & (frame[TS] <= cutoff + step * h)]
    history = frame[frame[TS] <= cutoff]
    if last and isinstance(estimator_or_bundle, ModelBundle):
        bundle = estimator_or_bundle
    else:
        est = configure(clone(estimator_or_bundle.estimator), data)
        est.fit(history.drop(columns=["split"]))
        bundle = ModelBundle(**{**estimator_or_bundle.__dict__, "estimator": est})
    request = future[[SERIES_ID, TS, *data.extra["exog"]]]
    fc = score(bundle, request, horizon=h)
    merged = future[[SERIES_ID, TS, Y]].merge(fc, on=[SERIES_ID, TS], how="left")
    if merged["yhat"].isna().any():
        raise PomonaError("the forecaster returned no value for some test steps")
    return history, merged


def evaluate(bundle: ModelBundle, data: Data, cfg):
    m_len = data.extra["season_length"]
    per_fold, last = [], None
    for i, cutoff in enumerate(data.extra["cutoffs"]):
        is_last = i == len(data.extra["cutoffs"]) - 1
        history, merged = _fold(bundle, data, cutoff, is_last and _fitted_to(bundle, cutoff))
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
    figs = {"plots/forecasts.png": plots.forecasts(history, merged[[SERIES_ID, TS, Y]], merged,
                                                   "last fold")}
    imp = getattr(bundle.estimator, "feature_importances_", None)
    if isinstance(imp, pd.Series):
        figs["plots/feature_importance.png"] = plots.feature_importance(imp, "feature importance")
    return out, figs


def _fitted_to(bundle: ModelBundle, cutoff) -> bool:
    last = getattr(bundle.estimator, "last_timestamp_", None)
    if last is None:
        return False
    last = pd.Series(last).max() if not isinstance(last, pd.Timestamp) else last
    return pd.Timestamp(last).tz_localize("UTC") == cutoff if pd.Timestamp(last).tzinfo is None \
        else pd.Timestamp(last) == cutoff


def example(data: Data):
    test = data.part("test")
    first = test[SERIES_ID].iloc[0]
    return test.loc[test[SERIES_ID] == first, [SERIES_ID, TS, *data.extra["exog"]]].reset_index(drop=True), \
        {"horizon": data.extra["horizon"]}
