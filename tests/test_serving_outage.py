"""A real online-store outage: the fraud service reads a real redis-server; killing it makes
``/score_transaction`` answer 503 with a reason (not a 500, not a hang), and once Redis is back
on the same port (and re-materialized: it runs with ``--save ""``, so its data is gone) the
same server process answers 200 again without a restart."""

from __future__ import annotations

import subprocess
import time

import httpx
import pandas as pd
import pytest
import yaml
from conftest import free_port, small_world, start_redis, wait_ready
from test_serving import start_server, stop_server
from test_training import FAST

import features
from features.store import reset_cache
from pomona.config import CONFIG_DIR
from training.job import train

pytestmark = pytest.mark.slow  # ~1 minute on 2 cores: world, one training, a server, redis twice

CLIENT_TIMEOUT = 10  # seconds: an outage must be answered, never hang
# redis-py's defaults retry a refused connection 3 times with up to 10 s of backoff (3-12 s
# per request measured here) and never time out a black-holed socket: fail fast instead and
# let the caller retry on the 503. Feast passes these connection-string options to redis.Redis
# (docs/serving.md, "Online-store outage").
FAIL_FAST = "socket_connect_timeout=1,socket_timeout=1,retry=null"
TX = {"transaction_id": 1, "account_id": 51, "merchant_id": 35, "amount": 12.5,
      "timestamp": "2026-01-02T10:00:00Z", "device_id": 204, "country": "US", "channel": "web"}


def stop_redis(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()  # an outage, not a clean shutdown
        proc.wait(10)


def test_redis_outage_is_a_503_and_the_service_recovers(tmp_path, monkeypatch):
    home = tmp_path / "home"
    port = free_port()
    monkeypatch.setenv("POMONA_HOME", str(home))
    monkeypatch.setenv("POMONA_CONFIG", str(CONFIG_DIR / "redis.yaml"))
    monkeypatch.setenv("REDIS_URL", f"127.0.0.1:{port},{FAIL_FAST}")
    reset_cache()
    redis = start_redis(port, tmp_path)
    server = None
    try:
        ws = small_world(home, ["fraud"])
        assert type(features.feature_store(ws)._get_provider().online_store).__name__ == "RedisOnlineStore"
        features.materialize(ws, use_cases=["fraud"])
        cfg = tmp_path / "fraud.yaml"
        cfg.write_text(yaml.safe_dump({"candidates": FAST["fraud"]}))
        assert train("fraud", str(cfg), seed=0, ws=ws).promoted

        server_port = free_port()
        server = start_server(home, "fraud", server_port, tmp_path / "server.log")

        def log() -> str:
            return (tmp_path / "server.log").read_text()[-3000:]

        with httpx.Client(base_url=f"http://127.0.0.1:{server_port}", timeout=CLIENT_TIMEOUT) as http:
            wait_ready(http, server, tmp_path / "server.log")
            r = http.post("/score_transaction", json=TX)
            assert r.status_code == 200 and r.json()["cold_start"] is False, r.text
            pushed = features.online_features("fraud", [{**TX, "txn_unix": 0.0}], ws).iloc[0]  # read from Redis
            assert pushed["last_txn_unix"] == pd.Timestamp(TX["timestamp"]).timestamp() and pushed["txn_count_1h"] >= 1

            stop_redis(redis)  # the store goes away under a running server
            for i in range(3):  # every request during the outage: a 503 with the reason, promptly
                started = time.time()
                r = http.post("/score_transaction", json={**TX, "transaction_id": 10 + i})
                assert r.status_code == 503, r.text
                body = r.json()
                assert "online store unavailable" in body["error"] and body["reason"], body
                assert time.time() - started < 3, f"503 took {time.time() - started:.1f} s"
            assert http.get("/livez").status_code == 200  # alive: no restart needed

            redis = start_redis(port, tmp_path)  # back on the same port, empty (--save "")
            reset_cache()  # this test process's own cached store held the dead connection
            features.materialize(ws, use_cases=["fraud"])
            deadline, statuses = time.time() + 60, []
            while time.time() < deadline:
                r = http.post("/score_transaction", json={**TX, "transaction_id": 100 + len(statuses)})
                statuses.append(r.status_code)
                if r.status_code == 200:
                    break
                time.sleep(0.5)
            assert statuses[-1] == 200, (statuses, r.text, log())
            assert r.json()["cold_start"] is False  # the re-materialized features are read again
            assert set(statuses) <= {200, 503}, statuses
    finally:
        if server is not None:
            stop_server(server)
        stop_redis(redis)
        reset_cache()
