"""POST /score_transaction: score one payment against the account's live velocity, then push
the account's new state so that the next transaction sees it (features/fraud.py's timing
contract: score against the state *before* the transaction, push the state *after* it)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Optional

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, create_model

import features
from features.fraud import BEFORE_TRANSACTION, PUSH_SOURCE, TXN_TIME
from models.scoring import score
from pomona.errors import PomonaError
from pomona.schemas import ACCOUNT_ID, MERCHANT_ID, TRANSACTION_ID, TS
from pomona.workspace import Workspace
from serving import runtime
from serving.batch.scorers import RowScorer
from serving.fraud_state import account_log
from serving.schema import RequestSpec
from serving.schema import request_model as derived

# Account features that are all missing when the store has never seen the account, or saw it
# longer ago than the view's TTL before this transaction (a dormant account: features.online_features
# reads at the transaction's time and drops expired values, as the offline point-in-time join does).
ACCOUNT_PROBE = ("txn_count_30d", "last_txn_unix")


class TransactionRequest(BaseModel):
    """One payment to score: its id, its time (ISO 8601 or unix seconds; naive times are UTC)
    and, derived by :func:`request_model`, the FeatureService's keys and request fields
    (``account_id``, ``merchant_id``, ``amount``, ``device_id``... on the synthetic marketplace;
    an imported dataset's own feature values, sent as they are). ``timestamp`` is required where
    the account's velocity is kept (the push source); elsewhere it is optional."""

    model_config = ConfigDict(extra="forbid")
    transaction_id: int
    timestamp: Optional[datetime] = None


class FraudResponse(BaseModel):
    fraud_probability: float
    decision: Literal["approve", "review", "decline"]
    threshold: float
    model_version: str
    cold_start: bool


def _timed(model: type[BaseModel], schema: dict[str, str], ws: Workspace) -> type[BaseModel]:
    if TXN_TIME not in schema:
        return model
    return create_model(model.__name__, __base__=model, timestamp=(datetime, ...))


REQUEST = RequestSpec(
    "fraud", "TransactionRequest", TransactionRequest,
    fallback={ACCOUNT_ID: "Int64", MERCHANT_ID: "Int64", "amount": "Float64", "device_id": "Int64",
              "country": "String", "channel": "String", TXN_TIME: "Float64"},
    skip=(TXN_TIME,), required=lambda schema: tuple(c for c in (ACCOUNT_ID, MERCHANT_ID, "amount") if c in schema),
    rules={"amount": Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)],
           "country": Annotated[str, Field(max_length=64)], "channel": Annotated[str, Field(max_length=64)]},
    extend=_timed)


def request_model(ws: Workspace) -> type[BaseModel]:
    return derived(REQUEST, ws)


ROUTE = "score_transaction"
Response = FraudResponse
READS_ONLINE_STORE = True  # where it keeps account state; a SageMaker endpoint needs a reachable store
PACKAGE_DATA = True  # a SageMaker model carries the transactions that seed the account log


def prepare(bundle, ws: Workspace) -> dict:
    """Warm the account log (reads the offline transactions once per process); predict on
    one thread (see :func:`serving.ranking.single_threaded`)."""
    runtime.single_threaded(getattr(bundle.estimator, "booster_", None))
    if ACCOUNT_ID not in features.request_schema("fraud", ws):  # features sent as they are: no state
        return {}
    try:
        account_log(ws)
    except (PomonaError, OSError) as exc:
        raise PomonaError(f"cannot read the fraud transactions for velocity updates: {exc}") from None
    return {}


def handle(request: BaseModel, champion: runtime.Champion, ws: Workspace) -> FraudResponse:
    return handle_many([request], champion, ws)[0]


