"""TTLs hold online: a fraud account dormant for longer than its velocity view's TTL reads as
missing online, as it does offline, and the fraud handler calls it ``cold_start`` (Feast's own
online read ignores TTLs, feast-dev/feast#6821)."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import assert_same_values, small_world

import features
from features.fraud import ACCOUNT_COLUMNS, BEFORE_TRANSACTION
from features.store import reset_cache
from models.fraud import LogisticFraud
from models.scoring import ModelBundle
from pomona.data.fraud import IS_FRAUD
from pomona.data.writer import load_table
from pomona.errors import PomonaError
from pomona.schemas import ACCOUNT_ID, TS
from serving import fraud as handler
from serving import runtime


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A small world with the fraud features applied and materialized, and a fraud champion
    (a logistic model fit on a sample of the training frame) that always answers."""
    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("ttl") / "home"
    mp.setenv("POMONA_HOME", str(home))
    ws = small_world(home, ["fraud"])
    features.materialize(ws, use_cases=["fraud"])
    frame = features.training_frame("fraud", features.entity_frame("fraud", ws).sample(3000, random_state=0), ws)
    est = LogisticFraud().fit(frame, frame[IS_FRAUD])
    bundle = ModelBundle("fraud", est, "fraud_v1", features.fingerprint(features.feature_store(ws), "fraud"),
                         "synthetic", {"threshold": 0.5, "review_threshold": 0.3})
    yield ws, runtime.Champion.fixed(runtime.Loaded("fraud", "1", bundle), ws)
    reset_cache()
    mp.undo()


def last_transactions(ws) -> pd.DataFrame:
    """Each account's latest transaction, latest first."""
    tx = load_table(ws, "fraud").sort_values(TS)
    return tx.groupby(ACCOUNT_ID).tail(1).sort_values(TS, ascending=False).reset_index(drop=True)


def request(row: pd.Series, when: pd.Timestamp, transaction_id: int) -> dict:
    return {"transaction_id": transaction_id, "account_id": int(row[ACCOUNT_ID]), "merchant_id": int(row["merchant_id"]),
            "amount": 20.0, "timestamp": when.isoformat(), "device_id": int(row["device_id"]),
            "country": row["country"], "channel": "web"}


def entity(req: dict) -> dict:
    return {k: v for k, v in req.items() if k not in ("transaction_id", "timestamp")}


def test_a_dormant_account_is_cold_online_as_offline(world):
    ws, champion = world
    last = last_transactions(ws)
    dormant, active = last.iloc[0], last.iloc[1]
    model = handler.request_model(ws)
    # 40 days after its latest transaction the account's 30-day state has expired; one day after
    # it, it has not. Both states are in the online store (materialized: fresh at the data's end).
    late = pd.Timestamp(dormant[TS]) + pd.Timedelta(days=40)
    soon = pd.Timestamp(active[TS]) + pd.Timedelta(days=1)
    rows = [{**entity(request(dormant, late, 1)), "txn_unix": late.timestamp()},
            {**entity(request(active, soon, 2)), "txn_unix": soon.timestamp()}]
    offline = features.training_frame("fraud", pd.DataFrame(rows).assign(
        **{TS: [late - BEFORE_TRANSACTION, soon - BEFORE_TRANSACTION]}), ws)
    online = features.online_features("fraud", rows, ws)  # each read at its transaction's time
    offline, online = (f.set_index(ACCOUNT_ID).loc[[dormant[ACCOUNT_ID], active[ACCOUNT_ID]]] for f in (offline, online))
    for frame in (offline, online):
        assert frame[list(ACCOUNT_COLUMNS)].iloc[0].isna().all()
        assert frame[list(ACCOUNT_COLUMNS)].iloc[1].notna().all()
    for col in online.columns:  # not the merchant's: its latest row online is newer than `soon`
        if not col.startswith("merchant_"):
            assert_same_values(offline[col], online[col], col)
    assert features.online_features("fraud", rows[:1], ws, at=late - pd.Timedelta(days=20))[
        list(ACCOUNT_COLUMNS)].iloc[0].notna().all()

    answered = handler.handle(model.model_validate(request(dormant, late, 1)), champion, ws)
    assert answered.cold_start is True
    answered = handler.handle(model.model_validate(request(active, soon, 2)), champion, ws)
    assert answered.cold_start is False
    # The dormant account's transaction was pushed: its next one, a minute later, is warm again.
    answered = handler.handle(model.model_validate(request(dormant, late + pd.Timedelta(minutes=1), 3)),
                              champion, ws)
    assert answered.cold_start is False


def test_read_times(world):
    """``at`` is one time or one per row; by default a fraud row's own time (just before its
    transaction), else the store's clock: the end of the latest materialization for the
    embedded default (a replayed world), or the wall clock (``online_clock: now``)."""
    ws, _ = world
    from features import clock
    from features.store import _registry_stamp, _service, feature_store, use_case_module

    entity_time = use_case_module("fraud").entity_time
    rows = [{"txn_unix": 1_700_000_000.0}, {"txn_unix": None}]
    store = feature_store(ws)
    svc = _service(store, "fraud")
    materialized = clock.store_now(store, svc, ws, "", _registry_stamp(store))
    assert materialized < pd.Timestamp.now("UTC") - pd.Timedelta(days=30)  # the world is a replay of 2025
    own, fallback = clock.read_times(rows, None, entity_time, lambda: materialized)
    assert own == 1_700_000_000 * 1_000_000 - 1 and fallback == materialized.value // 1_000
    now = pd.Timestamp.now("UTC").value // 1_000
    assert abs(clock.read_times(rows[1:], None, entity_time, lambda: pd.Timestamp.now("UTC"))[0] - now) < 60_000_000
    naive = pd.Timestamp("2025-03-01")
    assert clock.read_times(rows, naive, entity_time, None) == [naive.tz_localize("UTC").value // 1_000] * 2
    assert clock.read_times(rows, [naive, "2025-03-02T00:00:00Z"], entity_time, None)[1] == \
        pd.Timestamp("2025-03-02", tz="UTC").value // 1_000
    with pytest.raises(PomonaError, match="1 times for 2 entity rows"):
        clock.read_times(rows, [naive], entity_time, None)
