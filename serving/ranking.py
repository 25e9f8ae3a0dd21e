"""POST /rank: score a query's candidate products with the champion, best first.

Features come from the online store through the ranking FeatureService: product quality and
engagement, plus the query-title match computed by the on-demand view from the request's
``query`` (the transform training used). ``user_id`` is accepted for clients that send it;
the ranking FeatureService has no user features, so it does not change the order. Products
the store has never seen score on default (missing) features and set ``cold_start``.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

import features
from models.scoring import score
from pomona.schemas import PRODUCT_ID
from pomona.workspace import Workspace
from serving import runtime
from serving.schema import RequestSpec
from serving.schema import request_model as derived

MAX_CANDIDATES = 1000
PROBE = ("ctr_30d", "impressions_30d", "price", "title")  # product features; all missing: unknown product


class RankRequest(BaseModel):
    """The candidates plus the FeatureService's other keys and request fields (``query`` on the
    synthetic marketplace, ``query_id`` for an imported learning-to-rank set), all required:
    they are what a candidate's features are looked up and computed with."""

    model_config = ConfigDict(extra="forbid")
    product_ids: list[int] = Field(min_length=1, max_length=MAX_CANDIDATES)
    user_id: Optional[int] = None


REQUEST = RequestSpec("ranking", "RankRequest", RankRequest, fallback={PRODUCT_ID: "Int64", "query": "String"},
                      skip=(PRODUCT_ID,), required=lambda schema: tuple(c for c in schema if c != PRODUCT_ID))


def request_model(ws: Workspace) -> type[BaseModel]:
    return derived(REQUEST, ws)


class Result(BaseModel):
    product_id: int
    score: float


class RankResponse(BaseModel):
    results: list[Result]
    model_version: str
    cold_start: bool


ROUTE = "rank"
Response = RankResponse
READS_ONLINE_STORE = True  # a SageMaker endpoint needs a reachable online store


def prepare(bundle, ws: Workspace) -> dict:
    runtime.single_threaded(getattr(bundle.estimator, "booster_", None))
    return {}


def handle(request: BaseModel, champion: runtime.Champion, ws: Workspace) -> RankResponse:
    return handle_many([request], champion, ws)[0]


def handle_many(requests: list[BaseModel], champion: runtime.Champion, ws: Workspace) -> list[RankResponse]:
    """Rank each request's candidates: one online read and one model call for all of them
    (the adaptive-batching endpoint's path; a single request is a batch of one)."""
    m = champion.current
    rows, spans = [], []
    for r in requests:
        shared = r.model_dump(exclude={"product_ids", "user_id"})
        spans.append((len(rows), len(rows) + len(r.product_ids)))
        rows += [{PRODUCT_ID: p, **shared} for p in r.product_ids]
    frame = runtime.online(lambda: features.online_features("ranking", rows, ws))
    for col in rows[0]:
        if col not in frame.columns:
            frame[col] = [row[col] for row in rows]
    scores = score(m.bundle, frame)["score"].to_numpy()
    probe = [c for c in PROBE if c in frame.columns] or [c for c in frame.columns if c not in rows[0]]
    unknown = frame[probe].isna().all(axis=1).to_numpy() if probe else np.zeros(len(frame), bool)
    out = []
    for r, (a, b) in zip(requests, spans):
        order = np.argsort(-scores[a:b], kind="stable")
        out.append(RankResponse(results=[Result(product_id=r.product_ids[i], score=float(scores[a + i])) for i in order],
                                model_version=m.version, cold_start=bool(unknown[a:b].any())))
    return out


def sample_request(base: dict[str, Any], rows: pd.DataFrame) -> dict[str, Any]:
    """A valid request from the first rows of the model's input example: their products."""
    base.pop(PRODUCT_ID, None)
    return {**base, "product_ids": [int(x) for x in rows[PRODUCT_ID].drop_duplicates().head(3)]}
