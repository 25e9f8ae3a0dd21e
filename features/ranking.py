"""Search ranking features: query-title match at request time, product quality and engagement.

The query text only exists at request time, so the match features are an on-demand
feature view over the request's ``query`` and the product's ``title``: training and
serving run the same transform.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
from feast import Field, RequestSource
from feast.types import Float64, String

from features import base
from features.tables import daily_rollups
from pomona.schemas import PRODUCT_ID, QUERY_ID, RELEVANCE, SPLIT, TS


def query_title_match(inputs):
    """Share of query words found in the title, Jaccard overlap, and an exact-phrase flag.

    Self-contained (Feast runs it from the registry's copy of its source).
    """
    import re

    import numpy as np
    import pandas as pd

    token = re.compile(r"[a-z0-9]+")
    overlap, jaccard, phrase = [], [], []
    for q, t in zip(inputs["query"].tolist(), inputs["title"].tolist()):
        qt, tt = set(token.findall(str(q).lower())), set(token.findall(str(t).lower()))
        common = len(qt & tt)
        overlap.append(common / len(qt) if qt else 0.0)
        jaccard.append(common / len(qt | tt) if qt or tt else 0.0)
        phrase.append(1.0 if q and str(q).lower() in str(t).lower() else 0.0)
    return pd.DataFrame({"query_title_overlap": np.asarray(overlap, dtype="float64"),
                         "query_title_jaccard": np.asarray(jaccard, dtype="float64"),
                         "query_title_phrase": np.asarray(phrase, dtype="float64")})


def derive(ctx: base.Context) -> None:
    """Engagement from past searches (where products are listed): impressions, clicks
    (relevance >= 1) and purchases (>= 3) over 30 complete days, and a smoothed CTR."""
    if not ctx.has("products"):
        return
    judgments = ctx.table("judgments", columns=[PRODUCT_ID, TS, RELEVANCE])
    events = judgments[[PRODUCT_ID, TS]].copy()
    events["clicked"] = (judgments[RELEVANCE] >= 1).astype("float64")
    events["bought"] = (judgments[RELEVANCE] >= 3).astype("float64")
    eng = daily_rollups(events, PRODUCT_ID, {"impressions": "", "clicks": "clicked", "purchases": "bought"}, [30])
    eng["ctr_30d"] = (eng["clicks_30d"] + 1.0) / (eng["impressions_30d"] + 10.0)  # smoothed
    ctx.write("product_engagement", eng)


def define(ctx: base.Context) -> base.Definitions:
    info = ctx.manifest.tables["judgments"]
    views: list = []
    objects: list = [base.query, base.product]

    # Per (query, document) features that come with the dataset (e.g. LETOR's f_1..f_300).
    if info.numeric_features or info.categorical_features:
        cols = info.numeric_features + info.categorical_features
        views.append(base.view("ranking_documents", [base.query, base.product],
                               base.file_source("ranking_documents", ctx.data_path("judgments")),
                               ctx.data_fields("judgments", cols), None,
                               "Per query-document features shipped with the dataset."))

    if ctx.has("products"):
        eng_cols = ["impressions_30d", "clicks_30d", "purchases_30d", "ctr_30d"]
        views.append(base.view("ranking_product_engagement", [base.product],
                               base.file_source("ranking_product_engagement", ctx.derived_path("product_engagement")),
                               ctx.derived_fields("product_engagement", eng_cols), timedelta(days=60),
                               "Search impressions, clicks and purchases of the product over 30 complete days."))
        attrs = base.attribute_view(ctx, "products", base.product, "ranking_products")
        if attrs is not None:
            views.append(attrs)
        if _has_query_match(ctx):
            titles = base.view("ranking_product_titles", [base.product],
                               base.file_source("ranking_product_titles", ctx.data_path("products")),
                               [Field(name="title", dtype=String)], None, "Product titles (text, input of the match transform).")
            request = RequestSource(name="ranking_request", schema=[Field(name="query", dtype=String)])
            match = base.on_demand_view(
                query_title_match, name="ranking_query_match", sources=[titles, request],
                schema=[Field(name=n, dtype=Float64) for n in ("query_title_overlap", "query_title_jaccard",
                                                               "query_title_phrase")],
                description="Request-time match of the query text against the product title.")
            objects += [titles, request]
            views.append(match)

    svc = base.service("ranking", views, "Features of a (query, product) pair for ranking models.")
    return base.Definitions("ranking", objects + views + [svc], svc, lambda: entity_frame(ctx))


def _has_query_match(ctx: base.Context) -> bool:
    """Query text in the judgments and titles in the products: the match transform applies."""
    return (ctx.has("products") and "title" in ctx.manifest.tables["products"].text_columns
            and "query" in ctx.data_columns("judgments"))


def entity_frame(ctx: base.Context) -> pd.DataFrame:
    """Training entities: every judged (query, product) with its grade and request fields."""
    keep = [QUERY_ID, PRODUCT_ID, TS, RELEVANCE, SPLIT] + (["query"] if _has_query_match(ctx) else [])
    return ctx.table("judgments", columns=keep)
