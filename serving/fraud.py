"""POST /score_transaction: score one payment against the account's live velocity, then push
the account's new state so that the next transaction sees it (features/fraud.py's timing
contract: score against the state *before* the transaction, push the state *after* it)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Optional

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, create_model

import features
from features.fraud import PUSH_SOURCE, TXN_TIME
from models.scoring import score
from pomona.errors import PomonaError
from pomona.schemas import ACCOUNT_ID, MERCHANT_ID, TRANSACTION_ID, TS
from pomona.workspace import Workspace
from serving import runtime
from serving.fraud_state import account_log
from serving.ranking import single_threaded
from serving.schema import RequestSpec
from serving.schema import request_model as derived

# Account features that are all missing when the store has never seen the account.
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


def prepare(bundle, ws: Workspace) -> dict:
    """Warm the account log (reads the offline transactions once per process); predict on
    one thread (see :func:`serving.ranking.single_threaded`)."""
    single_threaded(getattr(bundle.estimator, "booster_", None))
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
    from feast.data_source import PushMode

    state = account_log(ws).record(request.account_id, ts, request.amount, getattr(request, "device_id", None),
                                   getattr(request, "country", None))
    store = features.feature_store(ws)
    views, precomputed = _push_targets(store)
    if precomputed or not views:  # Feast's own path (it also recomputes precomputed vectors / raises)
        df = pd.DataFrame([state])
        df[TS] = df[TS].astype("datetime64[us, UTC]")
        runtime.online(lambda: store.push(PUSH_SOURCE, df, to=PushMode.ONLINE))
        return
    provider = store._get_provider()
    _fast_commits(provider)
    runtime.online(lambda: [provider.online_write_batch(provider.repo_config, fv, _rows(fv, state), progress=None)
                            for fv in views])


def _rows(fv, state: dict) -> list[tuple]:
    """``state`` as the one row ``online_write_batch`` takes for ``fv``: what ``ingest_df``
    builds through a pyarrow table (~2 ms a push), built from the Python values directly
    with Feast's own value conversion (entity key in the view's join-key order, event time as
    naive UTC, no created time)."""
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
    from feast.type_map import python_values_to_proto_values

    def proto(field):
        return python_values_to_proto_values([state.get(field.name)], field.dtype.to_value_type())[0]

    keys = list(fv.entity_columns)
    key = EntityKeyProto(join_keys=[k.name for k in keys], entity_values=[proto(k) for k in keys])
    when = pd.Timestamp(state[TS]).tz_convert("UTC").tz_localize(None).to_pydatetime()
    return [(key, {f.name: proto(f) for f in fv.features}, when, None)]


def _fast_commits(provider) -> None:
    """On the SQLite online store, commit pushes in WAL mode with ``synchronous=NORMAL``: a
    commit then appends to the log instead of fsyncing the database and its rollback journal
    (~15-20 ms a push on this disk, which alone capped a worker near 60 fraud requests a
    second). Readers in other processes see each commit at once, as before; a commit survives
    a process crash, and only an OS crash or power loss can drop the latest pushes (which the
    account log, rebuilt from the offline data on restart, does not keep either)."""
    store = getattr(provider, "online_store", None)
    if type(store).__name__ != "SqliteOnlineStore" or getattr(store, "_pomona_wal", None) is store._conn:
        return
    conn = store._get_conn(provider.repo_config)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    store._pomona_wal = conn


_PUSH_TARGETS: dict[tuple, tuple[list, bool]] = {}


def _push_targets(store) -> tuple[list, bool]:
    """The feature views fed by the fraud push source, and whether a FeatureService
    precomputes vectors from any of them, resolved once per registry version.

    ``FeatureStore.push`` finds these on every call by deserialising every view and service
    from the registry (with typeguard checks: ~40-100 ms a request under load) and, since it
    refreshes the registry cache, also voids Feast's cache of the next online read's request
    context. The write itself is the same: ``online_write_batch`` per view with the rows that
    ``ingest_df`` (what ``push(to=ONLINE)`` ends in) would build (:func:`_rows`; a non-vector
    view, nothing to transform on write)."""
    key = (id(store), features.store._registry_stamp(store))
    if key not in _PUSH_TARGETS:
        views = store._fvs_for_push_source_or_raise(PUSH_SOURCE, True)
        names = {fv.name for fv in views}
        precomputed = any(getattr(svc, "precompute_online", False)
                          and any(p.name in names for p in svc.feature_view_projections)
                          for svc in store.registry.list_feature_services(store.project))
        vector = any(getattr(f, "vector_index", False) for fv in views for f in fv.features)
        if len(_PUSH_TARGETS) > 16:
            _PUSH_TARGETS.clear()
        _PUSH_TARGETS[key] = ([] if vector else list(views), precomputed)
    return _PUSH_TARGETS[key]


__all__ = ["FraudResponse", "TransactionRequest", "handle", "prepare", "request_model", "ACCOUNT_ID", "MERCHANT_ID"]