def handle_many(requests: list[BaseModel], champion: runtime.Champion, ws: Workspace) -> list[FraudResponse]:
    """Score transactions in arrival order, each against its account's state before it and
    pushing the state after it. Transactions of distinct accounts share one online read and one
    model call (the adaptive-batching endpoint's path; a single request is a batch of one); a
    second transaction of an account already in the batch waits for the next round, so it is
    read after the first one's push, as it would be if it came alone."""
    out: dict[int, FraudResponse] = {}
    pending = list(enumerate(requests))
    while pending:
        seen, now, later = set(), [], []
        for i, r in pending:
            account = getattr(r, ACCOUNT_ID, None)
            (later if account is not None and account in seen else now).append((i, r))
            seen.add(account)
        for (i, _), resp in zip(now, _score(champion.current, [r for _, r in now], ws)):
            out[i] = resp
        pending = later
    return [out[i] for i in range(len(requests))]


def _score(m: runtime.Loaded, requests: list[BaseModel], ws: Workspace) -> list[FraudResponse]:
    stateful = hasattr(requests[0], ACCOUNT_ID)
    stamps, rows = [], []
    for r in requests:
        ts = pd.Timestamp(r.timestamp if r.timestamp is not None else pd.Timestamp.now("UTC"))
        stamps.append(ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC"))
        fields = r.model_dump(exclude={"timestamp", TRANSACTION_ID})
        rows.append({**fields, TXN_TIME: stamps[-1].timestamp()} if stateful else fields)
    vec = runtime.online(lambda: features.online_features("fraud", rows, ws))
    probe = [c for c in ACCOUNT_PROBE if c in vec.columns]
    cold = (vec[probe].isna().all(axis=1).to_numpy() if stateful and len(probe) == len(ACCOUNT_PROBE)
            else [False] * len(rows))
    extra = {k: [row[k] for row in rows] for k in rows[0] if k not in vec.columns}
    extra[TRANSACTION_ID] = [r.transaction_id for r in requests]
    extra[TS] = [ts - pd.Timedelta(microseconds=1) for ts in stamps]  # the state before it, as in training
    scored = score(m.bundle, vec.assign(**extra))
    if stateful:
        for r, ts in zip(requests, stamps):
            _push(r, ts, ws)
    return [FraudResponse(fraud_probability=float(p), decision=str(d), threshold=float(t),
                          model_version=m.version, cold_start=bool(c))
            for p, d, t, c in zip(scored["fraud_probability"], scored["decision"], scored["threshold"], cold)]


def _push(request: BaseModel, ts: pd.Timestamp, ws: Workspace) -> None:
    """Push the account's state after this transaction through the fraud push source."""
    state = account_log(ws).record(request.account_id, ts, request.amount, getattr(request, "device_id", None),
                                   getattr(request, "country", None))
    runtime.online(lambda: features.push(PUSH_SOURCE, state, ws))


def sample_request(base: dict[str, Any], rows: pd.DataFrame) -> dict[str, Any]:
    """A valid request from the model's input example: its first transaction at its own time."""
    out = dict(base)
    if TS in rows.columns:  # the transaction's own time
        out["timestamp"] = (pd.Timestamp(rows[TS].iloc[0]) + BEFORE_TRANSACTION).isoformat()
    out.setdefault(TRANSACTION_ID, 1)
    return out


class BatchScorer(RowScorer):
    """Rows are transactions (``transaction_id, account_id, merchant_id, event_timestamp,
    amount, ...``), each scored against the account's state *before* it, as in training
    (``features/fraud.py``: the entity time is the transaction time minus 1 microsecond) and
    online (the service reads the online store before it pushes the transaction); ``txn_unix``
    is derived from ``event_timestamp`` when absent."""

    before_event = BEFORE_TRANSACTION
    derived = {TXN_TIME: lambda chunk: (chunk[TS] - pd.Timestamp(0, tz="UTC")).dt.total_seconds()}


__all__ = ["FraudResponse", "TransactionRequest", "handle", "prepare", "request_model", "ACCOUNT_ID", "MERCHANT_ID"]
