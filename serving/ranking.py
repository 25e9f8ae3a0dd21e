"""POST /rank: score a query's candidate products with the champion, best first.

Features come from the online store through the ranking FeatureService: product quality and
engagement, plus the query-title match computed by the on-demand view from the request's
``query`` (the transform training used). ``user_id`` is accepted for clients that send it;
the ranking FeatureService has no user features, so it does not change the order. Products
the store has never seen score on default (missing) features and set ``cold_start``.
"""

from __future__ import annotations

import functools
from typing import Optional

import lightgbm as lgb
import numpy as np
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


def single_threaded(*boosters) -> None:
    """Make each LightGBM booster predict on one thread (results unchanged).

    A request scores one to a few hundred rows: on the 2 shared cores serving runs on, OpenMP's
    thread team costs far more than it saves (a 100-row predict: 4-8 ms with the default team
    under load, ~0.1 ms on one thread), and concurrent requests already use the cores. Applied
    to the serving process's own copy of a model version, in ``prepare``."""
    for booster in boosters:
        if isinstance(booster, lgb.Booster) and "predict" not in vars(booster):
            booster.predict = functools.partial(lgb.Booster.predict, booster, num_threads=1)


def prepare(bundle, ws: Workspace) -> dict:
    single_threaded(getattr(bundle.estimator, "booster_", None))
    return {}


def handle(request: BaseModel, champion: runtime.Champion, ws: Workspace) -> RankResponse:
    m = champion.current
    shared = request.model_dump(exclude={"product_ids", "user_id"})
    rows = [{PRODUCT_ID: p, **shared} for p in request.product_ids]
    frame = runtime.online(lambda: features.online_features("ranking", rows, ws))
    for col, value in shared.items():
        if col not in frame.columns:
            frame[col] = value
    scores = score(m.bundle, frame)["score"].to_numpy()
    probe = [c for c in PROBE if c in frame.columns] or [c for c in frame.columns if c not in rows[0]]
    cold = bool(probe) and bool(frame[probe].isna().all(axis=1).any())
    order = np.argsort(-scores, kind="stable")
    results = [Result(product_id=request.product_ids[i], score=float(scores[i])) for i in order]
    return RankResponse(results=results, model_version=m.version, cold_start=cold)
