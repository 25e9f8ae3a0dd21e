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


def handle(request: BaseModel, champion: runtime.Champion, ws: Workspace) -> RecommendResponse:
    m = champion.current
    recs = score(m.bundle, pd.DataFrame({USER_ID: [getattr(request, USER_ID)]}), k=request.k)
    recs = recs.sort_values("rank", kind="stable")
    cold = bool(recs["cold_start"].any()) if len(recs) else True
    items = [Item(product_id=int(p), score=float(s)) for p, s in zip(recs[PRODUCT_ID], recs["score"])]
    return RecommendResponse(items=items, model_version=m.version, cold_start=cold)
