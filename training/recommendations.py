"""Recommendations training: a reproducible per-user split (Microsoft Recommenders' protocol)."""

from __future__ import annotations

import numpy as np
from pydantic import Field

import features
from models.scoring import ModelBundle, score
from pomona.errors import PomonaError
from pomona.schemas import PRODUCT_ID, USER_ID, WEIGHT
from training import metrics, plots, splits
from training.common import Data, require_rows
from training.config import TrainConfig


class Config(TrainConfig):
    """The generic config plus the length of the served list."""

    k: int = Field(10, ge=1, le=1000)


PRIMARY = "ndcg_at_10"
LABEL = WEIGHT
EVAL_K = 10  # metrics are reported at 10 (ndcg_at_10, ...) whatever list length is served
CUTOFFS = (1, 3, 5, 10, 20)


def prepare(ws, cfg, manifest) -> Data:
    # Keep the dataset's own row order (the per-user split draws one number per row in it).
    entities = features.entity_frame("recommendations", ws)
    entities["_row"] = np.arange(len(entities))
    frame = require_rows(features.training_frame("recommendations", entities, ws=ws), "recommendations")
    frame = frame.sort_values("_row").drop(columns="_row").reset_index(drop=True)
    kind = splits.resolve(cfg.split.kind, "per_user")
    if kind == "per_user":
        masks = splits.per_user(frame[USER_ID], cfg.split.test_fraction, cfg.split.seed)
    elif kind == "temporal":
        masks = splits.temporal(frame["event_timestamp"], cfg.split.test_fraction, cfg.split.validation_fraction,
                                cfg.split.test_start)
    else:
        raise PomonaError(f"recommendations support a per_user or temporal split, not {kind!r}")
    masks.check("recommendations")
    return Data(frame, masks, LABEL, f"{kind} ({cfg.split.test_fraction:.0%} held out, seed {cfg.split.seed})",
                extra={"n_items": int(frame[PRODUCT_ID].nunique())})


def fit(estimator, data: Data, cfg):
    estimator.fit(data.part("train")[[USER_ID, PRODUCT_ID, WEIGHT]])
    return estimator, {"k": cfg.k}


def relevant_items(data: Data) -> dict[int, set[int]]:
    test = data.part("test")
    return {int(u): set(map(int, g)) for u, g in test.groupby(USER_ID)[PRODUCT_ID]}


def evaluate(bundle: ModelBundle, data: Data, cfg):
    relevant = relevant_items(data)
    users = data.part("test")[[USER_ID]].drop_duplicates()
    recs = score(bundle, users, k=max(CUTOFFS))
    ordered = recs.sort_values([USER_ID, "rank"])
    full = {int(u): list(map(int, g)) for u, g in ordered.groupby(USER_ID)[PRODUCT_ID]}
    top_k = {u: items[:EVAL_K] for u, items in full.items()}
    m = metrics.recommendation_metrics(top_k, relevant, k=EVAL_K, n_items=data.extra["n_items"])
    curve = metrics.ndcg_by_cutoff_recs(full, relevant, cutoffs=CUTOFFS)
    return m, {"plots/ndcg_by_cutoff.png": plots.ndcg_by_cutoff(curve, "NDCG by cut-off (held-out items)")}


def example(data: Data):
    return data.part("test")[[USER_ID]].drop_duplicates().head(3).reset_index(drop=True), {"k": 10}
