"""Fraud features: account velocity (pushed fresh at request time), merchant risk, and the
request's own transaction fields through one on-demand transform.

Timing contract (the same in training and serving):

* ``fraud_account_activity`` rows hold the account's state *after* a transaction, stamped
  at that transaction's time, and are pushed to the online store after each scored
  transaction through the ``fraud_account_push`` push source;
* a transaction is scored against the state *before* it: the training entity time is the
  transaction time minus one microsecond, and serving reads the online store before
  pushing;
* merchant fraud rates use labels only after a 7-day delay (chargebacks arrive late).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
from feast import Field, RequestSource
from feast.types import Float64

from features import base
from features.tables import daily_rollups, event_rollups, running_mode
from pomona.data.fraud import IS_FRAUD
from pomona.schemas import ACCOUNT_ID, MERCHANT_ID, TRANSACTION_ID, TS

WINDOWS = {"1h": pd.Timedelta(hours=1), "1d": pd.Timedelta(days=1), "7d": pd.Timedelta(days=7),
           "30d": pd.Timedelta(days=30)}
LABEL_DELAY = pd.Timedelta(days=7)
PRIOR_RATE, PRIOR_WEIGHT = 0.01, 20.0  # smoothing of merchant fraud rates
PUSH_SOURCE = "fraud_account_push"
TXN_TIME = "txn_unix"  # request field: the transaction's time in unix seconds
BEFORE_TRANSACTION = pd.Timedelta(microseconds=1)  # a transaction is scored on the state just before it
ACCOUNT_COLUMNS = ("txn_count_1h", "txn_amount_1h", "txn_count_1d", "txn_amount_1d", "txn_count_7d",
                   "txn_amount_7d", "txn_count_30d", "txn_amount_30d", "amount_mean_30d", "primary_device",
                   "home_country", "last_txn_unix")
ID_FIELDS = ("device_id", TXN_TIME)  # request fields used by transforms, not features themselves


def unix_seconds(ts: pd.Series) -> pd.Series:
    return (ts - pd.Timestamp(0, tz="UTC")).dt.total_seconds()


def account_state(tx: pd.DataFrame) -> pd.DataFrame:
    """The account's state after each transaction (``tx`` sorted by time, canonical columns)."""
    amount = "amount" if "amount" in tx.columns else None
    out = event_rollups(tx, ACCOUNT_ID, WINDOWS, amount)
    if amount:
        out["amount_mean_30d"] = out["txn_amount_30d"] / out["txn_count_30d"]
    order = np.lexsort((tx[TS].to_numpy(), tx[ACCOUNT_ID].to_numpy()))
    for col, name in (("device_id", "primary_device"), ("country", "home_country")):
        if col in tx.columns:
            values = np.empty(len(tx), dtype=tx[col].to_numpy().dtype)
            values[order] = running_mode(tx[ACCOUNT_ID].to_numpy()[order], tx[col].to_numpy()[order])
            out[name] = values
    out["last_txn_unix"] = unix_seconds(tx[TS]).to_numpy()
    return out


def transaction_features(inputs):
    """Request-time features: the transaction's own fields, and how they compare to the account.

    Python mode (dicts of lists): about 10x cheaper than pandas per online request. Feast
    stores this function's source in the registry and runs it from there, so it is
    self-contained: its imports and constants are inside.
    """
    import math

    account_columns = {"txn_count_1h", "txn_amount_1h", "txn_count_1d", "txn_amount_1d", "txn_count_7d",
                       "txn_amount_7d", "txn_count_30d", "txn_amount_30d", "amount_mean_30d", "primary_device",
                       "home_country", "last_txn_unix"}
    skip = account_columns | {"device_id", "txn_unix"}
    out = {k: list(v) for k, v in inputs.items() if k not in skip and not k.startswith("__")}

    def num(values):
        return [math.nan if v is None else float(v) for v in values]

    def known(v):
        return v is not None and v == v  # not None, not NaN

    if "txn_amount_30d" in inputs and "amount" in inputs:
        amount, mean = num(inputs["amount"]), num(inputs["amount_mean_30d"])
        out["log_amount"] = [math.log1p(max(a, 0.0)) if a == a else math.nan for a in amount]
        out["amount_to_mean_30d"] = [a / m if m == m and m > 0 and a == a else 1.0 for a, m in zip(amount, mean)]
        since = [t - last for t, last in zip(num(inputs["txn_unix"]), num(inputs["last_txn_unix"]))]
        out["secs_since_prev_txn"] = [max(x, 0.0) if x == x else 30 * 86400.0 for x in since]
    if "primary_device" in inputs and "device_id" in inputs:
        out["is_new_device"] = [float(known(p) and (not known(d) or float(d) != float(p)))
                                for d, p in zip(inputs["device_id"], inputs["primary_device"])]
    if "home_country" in inputs and "country" in inputs:
        out["is_foreign_country"] = [float(known(h) and str(c) != str(h))
                                     for c, h in zip(inputs["country"], inputs["home_country"])]
    return out


def _transactions(ctx: base.Context) -> pd.DataFrame:
    return ctx.table("transactions").sort_values(TS, kind="stable").reset_index(drop=True)


