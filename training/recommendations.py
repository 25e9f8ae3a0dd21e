"""Recommendations training: a reproducible per-user split (Microsoft Recommenders' protocol),
validation carved out of each user's training rows the same way."""

from __future__ import annotations

import numpy as np
import pandas as pd
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
BASELINE = "most_popular"  # scored on the test part next to the chosen model
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
        masks = splits.per_user(frame[USER_ID], cfg.split.test_fraction, cfg.split.validation_fraction,
                                cfg.split.seed)
    elif kind == "temporal":
        masks = splits.temporal(frame["event_timestamp"], cfg.split.test_fraction, cfg.split.validation_fraction,
                                cfg.split.test_start)
    else:
        raise PomonaError(f"recommendations support a per_user or temporal split, not {kind!r}")
    masks.check("recommendations")
    return Data(frame, masks, LABEL, f"{kind} ({cfg.split.test_fraction:.0%} held out, seed {cfg.split.seed}; "
                                     f"validation {cfg.split.validation_fraction:.0%} of the rest)",
                extra={"n_items": int(frame[PRODUCT_ID].nunique())})


def fit(estimator, data: Data, cfg, until: str | None = "valid", params: dict | None = None):
    """Fit on the interactions before ``until``; a model never recommends what it was fit on,
    so the refit on everything excludes every item of the user's whole history."""
    estimator.fit(data.upto(until)[[USER_ID, PRODUCT_ID, WEIGHT]])
    return estimator, {"k": cfg.k}


def relevant_items(data: Data, part: str = "test") -> dict[int, set[int]]:
    rows = data.part(part)
    return {int(u): set(map(int, g)) for u, g in rows.groupby(USER_ID)[PRODUCT_ID]}


def _lists(bundle: ModelBundle, data: Data, part: str) -> dict[int, list[int]]:
    users = data.part(part)[[USER_ID]].drop_duplicates()
    ordered = score(bundle, users, k=max(CUTOFFS)).sort_values([USER_ID, "rank"])
    return {int(u): list(map(int, g)) for u, g in ordered.groupby(USER_ID)[PRODUCT_ID]}


def units(bundle: ModelBundle, data: Data, cfg, part: str) -> pd.DataFrame:
    """NDCG@10 of each user of ``part`` (sorted by user; the mean is the primary metric)."""
    users, scores = metrics.user_scores(_lists(bundle, data, part), relevant_items(data, part), EVAL_K)
    return pd.DataFrame({USER_ID: users, PRIMARY: scores[:, 2]})


def evaluate(bundle: ModelBundle, data: Data, cfg, part: str = "test"):
    relevant = relevant_items(data, part)
    full = _lists(bundle, data, part)
    top_k = {u: items[:EVAL_K] for u, items in full.items()}
    m = metrics.recommendation_metrics(top_k, relevant, k=EVAL_K, n_items=data.extra["n_items"])
    if part != "test":
        return m, {}
    curve = metrics.ndcg_by_cutoff_recs(full, relevant, cutoffs=CUTOFFS)
    return m, {"plots/ndcg_by_cutoff.png": plots.ndcg_by_cutoff(curve, "NDCG by cut-off (held-out items)")}


def example(data: Data):
    return data.part("test")[[USER_ID]].drop_duplicates().head(3).reset_index(drop=True), {"k": 10}
