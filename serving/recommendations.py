"""POST /recommend: the champion's top ``k`` products for a user, past interactions excluded.

The recommenders are collaborative (EASE, BPR, popularity): their state is the interaction
matrix they were fit on, so the request's ``user_id`` is all they need and no online feature
is read. An unknown user gets the most popular products and ``cold_start: true``.
"""

from __future__ import annotations

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from models.scoring import score
from pomona.schemas import PRODUCT_ID, USER_ID
from pomona.workspace import Workspace
from serving import runtime

MAX_K = 100


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: int
    k: int = Field(10, ge=1, le=MAX_K)


class Item(BaseModel):
    product_id: int
    score: float


class RecommendResponse(BaseModel):
    items: list[Item]
    model_version: str
    cold_start: bool


def handle(request: RecommendRequest, champion: runtime.Champion, ws: Workspace) -> RecommendResponse:
    m = champion.current
    recs = score(m.bundle, pd.DataFrame({USER_ID: [request.user_id]}), k=request.k)
    recs = recs.sort_values("rank", kind="stable")
    cold = bool(recs["cold_start"].any()) if len(recs) else True
    items = [Item(product_id=int(p), score=float(s)) for p, s in zip(recs[PRODUCT_ID], recs["score"])]
    return RecommendResponse(items=items, model_version=m.version, cold_start=cold)
