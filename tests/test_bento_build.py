"""Packaging: ``serving.build.build`` makes a Bento with the fraud champion inside, its labels
record the model version, FeatureService and fingerprint, and ``bentoml serve`` of that Bento
answers a request exactly as the in-process handler does, with the packaged model even after
the registry's alias has moved on."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import free_port, small_world, train_champions, wait_ready
from test_serving import stop_server
from test_training import FAST

import features
from features.store import reset_cache
from pomona.errors import PomonaError
from pomona.usecases import feature_service_name
from serving import build as bento_build
from training import registry, tracking

pytestmark = pytest.mark.slow  # ~1.5 minutes on 2 cores: world, one training, a build, a server

TX = {"transaction_id": 7001, "account_id": 51, "merchant_id": 35, "amount": 12.5,
      "timestamp": "2026-01-02T10:00:00Z", "device_id": 204, "country": "US", "channel": "web"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(workspace, build result, champion version at build time)."""
    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("bento")
    home = tmp / "home"
    mp.setenv("POMONA_HOME", str(home))
    mp.delenv("POMONA_CONFIG", raising=False)
    ws = small_world(home, ["fraud"])
    features.materialize(ws, use_cases=["fraud"])
    train_champions(ws, tmp, {"fraud": FAST["fraud"]})
    version = str(registry.champion_version(tracking.connect(ws), "fraud").version)
    result = bento_build.build("fraud", ws)
    yield ws, result, version
    reset_cache()
    mp.undo()


def test_labels_record_the_model_and_its_feature_contract(built):
    ws, result, version = built
    store = features.feature_store(ws)
    expected = {"use_case": "fraud", "model_version": version, "feature_service": feature_service_name("fraud"),
                "feature_fingerprint": features.fingerprint(store, "fraud")}
    assert expected.items() <= result["labels"].items()
    bento_dir = Path(result["path"])
    assert bento_dir.is_relative_to(ws.root / "bentoml")  # builds stay in the workspace
    info = yaml.safe_load((bento_dir / "bento.yaml").read_text())
    assert expected.items() <= info["labels"].items() and info["service"] == "serving.bento_entry:Fraud"
    assert (bento_dir / "src" / "pomona_model" / "fraud" / "MLmodel").is_file() or \
        any((bento_dir / "src" / "pomona_model" / "fraud").rglob("MLmodel"))


def test_no_champion_is_a_clear_error(home):
    from pomona.workspace import workspace

    with pytest.raises(PomonaError, match="no champion"):
        bento_build.export_champion("ranking", workspace(home), home / "out")


def expected_answer(ws, version: str, request: dict, monkeypatch) -> dict:
    """The in-process handler's answer with the packaged version (no push: read-only)."""
    from serving import fraud, runtime

    loaded = runtime.load_version("fraud", ws, version)
    champion = type("Fixed", (), {"current": loaded})()
    monkeypatch.setattr(fraud, "_push", lambda *a: None)  # the server's own push must see the same state
    return fraud.handle(fraud.request_model(ws).model_validate(request), champion, ws).model_dump()


def test_bentoml_serve_answers_like_the_handler(built, tmp_path, monkeypatch):
    ws, result, version = built
    # Move the registry's alias on: the Bento must keep answering with the model it packages.
    client = tracking.connect(ws)
    current = registry.champion_version(client, "fraud")
    moved = registry.register(client, "fraud", current.source, current.run_id, dict(current.tags))
    registry.move_champion(ws, client, "fraud", moved, action="promote", reason="bento test")

    want = expected_answer(ws, version, TX, monkeypatch)
    port = free_port()
    exe = Path(sys.executable).with_name("bentoml")
    env = {**bento_build.bentoml_env(ws), "POMONA_RELOAD_SECONDS": "1"}
    env.pop("POMONA_CONFIG", None)
    log = tmp_path / "bento.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(exe), "serve", result["tag"], "--host", "127.0.0.1", "--port", str(port)],
                                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            wait_ready(http, proc, log)
            r = http.post("/score_transaction", json=TX)
            assert r.status_code == 200, r.text
            assert r.json() == want and want["model_version"] == version != moved
            time.sleep(2)  # past a reload poll: a Bento does not follow the registry's alias
            r = http.post("/score_transaction", json={**TX, "transaction_id": 7002})
            assert r.status_code == 200 and r.json()["model_version"] == version, r.text
            r = http.post("/score_transaction", json={**TX, "amount": -1})
            assert r.status_code == 400 and "amount" in r.json()["error"], r.text
    finally:
        stop_server(proc)
