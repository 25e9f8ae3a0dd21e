"""POST /score_transaction: score one payment against the account's live velocity, then push
the account's new state so that the next transaction sees it (features/fraud.py's timing
contract: score against the state *before* the transaction, push the state *after* it)."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Literal, Optional

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

import features
from features.fraud import PUSH_SOURCE, TXN_TIME
from models.scoring import score
from pomona.errors import PomonaError
from pomona.schemas import ACCOUNT_ID, MERCHANT_ID, TRANSACTION_ID, TS
from pomona.workspace import Workspace
from serving import runtime
from serving.fraud_state import account_log
from serving.schema import Finite, derive_model

# Account features that are all missing when the store has never seen the account.
ACCOUNT_PROBE = ("txn_count_30d", "last_txn_unix")


class TransactionRequest(BaseModel):
    """One payment to score. ``timestamp``: ISO 8601 or unix seconds (naive times are UTC)."""

    model_config = ConfigDict(extra="forbid")
    transaction_id: int
    account_id: int
    merchant_id: int
    amount: Finite = Field(ge=0, le=1e9)
    timestamp: datetime
    device_id: Optional[int] = None
    country: Optional[str] = Field(None, max_length=64)
    channel: Optional[str] = Field(None, max_length=64)


class FraudResponse(BaseModel):
    fraud_probability: float
    decision: Literal["approve", "review", "decline"]
    threshold: float
    model_version: str
    cold_start: bool


@lru_cache(maxsize=4)
def _request_model(root: str, config: str) -> type[BaseModel]:
    ws = Workspace(__import__("pathlib").Path(root))
    try:
        schema = features.request_schema("fraud", ws)
    except Exception:  # no registry yet (e.g. importing the service to build docs): the base model
        return TransactionRequest
    return derive_model("TransactionRequest", schema, TransactionRequest, skip=(TXN_TIME,))


def request_model(ws: Workspace) -> type[BaseModel]:
    """The request model for the workspace's fraud dataset: the synthetic fields above plus any
    request field of the FeatureService (e.g. an imported dataset's own feature values)."""
    import os

    return _request_model(str(ws.root), os.environ.get("POMONA_CONFIG", ""))


def prepare(bundle, ws: Workspace) -> dict:
    """Warm the account log (reads the offline transactions once per process)."""
    try:
        account_log(ws)
    except (PomonaError, OSError) as exc:
        raise PomonaError(f"cannot read the fraud transactions for velocity updates: {exc}") from None
    return {}


def handle(request: BaseModel, champion: runtime.Champion, ws: Workspace) -> FraudResponse:
    m = champion.current
    ts = pd.Timestamp(request.timestamp)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    fields = request.model_dump(exclude={"timestamp", TRANSACTION_ID})
    row = {**fields, TXN_TIME: ts.timestamp()}
    vec = runtime.online(lambda: features.online_features("fraud", [row], ws))
    cold = all(c in vec.columns and pd.isna(vec[c].iloc[0]) for c in ACCOUNT_PROBE)
    frame = vec.assign(**{k: [v] for k, v in row.items() if k not in vec.columns})
    frame[TRANSACTION_ID] = request.transaction_id
    frame[TS] = ts - pd.Timedelta(microseconds=1)  # the state before the transaction, as in training
    out = score(m.bundle, frame).iloc[0]
    _push(request, ts, ws)
    return FraudResponse(fraud_probability=float(out["fraud_probability"]), decision=str(out["decision"]),
                         threshold=float(out["threshold"]), model_version=m.version, cold_start=cold)


def _push(request: BaseModel, ts: pd.Timestamp, ws: Workspace) -> None:
    """Push the account's state after this transaction through the fraud push source."""
    from feast.data_source import PushMode

    state = account_log(ws).record(request.account_id, ts, request.amount, getattr(request, "device_id", None),
                                   getattr(request, "country", None))
    df = pd.DataFrame([state])
    df[TS] = df[TS].astype("datetime64[us, UTC]")
    store = features.feature_store(ws)
    runtime.online(lambda: store.push(PUSH_SOURCE, df, to=PushMode.ONLINE))


__all__ = ["FraudResponse", "TransactionRequest", "handle", "prepare", "request_model", "ACCOUNT_ID", "MERCHANT_ID"]
