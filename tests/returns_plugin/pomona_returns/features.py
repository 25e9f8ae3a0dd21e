"""Feast definitions: the user's past returns (known 14 days after the order) and the order's
price, sent with the request."""

from datetime import timedelta

import pandas as pd
from feast import Field, RequestSource
from feast.types import Float64

from features import base
from features.tables import daily_rollups
from pomona.schemas import TS, USER_ID

LABEL_DELAY = pd.Timedelta(days=14)  # a return is known two weeks after the order


def derive(ctx: base.Context) -> None:
    orders = ctx.table("orders", columns=[USER_ID, TS, "returned"])
    known = orders.assign(**{TS: orders[TS] + LABEL_DELAY})
    history = daily_rollups(known, USER_ID, {"user_orders": "", "user_returns": "returned"}, [90])
    history["user_return_rate_90d"] = (history["user_returns_90d"] + 1.0) / (history["user_orders_90d"] + 5.0)
    ctx.write("user_history", history)


def order_features(inputs):
    """The request's price and its log (self-contained: Feast runs it from its source)."""
    import math

    price = [float("nan") if p is None else float(p) for p in inputs["price"]]
    return {"price": price, "log_price": [math.log1p(max(p, 0.0)) if p == p else float("nan") for p in price]}


def define(ctx: base.Context) -> base.Definitions:
    history = base.view("returns_user_history", [base.user],
                        base.file_source("returns_user_history", ctx.derived_path("user_history")),
                        ctx.derived_fields("user_history", ctx.derived_columns("user_history", (USER_ID, TS))),
                        timedelta(days=120), "The user's orders and returns over 90 days of known outcomes.")
    request = RequestSource(name="returns_request", schema=[Field(name="price", dtype=Float64)])
    order = base.on_demand_view(order_features, name="returns_order", sources=[request], mode="python",
                                schema=[Field(name="price", dtype=Float64), Field(name="log_price", dtype=Float64)],
                                description="The order's own price.")
    svc = base.service("returns", [history, order], "Features of one order for return models.")
    return base.Definitions("returns", [base.user, history, request, order, svc], svc, lambda: entity_frame(ctx))


def entity_frame(ctx: base.Context) -> pd.DataFrame:
    """Every order with its label and request field."""
    return ctx.table("orders", columns=["order_id", USER_ID, TS, "price", "returned"])
