"""The synthetic world through the feature store: online equals offline for every use case,
and a push through the fraud push source is visible at the next online read."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import assert_same_values

import features
from features.fraud import PUSH_SOURCE, account_state
from pomona import schemas
from pomona.data.writer import load_table


@pytest.fixture(scope="module")
def world(module_world):
    return module_world, features.materialize(module_world)["spans"]


def entity_rows(ws, use_case: str, n: int = 5) -> pd.DataFrame:
    if use_case == "recommendations":
        df = load_table(ws, use_case, columns=[schemas.USER_ID, schemas.PRODUCT_ID])
    elif use_case == "ranking":
        df = load_table(ws, use_case, columns=[schemas.QUERY_ID, schemas.PRODUCT_ID, "query"])
    elif use_case == "fraud":
        df = load_table(ws, use_case, columns=[schemas.ACCOUNT_ID, schemas.MERCHANT_ID, "amount", "device_id",
                                               "country", "channel"])
        df["txn_unix"] = 1.8e9
    else:
        df = load_table(ws, use_case, columns=[schemas.SERIES_ID, schemas.STORE_ID])
    keys = [c for c in df.columns if c.endswith("_id")]
    return df.drop_duplicates(subset=keys[:1]).tail(n).reset_index(drop=True)


# The end of the data, then past the shortest TTLs (forecasting's two steps, fraud accounts' and
# recommendations' 30 days), past the 60-day ones (merchant risk, ranking) and far past all of them.
AFTER_END = [pd.Timedelta(0), pd.Timedelta(days=3), pd.Timedelta(days=31), pd.Timedelta(days=61),
             pd.Timedelta(days=400)]


@pytest.mark.parametrize("use_case", ["recommendations", "ranking", "fraud", "forecasting"])
def test_online_equals_offline_at_and_after_materialization_end(world, use_case):
    """At any time from the materialization's end on, an online read at that time gives what
    the offline point-in-time join gives: a value older than its view's TTL is missing in both
    (Feast's own online read ignored TTLs, feast-dev/feast#6821)."""
    ws, spans = world
    rows = entity_rows(ws, use_case)
    end = spans[use_case][1]
    key = rows.columns[0]
    expired_somewhere = False
    for after in AFTER_END:
        at = pd.Timestamp(end) + after
        offline = features.training_frame(use_case, rows.assign(event_timestamp=at), ws=ws)
        online = features.online_features(use_case, rows, ws=ws, at=at)
        offline = offline.sort_values(key).reset_index(drop=True)
        online = online.sort_values(key).reset_index(drop=True)
        compared = 0
        for col in online.columns:
            if col not in offline.columns:
                continue
            assert_same_values(offline[col], online[col], f"{use_case}.{col} at end + {after}")
            compared += 1
        assert compared >= len(features.feature_store(ws).get_feature_service(f"{use_case}_v1")
                               .feature_view_projections)
        values = online.drop(columns=list(rows.columns), errors="ignore")
        if after == pd.Timedelta(0):
            assert values.notna().any().any()
            present = values.notna().sum().sum()
        expired_somewhere |= values.notna().sum().sum() < present
    assert expired_somewhere  # the later times did drop values


def test_push_makes_velocity_fresh(world):
    ws, _ = world
    tx = load_table(ws, "fraud")
    account = int(tx[schemas.ACCOUNT_ID].iloc[-1])
    history = tx[tx[schemas.ACCOUNT_ID] == account].sort_values(schemas.TS)
    t = history[schemas.TS].iloc[-1] + pd.Timedelta(minutes=5)
    row = {"account_id": account, "merchant_id": int(history["merchant_id"].iloc[-1]), "amount": 3.0,
           "device_id": int(history["device_id"].iloc[-1]), "country": history["country"].iloc[-1],
           "channel": "web", "txn_unix": t.timestamp()}
    before = features.online_features("fraud", [row], ws=ws).iloc[0]
    # A burst of three small charges, each pushed as the account's new state.
    burst = history.copy()
    for i in range(3):
        new = history.iloc[[-1]].assign(**{schemas.TS: t + pd.Timedelta(seconds=20 * i), "amount": 3.0})
        burst = pd.concat([burst, new], ignore_index=True)
        state = account_state(burst).iloc[[-1]]
        features.feature_store(ws).push(PUSH_SOURCE, state)
    after = features.online_features("fraud", [row], ws=ws).iloc[0]
    assert after["txn_count_1h"] == before["txn_count_1h"] + 3
    assert after["txn_amount_1h"] == pytest.approx(before["txn_amount_1h"] + 9.0)
