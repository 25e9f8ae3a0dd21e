"""Ranking training: the dataset's own test part (later searches, or LETOR's rank.test), with
validation carved out of its training part by whole queries (the latest ones where searches
carry a time, a seeded random share of them otherwise)."""

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
BASELINE = "strongest_feature"  # scored on the test part next to the chosen model


def prepare(ws, cfg, manifest) -> Data:
    frame = require_rows(features.training_frame("ranking", ws=ws), "ranking")
    frame = frame.drop(columns=[c for c in cfg.exclude_features if c in frame.columns])
    frame = frame.sort_values([QUERY_ID, TS, PRODUCT_ID], kind="stable").reset_index(drop=True)
    kind = splits.resolve(cfg.split.kind, "official")
    if kind == "official":
        before = splits.official(frame["split"])
        timed = TS in frame.columns and frame.loc[before, TS].nunique() > 1
        train, valid = splits.carve(before, frame[QUERY_ID], frame[TS] if timed else None,
                                    cfg.split.validation_fraction, cfg.split.seed)
        masks = splits.Masks(train=train, valid=valid, test=~before)
        how = "the latest" if timed else "a random"
        protocol = f"official test part; validation: {how} {cfg.split.validation_fraction:.0%} of training queries"
    elif kind == "temporal":
        masks = splits.temporal(frame[TS], cfg.split.test_fraction, cfg.split.validation_fraction, cfg.split.test_start)
        protocol = "temporal"
    else:
        raise PomonaError(f"ranking supports the official or a temporal split, not {kind!r}")
    masks.check("ranking")
    if frame.loc[masks.train, LABEL].nunique() < 2:
        raise PomonaError("the ranking training part has a single relevance grade; nothing to learn")
    return Data(frame, masks, LABEL, protocol)


def fit(estimator, data: Data, cfg, until: str | None = "valid", params: dict | None = None):
    rows = data.upto(until)
    estimator.fit(model_input(rows, LABEL), rows[LABEL].to_numpy())
    return estimator, dict(params or {})


def _scored(bundle: ModelBundle, data: Data, part: str):
    rows = data.part(part)
    s = score(bundle, model_input(rows, LABEL))["score"].to_numpy()
    return rows[QUERY_ID].to_numpy(), rows[LABEL].to_numpy(), s


def units(bundle: ModelBundle, data: Data, cfg, part: str) -> pd.DataFrame:
    """NDCG@10 of each query of ``part`` (sorted by query id; the mean is the primary metric)."""
    return metrics.ndcg_per_query(*_scored(bundle, data, part), k=10)


def evaluate(bundle: ModelBundle, data: Data, cfg, part: str = "test"):
    q, rel, s = _scored(bundle, data, part)
    m = metrics.relevance_metrics(q, rel, s)
    if part != "test":
        return m, {}
    figs = {"plots/ndcg_by_cutoff.png": plots.ndcg_by_cutoff(metrics.ndcg_by_cutoff(q, rel, s), "NDCG by cut-off (test)")}
    imp = getattr(bundle.estimator, "feature_importances_", None)
    if isinstance(imp, pd.Series):
        figs["plots/feature_importance.png"] = plots.feature_importance(imp, "feature importance")
    return m, figs


def example(data: Data):
    test = data.part("test")
    first = test[QUERY_ID].iloc[0]
    return model_input(test[test[QUERY_ID] == first], LABEL), None
