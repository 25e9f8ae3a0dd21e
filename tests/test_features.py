"""Feature store: point-in-time correctness, TTLs, online equals offline, schema-derived views."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import assert_same_values

import features
from features.store import reset_cache
from pomona.data.writer import DatasetWriter
from pomona.errors import PomonaError

T0 = pd.Timestamp("2025-03-01", tz="UTC")


def minutes(m: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(minutes=m)


@pytest.fixture
def fraud_ws(ws):
    """Six hand-built transactions whose right feature values are known."""
    tx = pd.DataFrame({
        "transaction_id": [1, 2, 3, 4, 5, 6, 7],
        "account_id": [1, 1, 1, 2, 2, 1, 1],
        "merchant_id": [10, 10, 11, 11, 10, 11, 10],
        "event_timestamp": [minutes(0), minutes(10), minutes(30), minutes(60), minutes(2 * 1440),
                            minutes(3 * 1440), minutes(40 * 1440)],
        "amount": [10.0, 20.0, 30.0, 5.0, 7.0, 100.0, 12.0],
        "is_fraud": [0, 0, 1, 0, 0, 1, 0],
        "device_id": [1, 1, 2, 5, 5, 1, 1],
        "country": ["US", "US", "DE", "FR", "FR", "US", "US"],
        "channel": ["web"] * 7,
    })
    with DatasetWriter(ws, "fraud", "synthetic") as w:
        w.append("transactions", tx)
    features.apply(ws)
    yield ws
    reset_cache()


def test_point_in_time_features_use_only_the_past(fraud_ws):
    frame = features.training_frame("fraud", ws=fraud_ws).sort_values("transaction_id").set_index("transaction_id")
    # The first transaction of each account has no history at all.
    assert frame.loc[1, "txn_count_1h"] != frame.loc[1, "txn_count_1h"]  # NaN
    assert np.isnan(frame.loc[4, "txn_count_1h"])
    # Transaction 3 (00:30) sees transactions 1 and 2, never itself or later ones.
    assert frame.loc[3, "txn_count_1h"] == 2 and frame.loc[3, "txn_amount_1h"] == 30.0
    assert frame.loc[3, "amount_mean_30d"] == 15.0
    # Request-time transform: 30 against a typical 15, on a new device, abroad.
    assert frame.loc[3, "amount_to_mean_30d"] == pytest.approx(2.0)
    assert frame.loc[3, "is_new_device"] == 1.0 and frame.loc[3, "is_foreign_country"] == 1.0
    assert frame.loc[3, "secs_since_prev_txn"] == pytest.approx(20 * 60)
    # Transaction 6 (day 3) sees the three day-0 transactions of account 1.
    assert frame.loc[6, "txn_count_7d"] == 3 and frame.loc[6, "txn_amount_7d"] == 60.0
    # No feature row stamped after a row's time ever reaches it.
    seen = frame["last_txn_unix"].dropna()
    assert (seen < frame.loc[seen.index, "txn_unix"]).all()


def test_ttl_expires_as_configured(fraud_ws):
    frame = features.training_frame("fraud", ws=fraud_ws).set_index("transaction_id")
    # Transaction 7 comes 37 days after the account's last one: past the view's 30-day TTL.
    assert np.isnan(frame.loc[7, "txn_count_30d"])
    store = features.feature_store(fraud_ws)
    assert store.get_feature_view("fraud_account_activity").ttl == pd.Timedelta(days=30)


def test_merchant_risk_waits_for_labels(fraud_ws):
    frame = features.training_frame("fraud", ws=fraud_ws).set_index("transaction_id")
    # Labels arrive 7 days late: nothing is known about a merchant in the first week.
    assert frame.loc[[1, 2, 3, 4, 5, 6], "merchant_fraud_rate_30d"].isna().all()
    # On day 40, merchant 10's last known state (labels of days 0-2, known on days 7-9): three
    # transactions, no fraud, smoothed towards the 1% prior with weight 20.
    assert frame.loc[7, "merchant_txn_30d"] == 3
    assert frame.loc[7, "merchant_fraud_rate_30d"] == pytest.approx(0.2 / 23)


def test_online_equals_offline_after_materialize(fraud_ws):
    out = features.materialize(fraud_ws)
    assert out["source_rows"] > 0
    end = out["end"]
    entity = pd.DataFrame({"account_id": [1, 2], "merchant_id": [10, 11], "event_timestamp": [end, end],
                           "amount": [50.0, 5.0], "device_id": [1, 9], "country": ["US", "US"],
                           "channel": ["web", "app"], "txn_unix": [end.timestamp()] * 2})
    offline = features.training_frame("fraud", entity, ws=fraud_ws).sort_values("account_id").reset_index(drop=True)
    online = features.online_features("fraud", entity.drop(columns="event_timestamp"), ws=fraud_ws)
    online = online.sort_values("account_id").reset_index(drop=True)
    assert online.loc[0, "txn_count_30d"] == 1  # account 1 at day 40: only transaction 7
    for col in online.columns:
        assert_same_values(offline[col], online[col], col)


def test_calendar_ttl_is_one_step(ws):
    days = pd.date_range("2025-01-01", periods=10, freq="D", tz="UTC")
    demand = pd.DataFrame({"series_id": "1-1", "event_timestamp": days, "y": np.arange(10.0),
                           "split": ["train"] * 8 + ["test"] * 2, "price": np.arange(10.0) + 100, "promo": 0})
    with DatasetWriter(ws, "forecasting", "synthetic", frequency="D", season_length=7, horizon=2) as w:
        w.append("demand", demand)
    features.apply(ws)
    entity = pd.DataFrame({"series_id": ["1-1"] * 3, "event_timestamp": [days[3], days[3] + pd.Timedelta(hours=5),
                                                                          days[9] + pd.Timedelta(days=1)]})
    frame = features.training_frame("forecasting", entity, ws=ws).sort_values("event_timestamp").reset_index(drop=True)
    assert frame.loc[0, "price"] == 103.0 and frame.loc[0, "y_lag_1"] == 2.0  # state known at day 3: y up to day 2
    assert frame.loc[1, "price"] == 103.0  # the same day
    assert np.isnan(frame.loc[2, "price"])  # the day after the last row: no calendar, no carry-over
    assert frame.loc[2, "y_lag_1"] == 9.0  # but the state stamped at day 10 is there
    reset_cache()


def test_imported_columns_become_features_and_stale_views_go(ws):
    inter = pd.DataFrame({"user_id": [1, 1, 2], "product_id": [5, 6, 5],
                          "event_timestamp": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03"], utc=True),
                          "event_type": "rating", "weight": [4.0, 3.0, 5.0]})
    users = pd.DataFrame({"user_id": [1, 2], "event_timestamp": pd.Timestamp("2024-12-01", tz="UTC"),
                          "age": [30, 40], "occupation": ["artist", "doctor"]})
    with DatasetWriter(ws, "recommendations", "movielens-100k") as w:
        w.append("interactions", inter)
        w.append("users", users)
    features.apply(ws)
    listed = {d["name"]: d for d in features.describe(ws)}
    assert listed["recommendations_users"]["features"] == ["age", "occupation"]
    assert listed["recommendations_users"]["materialized_until"] is None  # applied, never materialized
    features.materialize(ws)
    listed = {d["name"]: d for d in features.describe(ws)}
    assert pd.Timestamp(listed["recommendations_users"]["materialized_until"]) >= pd.Timestamp("2025-01-03", tz="UTC")
    assert "recommendations_v1" in listed
    # Replacing the dataset with one without a users table removes the stale view.
    with DatasetWriter(ws, "recommendations", "other", force=True) as w:
        w.append("interactions", inter)
    features.apply(ws)
    assert "recommendations_users" not in {d["name"] for d in features.describe(ws)}
    reset_cache()


def test_missing_apply_is_a_clear_error(ws):
    with pytest.raises(PomonaError, match="no data"):
        features.apply(ws)
    with pytest.raises(PomonaError, match="pomona features apply"):
        features.training_frame("fraud", pd.DataFrame({"event_timestamp": [T0]}), ws=ws)
    reset_cache()
