"""Recommendations features: user activity, product popularity, and the catalog's own columns."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from features import base
from features.tables import daily_rollups
from pomona.schemas import PRODUCT_ID, TS, USER_ID, WEIGHT

WINDOWS = [7, 30]


def derive(ctx: base.Context) -> None:
    """Taste and activity of the user, popularity (and its recency) of the product: trailing
    event counts and weight sums over complete days, stamped at the next midnight."""
    interactions = ctx.table("interactions", columns=[USER_ID, PRODUCT_ID, TS, WEIGHT])
    ctx.write("user_activity",
              daily_rollups(interactions, USER_ID, {"user_events": "", "user_weight": WEIGHT}, WINDOWS))
    ctx.write("product_popularity",
              daily_rollups(interactions, PRODUCT_ID, {"product_events": "", "product_weight": WEIGHT}, WINDOWS))


def define(ctx: base.Context) -> base.Definitions:
    user_activity = base.view("recommendations_user_activity", [base.user],
                              base.file_source("recommendations_user_activity", ctx.derived_path("user_activity")),
                              _fields(ctx, "user_activity"), timedelta(days=30),
                              "The user's events and weight over the last 7 and 30 complete days.")
    popularity = base.view("recommendations_product_popularity", [base.product],
                           base.file_source("recommendations_product_popularity",
                                            ctx.derived_path("product_popularity")),
                           _fields(ctx, "product_popularity"), timedelta(days=30),
                           "The product's events and weight over the last 7 and 30 complete days.")
    views = [user_activity, popularity]
    for table, entity in (("users", base.user), ("products", base.product)):
        if ctx.has(table):
            attrs = base.attribute_view(ctx, table, entity, f"recommendations_{table}")
            if attrs is not None:
                views.append(attrs)
    svc = base.service("recommendations", views, "Features of a (user, product) pair for recommendation models.")
    return base.Definitions("recommendations", [base.user, base.product, *views, svc], svc, lambda: entity_frame(ctx))


def _fields(ctx: base.Context, table: str) -> list:
    """Every aggregate column of a derived table (all but the keys and the time)."""
    return ctx.derived_fields(table, ctx.derived_columns(table, exclude=(USER_ID, PRODUCT_ID, TS)))


def entity_frame(ctx: base.Context) -> pd.DataFrame:
    """Training entities: every interaction (keys, time, label), in the dataset's order."""
    return ctx.table("interactions", columns=[USER_ID, PRODUCT_ID, TS, WEIGHT])
