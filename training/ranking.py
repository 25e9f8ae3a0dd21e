"""Ranking training: the dataset's own split (later searches, or LETOR's rank.test)."""

from __future__ import annotations

import pandas as pd

import features
from models.scoring import ModelBundle, score
from pomona.errors import PomonaError
from pomona.schemas import PRODUCT_ID, QUERY_ID, RELEVANCE, TS
from training import metrics, plots, splits
from training.common import Data, model_input, require_rows

PRIMARY = "ndcg_at_10"
LABEL = RELEVANCE


def prepare(ws, cfg, manifest) -> Data:
    frame = require_rows(features.training_frame("ranking", ws=ws), "ranking")
    frame = frame.drop(columns=[c for c in cfg.exclude_features if c in frame.columns])
    frame = frame.sort_values([QUERY_ID, TS, PRODUCT_ID], kind="stable").reset_index(drop=True)
    kind = splits.resolve(cfg.split.kind, "official")
    if kind == "official":
        masks = splits.official(frame["split"])
    elif kind == "temporal":
        masks = splits.temporal(frame[TS], cfg.split.test_fraction, cfg.split.validation_fraction, cfg.split.test_start)
    else:
        raise PomonaError(f"ranking supports the official or a temporal split, not {kind!r}")
    masks.check("ranking")
    if frame.loc[masks.train, LABEL].nunique() < 2:
        raise PomonaError("the ranking training window has a single relevance grade; nothing to learn")
    return Data(frame, masks, LABEL, kind)


def fit(estimator, data: Data, cfg):
    train = data.part("train")
    estimator.fit(model_input(train, LABEL), train[LABEL].to_numpy())
    return estimator, {}


def evaluate(bundle: ModelBundle, data: Data, cfg):
    test = data.part("test")
    s = score(bundle, model_input(test, LABEL))["score"].to_numpy()
    q, rel = test[QUERY_ID].to_numpy(), test[LABEL].to_numpy()
    m = metrics.relevance_metrics(q, rel, s)
    figs = {"plots/ndcg_by_cutoff.png": plots.ndcg_by_cutoff(metrics.ndcg_by_cutoff(q, rel, s), "NDCG by cut-off (test)")}
    imp = getattr(bundle.estimator, "feature_importances_", None)
    if isinstance(imp, pd.Series):
        figs["plots/feature_importance.png"] = plots.feature_importance(imp, "feature importance")
    return m, figs


def example(data: Data):
    test = data.part("test")
    first = test[QUERY_ID].iloc[0]
    return model_input(test[test[QUERY_ID] == first], LABEL), None
