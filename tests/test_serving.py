"""Online serving end to end: a real BentoML server on a loopback port, started after a small
world is generated, applied, materialized and trained; every endpoint over HTTP with good and
bad input; cold start; fresh fraud velocity; hot reload under load; the feature contract."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, free_port, small_world, train_champions, wait_ready
from test_training import FAST

import features
from features.fraud import ACCOUNT_COLUMNS, account_state
from features.store import reset_cache
from pomona.data.writer import load_table
from training import registry, tracking

pytestmark = pytest.mark.slow  # ~2.5 minutes on 2 cores: world, four trainings, a server



def start_server(home: Path, use_case: str, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "POMONA_HOME": str(home), "POMONA_RELOAD_SECONDS": "1", "BENTOML_DO_NOT_TRACK": "True"}
    return subprocess.Popen([sys.executable, "-m", "serving.cli", use_case, "--port", str(port)], cwd=ROOT, env=env,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # the server's own process group (started above)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(client, workspace, base url) of a server answering all four use cases."""
    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("serving")
    home = tmp / "home"
    mp.setenv("POMONA_HOME", str(home))
    ws = small_world(home)
    features.materialize(ws)
    train_champions(ws, tmp, FAST)
    port = free_port()
    proc = start_server(home, "all", port, tmp / "server.log")
    base = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=base, timeout=30)
    wait_ready(client, proc, tmp / "server.log")
    yield client, ws, base
    client.close()
    stop_server(proc)
    reset_cache()
    mp.undo()


def post(client, path, body):
    r = client.post(path, json=body)
    assert r.status_code < 500, r.text
    return r


def online_account(ws, account_id: int) -> dict:
    row = {"account_id": account_id, "merchant_id": 1, "amount": 1.0, "device_id": 0, "country": "US",
           "channel": "web", "txn_unix": 0.0}
    return features.online_features("fraud", [row], ws).iloc[0].to_dict()


# --- good requests ---------------------------------------------------------------------------

def test_every_endpoint_answers(server):
    client, ws, _ = server
    r = post(client, "/recommend", {"user_id": 5, "k": 5}).json()
    assert len(r["items"]) == 5 and r["model_version"] == "1" and r["cold_start"] is False
    assert {"product_id", "score"} <= set(r["items"][0])
    scores = [i["score"] for i in r["items"]]
    assert scores == sorted(scores, reverse=True)

    r = post(client, "/rank", {"query": "red running shoes", "product_ids": [1, 2, 3, 4, 5], "user_id": 3}).json()
    assert sorted(x["product_id"] for x in r["results"]) == [1, 2, 3, 4, 5] and r["model_version"] == "1"
    scores = [x["score"] for x in r["results"]]
    assert scores == sorted(scores, reverse=True)

    r = post(client, "/score_transaction", {"transaction_id": 1, "account_id": 51, "merchant_id": 35, "amount": 12.5,
                                            "timestamp": "2026-01-02T10:00:00Z", "device_id": 204, "country": "US",
                                            "channel": "web"}).json()
    assert 0.0 <= r["fraud_probability"] <= 1.0 and r["decision"] in ("approve", "review", "decline")
    assert r["model_version"] == "1" and r["cold_start"] is False and r["threshold"] > 0

    r = post(client, "/forecast", {"store_id": 8, "product_id": 200, "horizon": 7}).json()
    assert len(r["forecast"]) == 7 and r["model_version"] == "1" and r["cold_start"] is False
    step = r["forecast"][0]
    assert step["yhat_lower"] <= step["yhat"] <= step["yhat_upper"] and pd.Timestamp(step["date"])
    same = post(client, "/forecast", {"series_id": "8-200", "horizon": 7}).json()
    assert same["forecast"] == r["forecast"]


