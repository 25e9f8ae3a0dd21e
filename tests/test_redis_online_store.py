"""Switching the online store to Redis is a configuration change: same code, real redis-server."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import free_port, start_redis

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


def lookup(ws, rows):
    return features.online_features("recommendations", rows, ws).sort_values("user_id").reset_index(drop=True)


def test_redis_serves_the_same_vectors_as_sqlite(ws, monkeypatch, redis_url):
    generate(ws, scale="small", seed=0, progress=False)
    rows = [{"user_id": u, "product_id": p} for u, p in [(1, 1), (7, 3), (42, 9)]]

    features.apply(ws, ["recommendations"])
    features.materialize(ws, use_cases=["recommendations"])
    sqlite_vectors = lookup(ws, rows)

    reset_cache()
    monkeypatch.setenv("POMONA_CONFIG", str(CONFIG_DIR / "redis.yaml"))
    monkeypatch.setenv("REDIS_URL", redis_url)
    store = features.feature_store(ws)
    assert type(store._get_provider().online_store).__name__ == "RedisOnlineStore"
    features.apply(ws, ["recommendations"])
    features.materialize(ws, use_cases=["recommendations"])
    redis_vectors = lookup(ws, rows)
    reset_cache()

    assert set(redis_vectors.columns) == set(sqlite_vectors.columns)
    for col in sqlite_vectors.columns:
        a, b = sqlite_vectors[col], redis_vectors[col]
        if pd.api.types.is_numeric_dtype(a):
            np.testing.assert_allclose(a.astype(float), b.astype(float), err_msg=col)
        else:
            assert a.astype(str).tolist() == b.astype(str).tolist(), col
    assert redis_vectors["product_events_30d"].notna().any()


def test_missing_redis_url_is_a_clear_error(ws, monkeypatch):
    monkeypatch.setenv("POMONA_CONFIG", str(CONFIG_DIR / "redis.yaml"))
    monkeypatch.delenv("REDIS_URL", raising=False)
    reset_cache()
    from pomona.errors import PomonaError

    with pytest.raises(PomonaError, match="REDIS_URL is not set"):
        features.feature_store(ws)
    reset_cache()
