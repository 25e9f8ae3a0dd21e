"""POST /recommend: the champion's top ``k`` products for a user, past interactions excluded.

The recommenders are collaborative (EASE, BPR, popularity): their state is the interaction
matrix they were fit on, so the request's ``user_id`` is all they need and no online feature
is read. An unknown user gets the most popular products and ``cold_start: true``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from models.scoring import score
from pomona.schemas import PRODUCT_ID, USER_ID
from pomona.workspace import Workspace
from serving import runtime
from serving.batch.scorers import ROW, Scorer, check_names
from serving.schema import RequestSpec
from serving.schema import request_model as derived

MAX_K = 100


class RecommendRequest(BaseModel):
    """``k`` plus the FeatureService's user key (``user_id``), derived by :func:`request_model`."""

    model_config = ConfigDict(extra="forbid")
    k: int = Field(10, ge=1, le=MAX_K)


REQUEST = RequestSpec("recommendations", "RecommendRequest", RecommendRequest,
                      fallback={USER_ID: "Int64", PRODUCT_ID: "Int64"}, skip=(PRODUCT_ID,),
                      required=lambda schema: tuple(c for c in schema if c != PRODUCT_ID))


def request_model(ws: Workspace) -> type[BaseModel]:
    return derived(REQUEST, ws)


class Item(BaseModel):
    product_id: int
    score: float


class RecommendResponse(BaseModel):
    items: list[Item]
    model_version: str
    cold_start: bool


ROUTE = "recommend"
Response = RecommendResponse


def handle(request: BaseModel, champion: runtime.Champion, ws: Workspace) -> RecommendResponse:
    m = champion.current
    recs = score(m.bundle, pd.DataFrame({USER_ID: [getattr(request, USER_ID)]}), k=request.k)
    recs = recs.sort_values("rank", kind="stable")
    cold = bool(recs["cold_start"].any()) if len(recs) else True
    items = [Item(product_id=int(p), score=float(s)) for p, s in zip(recs[PRODUCT_ID], recs["score"])]
    return RecommendResponse(items=items, model_version=m.version, cold_start=cold)


def sample_request(base: dict[str, Any], rows: pd.DataFrame) -> dict[str, Any]:
    return {**base, "k": 3}


class BatchScorer(Scorer):
    """``user_id`` rows (a timestamp is optional and carried through) get the model's top ``k``
    products, one output row per (input row, product) with ``rank``. The recommender scores
    from its own fitted state, so no features are joined."""

    @classmethod
    def build(cls, use_case, model, ws) -> BatchScorer:
        return cls(use_case, model, ws, {USER_ID: "Int64"}, {USER_ID}, [USER_ID])

    def score_rows(self, chunk: pd.DataFrame, timings: dict) -> pd.DataFrame:
        """One output row per (input row, recommended product), in input order then rank."""
        t = time.perf_counter()
        recs = self.predict(chunk[[USER_ID]])
        timings["score"] += time.perf_counter() - t
        check_names(chunk, [c for c in recs.columns if c != USER_ID])
        left = chunk.assign(**{ROW: np.arange(len(chunk))})
        out = left.merge(recs, on=USER_ID, how="left", validate="many_to_many")
        return out.sort_values([ROW, "rank"], kind="stable").drop(columns=ROW).reset_index(drop=True)