def test_probes_metrics_and_openapi(server):
    client, _, _ = server
    assert client.get("/livez").status_code == 200 and client.get("/readyz").status_code == 200
    post(client, "/recommend", {"user_id": 1, "k": -1})
    metrics = client.get("/metrics").text
    for endpoint in ("/recommend", "/rank", "/score_transaction", "/forecast"):
        assert f'bentoml_service_request_duration_seconds_count{{endpoint="{endpoint}",http_response_code="200"' \
            in metrics, endpoint
    assert 'endpoint="/recommend",http_response_code="400"' in metrics  # error counts per endpoint
    paths = client.get("/docs.json").json()["paths"]
    assert {"/recommend", "/rank", "/score_transaction", "/forecast"} <= set(paths)


# --- bad input -------------------------------------------------------------------------------

TX = {"transaction_id": 9, "account_id": 51, "merchant_id": 35, "amount": 10.0, "timestamp": "2026-01-03T00:00:00Z"}
BAD = [
    ("/recommend", {"k": 3}, "user_id"),                                    # missing field
    ("/recommend", {"user_id": "five"}, "user_id"),                         # wrong type
    ("/recommend", {"user_id": 5, "k": -1}, "k"),                           # negative k
    ("/recommend", {"user_id": 5, "k": 10**9}, "k"),                        # huge k
    ("/recommend", {"user_id": 5, "bogus": 1}, "bogus"),                    # unknown field
    ("/rank", {"query": "shoes", "product_ids": list(range(10_000))}, "product_ids"),
    ("/rank", {"query": "shoes", "product_ids": []}, "product_ids"),
    ("/rank", {"product_ids": [1, 2]}, "query"),
    ("/score_transaction", {**TX, "amount": float("nan")}, "amount"),
    ("/score_transaction", {**TX, "amount": -5.0}, "amount"),
    ("/score_transaction", {**TX, "timestamp": "not a time"}, "timestamp"),
    ("/score_transaction", {k: v for k, v in TX.items() if k != "account_id"}, "account_id"),
    ("/forecast", {"store_id": 8, "product_id": 200, "horizon": 29}, "horizon"),  # past the model's 28
    ("/forecast", {"store_id": 8, "product_id": 200, "horizon": 0}, "horizon"),
    ("/forecast", {"horizon": 3}, "series_id"),
]