def derive(ctx: base.Context) -> None:
    """The account's state after each transaction (where there is more than one account) and
    the merchant's risk from labels known 7 days later (where there is more than one
    merchant); ``define`` declares a view for each table written."""
    tx = _transactions(ctx)
    if tx[ACCOUNT_ID].nunique() > 1:
        ctx.write("account_activity", account_state(tx))
    if tx[MERCHANT_ID].nunique() > 1:
        known = pd.DataFrame({MERCHANT_ID: tx[MERCHANT_ID], TS: tx[TS] + LABEL_DELAY,
                              "fraud": tx[IS_FRAUD].astype("float64")})
        risk = daily_rollups(known, MERCHANT_ID, {"merchant_txn": "", "merchant_fraud": "fraud"}, [30])
        risk["merchant_fraud_rate_30d"] = ((risk["merchant_fraud_30d"] + PRIOR_RATE * PRIOR_WEIGHT)
                                           / (risk["merchant_txn_30d"] + PRIOR_WEIGHT))
        ctx.write("merchant_risk", risk)


def define(ctx: base.Context) -> base.Definitions:
    info = ctx.manifest.tables["transactions"]
    tx_columns = ctx.data_columns("transactions")
    objects: list = [base.account, base.merchant]
    views: list = []
    sources: list = []
    request_cols = info.numeric_features + info.categorical_features
    per_account = ctx.derived("account_activity")

    if per_account:
        present = set(ctx.derived_columns("account_activity"))
        cols = [c for c in ACCOUNT_COLUMNS if c in present]
        batch = base.file_source("fraud_account_activity", ctx.derived_path("account_activity"))
        push = base.push_source(PUSH_SOURCE, batch)
        activity = base.view("fraud_account_activity", [base.account], push,
                             ctx.derived_fields("account_activity", cols),
                             timedelta(days=30), "The account's velocity after its latest transaction "
                             "(counts and amounts over 1h/1d/7d/30d, typical amount, usual device and country).")
        objects.append(push)
        views.append(activity)
        sources.append(activity)
        request_cols = request_cols + [TXN_TIME]

    if ctx.derived("merchant_risk"):
        cols = ["merchant_txn_30d", "merchant_fraud_rate_30d"]
        views.append(base.view("fraud_merchant_risk", [base.merchant],
                               base.file_source("fraud_merchant_risk", ctx.derived_path("merchant_risk")),
                               ctx.derived_fields("merchant_risk", cols), timedelta(days=60),
                               "The merchant's volume and smoothed fraud rate over 30 days of known labels "
                               "(labels arrive after 7 days)."))
        if ctx.has("merchants"):
            attrs = base.attribute_view(ctx, "merchants", base.merchant, "fraud_merchants", prefix="merchant_")
            if attrs is not None:
                views.append(attrs)

    # The transaction's own fields arrive with the request; the transform passes them
    # through and, with account state, derives the comparisons.
    request = RequestSource(name="fraud_request", schema=_request_fields(ctx, request_cols))
    out_names = [c for c in request_cols if c not in ID_FIELDS]
    out_fields = _request_fields(ctx, out_names)
    if per_account:
        derived = (["log_amount", "amount_to_mean_30d", "secs_since_prev_txn"] if "amount" in tx_columns else []) \
            + (["is_new_device"] if "device_id" in tx_columns else []) \
            + (["is_foreign_country"] if "country" in tx_columns else [])
        out_fields += [Field(name=n, dtype=Float64) for n in derived]
    transform = base.on_demand_view(transaction_features, name="fraud_transaction_features", mode="python",
                                    sources=sources + [request], schema=out_fields,
                                    description="The request's transaction fields and their comparison "
                                                "with the account's history.")
    objects.append(request)
    views.append(transform)
    svc = base.service("fraud", views, "Features of one payment transaction for fraud models.")
    return base.Definitions("fraud", objects + views + [svc], svc, lambda: entity_frame(ctx))


def _request_fields(ctx: base.Context, columns: list[str]) -> list[Field]:
    """Request fields typed as the transactions table's columns; the transaction time
    (:data:`TXN_TIME`) is unix seconds, a float."""
    typed = {f.name: f for f in ctx.data_fields("transactions", [c for c in columns if c != TXN_TIME])}
    return [Field(name=c, dtype=Float64) if c == TXN_TIME else typed[c] for c in columns]


def entity_frame(ctx: base.Context) -> pd.DataFrame:
    """Training entities: every transaction, its label and request fields, at the time just
    *before* it (so its own row of account state is not joined to it)."""
    info = ctx.manifest.tables["transactions"]
    tx = _transactions(ctx)
    request_cols = [c for c in info.numeric_features + info.categorical_features if c in tx.columns]
    frame = tx[[TRANSACTION_ID, ACCOUNT_ID, MERCHANT_ID, TS, IS_FRAUD] + request_cols].copy()
    if tx[ACCOUNT_ID].nunique() > 1:
        frame[TXN_TIME] = unix_seconds(tx[TS])
    frame[TS] = frame[TS] - BEFORE_TRANSACTION
    return frame


def entity_row(row: dict) -> dict:
    """The request fields a transaction row implies: its time in unix seconds."""
    return {TXN_TIME: float(pd.Timestamp(row[TS]).timestamp())}


def entity_time(row: dict) -> pd.Timestamp | None:
    """The time an online read for a request row is made at (``features.online_features``):
    just before its transaction, as the training entity time; ``None`` (now) without one."""
    unix = row.get(TXN_TIME)
    return None if unix is None else pd.Timestamp(unix, unit="s", tz="UTC") - BEFORE_TRANSACTION
