"""Switching the online store to Redis is a configuration change: same code, real redis-server."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import assert_same_values, free_port, start_redis

import features
from features.store import reset_cache
from pomona.config import CONFIG_DIR
from pomona.data.generate import generate


@pytest.fixture
def redis_url(tmp_path):
    port = free_port()
    proc = start_redis(port, tmp_path)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def lookup(ws, rows, at):
    return features.online_features("recommendations", rows, ws, at=at).sort_values("user_id").reset_index(drop=True)


def offline(ws, rows, at):
    frame = features.training_frame("recommendations", pd.DataFrame(rows).assign(event_timestamp=at), ws=ws)
    return frame.sort_values("user_id").reset_index(drop=True)


def test_redis_serves_the_same_vectors_as_sqlite(ws, monkeypatch, redis_url):
    """The same vectors from both stores at the materialization's end and 31 days later, when
    the 30-day views have expired; the later ones equal the offline point-in-time join's (the
    TTL holds online on Redis too)."""
    generate(ws, scale="small", seed=0, progress=False)
    rows = [{"user_id": u, "product_id": p} for u, p in [(1, 1), (7, 3), (42, 9)]]

    features.apply(ws, ["recommendations"])
    end = pd.Timestamp(features.materialize(ws, use_cases=["recommendations"])["end"])
    times = [end, end + pd.Timedelta(days=31)]
    sqlite_vectors = [lookup(ws, rows, at) for at in times]

    reset_cache()
    monkeypatch.setenv("POMONA_CONFIG", str(CONFIG_DIR / "redis.yaml"))
    monkeypatch.setenv("REDIS_URL", redis_url)
    store = features.feature_store(ws)
    assert type(store._get_provider().online_store).__name__ == "RedisOnlineStore"
    features.apply(ws, ["recommendations"])
    features.materialize(ws, use_cases=["recommendations"])
    redis_vectors = [lookup(ws, rows, at) for at in times]
    later_offline = offline(ws, rows, times[1])
    reset_cache()

    for sq, rd in zip(sqlite_vectors, redis_vectors):
        assert set(rd.columns) == set(sq.columns)
        for col in sq.columns:
            assert_same_values(sq[col], rd[col], col)
    assert redis_vectors[0]["product_events_30d"].notna().any()
    assert redis_vectors[1]["product_events_30d"].isna().all()  # 30-day TTL, read 31 days on
    for col in set(redis_vectors[1].columns) & set(later_offline.columns):
        assert_same_values(later_offline[col], redis_vectors[1][col], col)
    assert redis_vectors[1]["category"].notna().all()  # attributes never expire


def test_missing_redis_url_is_a_clear_error(ws, monkeypatch):
    monkeypatch.setenv("POMONA_CONFIG", str(CONFIG_DIR / "redis.yaml"))
    monkeypatch.delenv("REDIS_URL", raising=False)
    reset_cache()
    from pomona.errors import PomonaError

    with pytest.raises(PomonaError, match="REDIS_URL is not set"):
        features.feature_store(ws)
    reset_cache()