@pytest.mark.parametrize("path,body,field", BAD, ids=[f"{p}-{f}-{i}" for i, (p, _, f) in enumerate(BAD)])
def test_bad_input_is_a_4xx_naming_the_field(server, path, body, field):
    client, _, _ = server
    content = json.dumps(body).encode()  # json.dumps writes NaN, as a careless client would
    r = client.post(path, content=content, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    assert field in r.json()["error"], r.text


@pytest.mark.parametrize("content,status", [(b"{not json", 400), (b"[1, 2]", 400), (b"x" * (2 << 20), 413)],
                         ids=["not-json", "not-an-object", "oversized"])
def test_body_errors(server, content, status):
    client, _, _ = server
    for path in ("/rank", "/score_transaction"):
        r = client.post(path, content=content, headers={"content-type": "application/json"})
        assert r.status_code == status and "body" in r.json()["error"], r.text


# --- adaptive batching -----------------------------------------------------------------------

def test_batched_rank_answers_as_the_single_endpoint(server):
    client, _, _ = server
    bodies = [{"query": "red running shoes", "product_ids": [5, 1, 9, 3]}, {"query": "lamp", "product_ids": [2, 7]},
              {"query": "shoes", "product_ids": [1, 987654321]}]
    batched = post(client, "/batch/rank", {"requests": bodies}).json()
    assert batched == [post(client, "/rank", b).json() for b in bodies]
    assert batched[2]["cold_start"] is True and batched[0]["cold_start"] is False


def test_batched_fraud_sees_each_push_as_single_requests_do(server):
    """Two transactions of one account in one batch: the second is scored after the first's
    push. A twin account (never seen, like the first) sent the same two one at a time must get
    the same answers; a third account in the batch shares the round."""
    client, ws, _ = server
    def tx(account, i):
        return {"transaction_id": 700_000 + account % 1000 * 10 + i, "account_id": account, "merchant_id": 43,
                "amount": 250.0 + i, "timestamp": f"2026-01-06T10:0{i}:00Z", "channel": "web"}
    a, twin, other = 880_000_001, 880_000_002, 880_000_003
    batched = post(client, "/batch/score_transaction", {"requests": [tx(a, 0), tx(other, 0), tx(a, 1)]}).json()
    single = [post(client, "/score_transaction", tx(twin, i)).json() for i in (0, 1)]
    assert [batched[0], batched[2]] == single
    assert batched[0]["cold_start"] is True and batched[2]["cold_start"] is False  # the first push counted
    assert online_account(ws, a)["txn_count_1h"] == 2.0 and online_account(ws, other)["txn_count_1h"] == 1.0


@pytest.mark.parametrize("body,field", [({"requests": []}, "requests"), ({"requests": [{**TX, "amount": -1}]},
                                                                            "requests.0.amount"),
                                        ({"requests": [TX] * 33}, "requests"), ([TX], "body")],
                         ids=["empty", "bad-item", "too-many", "not-wrapped"])
def test_batched_bad_input_is_a_4xx_naming_the_field(server, body, field):
    client, _, _ = server
    r = client.post("/batch/score_transaction", json=body)
    assert 400 <= r.status_code < 500 and field in r.json()["error"], r.text


# --- cold start ------------------------------------------------------------------------------

def test_unknown_entities_get_a_fallback(server):
    client, _, _ = server
    r = post(client, "/recommend", {"user_id": 987654321, "k": 5}).json()
    assert r["cold_start"] is True and len(r["items"]) == 5
    r = post(client, "/rank", {"query": "shoes", "product_ids": [1, 987654321]}).json()
    assert r["cold_start"] is True and len(r["results"]) == 2
    r = post(client, "/score_transaction", {**TX, "account_id": 987654321, "merchant_id": 987654321}).json()
    assert r["cold_start"] is True and 0.0 <= r["fraud_probability"] <= 1.0
    r = post(client, "/forecast", {"series_id": "no-such-series", "horizon": 5}).json()
    assert r["cold_start"] is True and len(r["forecast"]) == 5


# --- fresh fraud features --------------------------------------------------------------------

def test_fraud_burst_raises_velocity_and_score(server):
    client, ws, _ = server
    account = 117
    before = online_account(ws, account)
    start = pd.Timestamp("2026-01-05T12:00:00Z")
    sent, counts, probs = [], [], []
    for i in range(8):  # card testing: tiny amounts a minute apart, the account's own device and country
        ts = start + pd.Timedelta(minutes=i)
        tx = {"transaction_id": 500_000 + i, "account_id": account, "merchant_id": 43, "amount": 1.5 + i / 10,
              "timestamp": ts.isoformat(), "device_id": int(before["primary_device"]),
              "country": before["home_country"], "channel": "web"}
        probs.append(post(client, "/score_transaction", tx).json()["fraud_probability"])
        counts.append(online_account(ws, account)["txn_count_1h"])
        sent.append({**tx, "event_timestamp": ts})
    assert counts == [float(i + 1) for i in range(8)]  # each pushed state counts the burst so far
    assert probs[-1] > probs[0]
    # The pushed state equals the batch definition over the offline history plus the burst.
    history = load_table(ws, "fraud", "transactions")
    history = history[history["account_id"] == account]
    burst = pd.DataFrame(sent).drop(columns=["timestamp"])
    burst["event_timestamp"] = pd.to_datetime(burst["event_timestamp"], utc=True).astype(history["event_timestamp"].dtype)
    both = pd.concat([history, burst[[c for c in history.columns if c in burst.columns]]], ignore_index=True)
    expected = account_state(both.sort_values("event_timestamp", kind="stable").reset_index(drop=True)).iloc[-1]
    got = online_account(ws, account)
    for col in ACCOUNT_COLUMNS:
        if isinstance(expected[col], str):
            assert got[col] == expected[col], col
        else:
            np.testing.assert_allclose(float(got[col]), float(expected[col]), rtol=1e-9, err_msg=col)


# --- hot reload ------------------------------------------------------------------------------

def test_hot_reload_under_load_fails_no_request(server):
    client, ws, base = server
    mlflow_client = tracking.connect(ws)
    current = registry.champion_version(mlflow_client, "ranking")
    new = registry.register(mlflow_client, "ranking", current.source, current.run_id, dict(current.tags))
    results, stop = [], threading.Event()

    def load():
        with httpx.Client(base_url=base, timeout=30) as c:
            while not stop.is_set() and len(results) < 2000:  # bounded
                r = c.post("/rank", json={"query": "shoes", "product_ids": [1, 2, 3]})
                results.append((r.status_code, r.json().get("model_version")))

    worker = threading.Thread(target=load)
    worker.start()
    try:
        time.sleep(1)
        registry.move_champion(ws, mlflow_client, "ranking", new, action="promote", reason="serving test")
        deadline = time.time() + 60
        while not any(v == new for _, v in results) and time.time() < deadline:
            time.sleep(0.2)
        n = len(results)
        while len(results) < n + 5 and time.time() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        worker.join(30)
    assert all(code == 200 for code, _ in results), [r for r in results if r[0] != 200][:3]
    versions = [v for _, v in results]
    assert versions[0] == str(current.version) and versions[-1] == new
    first_new = versions.index(new)
    assert all(v == new for v in versions[first_new:])  # no flapping back


# --- the feature contract --------------------------------------------------------------------

def test_mismatched_model_is_refused_at_start_and_not_reloaded(server, tmp_path):
    client, ws, _ = server
    from training.pyfunc import load_bundle
    from training.tracking import experiment, log_bundle

    mlflow_client = tracking.connect(ws)
    good = registry.champion_version(mlflow_client, "recommendations")
    bundle = load_bundle(f"models:/pomona-recommendations/{good.version}")
    bundle.fingerprint = "0000deadbeef0000"
    with mlflow.start_run(experiment_id=experiment(ws, "recommendations")) as run:
        uri = log_bundle(bundle, pd.DataFrame({"user_id": [1]}), {"k": 3})
    bad = registry.register(mlflow_client, "recommendations", uri, run.info.run_id, {"feature_fingerprint": "bad"})
    registry.move_champion(ws, mlflow_client, "recommendations", bad, action="promote", reason="serving test")
    try:
        log = tmp_path / "refused.log"
        proc = start_server(ws.root, "recommendations", free_port(), log)
        try:
            rc = proc.wait(90)
        finally:
            stop_server(proc)
        out = log.read_text().strip().splitlines()
        assert rc == 1 and out[-1].startswith("error: ") and "0000deadbeef0000" in out[-1], out[-5:]
        time.sleep(3)  # the running server's poller has seen the alias move and refused it
        r = post(client, "/recommend", {"user_id": 5})
        assert r.status_code == 200 and r.json()["model_version"] == str(good.version)
    finally:
        registry.move_champion(ws, mlflow_client, "recommendations", str(good.version), action="rollback",
                               reason="serving test")


# --- an unreachable online store -------------------------------------------------------------

def test_store_outage_is_a_503_with_a_reason_and_recovers(monkeypatch, home):
    import sqlite3

    from serving import fraud, runtime, service
    from serving.errors import StoreUnavailable

    state = {"down": True, "resets": 0}
    monkeypatch.setattr(runtime, "reset_cache", lambda: state.__setitem__("resets", state["resets"] + 1))

    def read():
        if state["down"]:
            raise sqlite3.OperationalError("unable to open database file")
        return "features"

    with pytest.raises(StoreUnavailable, match="OperationalError: unable to open database file"):
        runtime.online(read)
    assert state["resets"] == 1  # the cached store is dropped: the next request reconnects
    state["down"] = False
    assert runtime.online(read) == "features"

    # The service maps it to 503 with the reason (and a caller's mistake to its 4xx).
    svc = object.__new__(service.Fraud.inner)
    svc.ws, svc.champions = None, {"fraud": None}
    monkeypatch.setattr(fraud, "handle", lambda *a: runtime.online(read))
    state["down"] = True
    resp = svc._call("fraud", None)
    assert resp.status_code == 503 and b"unable to open database file" in resp.body
    state["down"] = False
    assert svc._call("fraud", None) == "features"
