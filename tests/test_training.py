"""Training jobs end to end: every use case through the CLI, the champion's pyfunc equals the
model in memory, the promotion gate, rollback, interruption, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import small_world

import features
import training.job
from features.store import reset_cache
from models.scoring import score
from pomona.app.cli import main
from pomona.data.writer import read_manifest
from pomona.errors import PomonaError
from pomona.workspace import workspace
from training import registry, tracking
from training.config import load_train_config
from training.job import task, train
from training.tracking import _naive_times

# Small, fast candidates: the suite checks the machinery, benchmarks check the quality.
FAST = {
    "recommendations": {"most_popular": {}, "ease": {"l2": 200.0}, "bpr": {"epochs": 3, "factors": 16}},
    "ranking": {"strongest_feature": {}, "lambdamart": {"n_estimators": 40}},
    "fraud": {"logistic": {}, "lightgbm": {"n_estimators": 60}},
    "forecasting": {"seasonal_naive": {}, "lightgbm": {"n_estimators": 60}},
}
CRIPPLED = {
    "ranking": {"lambdamart": {"n_estimators": 1, "num_leaves": 2, "learning_rate": 0.01}},
    "fraud": {"lightgbm": {"n_estimators": 1, "num_leaves": 2, "learning_rate": 0.01}},
}


def write_config(tmp_path: Path, use_case: str, candidates: dict, **extra) -> Path:
    path = tmp_path / f"{use_case}-{abs(hash(json.dumps(candidates, sort_keys=True))) % 10**8}.yaml"
    path.write_text(yaml.safe_dump({"candidates": candidates, **extra}))
    return path


@pytest.fixture(scope="module")
def world(module_world):
    return module_world


def champion(ws, use_case):
    return registry.champion_version(tracking.connect(ws), use_case)


@pytest.mark.parametrize("use_case", ["recommendations", "ranking", "fraud", "forecasting"])
def test_each_use_case_trains_through_the_cli(world, use_case, tmp_path, capsys, monkeypatch):
    cfg = write_config(tmp_path, use_case, FAST[use_case])
    captured = {}

    def keep(*args, **kwargs):  # the CLI's own call, with its result kept for the comparison below
        captured["result"] = train(*args, **kwargs)
        return captured["result"]

    monkeypatch.setattr(training.job, "train", keep)
    assert main(["train", use_case, "--config", str(cfg), "--seed", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)  # exactly one JSON object on stdout
    result = captured["result"]
    assert out == json.loads(json.dumps(result.to_json(), default=str))
    assert out["use_case"] == use_case and out["champion_version"] == out["registered_version"]
    assert {c["name"] for c in out["candidates"]} == set(FAST[use_case])
    assert all(out["primary_metric"] in c["validation_metrics"] for c in out["candidates"])
    tested = [c for c in out["candidates"] if c["tested"]]
    assert out["winner"] in {c["name"] for c in tested} and all(out["primary_metric"] in c["metrics"] for c in tested)
    assert str(champion(world, use_case).version) == out["champion_version"]
    # The champion loads as a pyfunc and predicts what the model in memory predicts.
    data = task(use_case).prepare(world, load_train_config(use_case, cfg), read_manifest(world, use_case))
    example, params = task(use_case).example(data)
    in_memory = score(result.bundles["registered"], example, **(params or {}))
    loaded = mlflow.pyfunc.load_model(f"models:/pomona-{use_case}@champion")
    via_pyfunc = loaded.predict(_naive_times(example), params=params)
    for col in in_memory.columns:
        a, b = in_memory[col].reset_index(drop=True), via_pyfunc[col].reset_index(drop=True)
        if pd.api.types.is_numeric_dtype(a):
            np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-9, err_msg=col)
        else:
            assert a.astype(str).tolist() == b.astype(str).tolist(), col
    run = mlflow.get_run(result.parent_run_id)
    assert run.data.tags["feature_service"] == f"{use_case}_v1"
    assert run.data.tags["feature_fingerprint"] == features.fingerprint(features.feature_store(world), use_case)
    assert int(run.data.tags["data.rows"]) > 0 and len(run.data.tags["data.hash"]) == 16
    child = mlflow.get_run(result.candidates[0]["run_id"])
    assert child.data.tags["mlflow.parentRunId"] == result.parent_run_id
    winner = next(c for c in result.candidates if c["name"] == result.winner)
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(winner["run_id"], "plots")}
    assert artifacts, "plots are logged"
    # The registered version is the winner refit on all data, in its own nested run that
    # carries the evaluated twin's test metrics and run id.
    refit = mlflow.get_run(result.registered_run_id)
    assert refit.data.tags["mlflow.parentRunId"] == result.parent_run_id
    assert refit.data.tags["evaluated_run_id"] == winner["run_id"] and refit.data.tags["refit"] == "true"
    assert refit.data.metrics[out["primary_metric"]] == pytest.approx(winner["metrics"][out["primary_metric"]])


def test_gate_promotes_signal_not_noise_then_rollback(tmp_path, monkeypatch):
    monkeypatch.setenv("POMONA_HOME", str(tmp_path / "home"))
    ws = small_world(tmp_path / "home", ["fraud"])
    crippled = write_config(tmp_path, "fraud", CRIPPLED["fraud"])
    good = write_config(tmp_path, "fraud", FAST["fraud"])
    first = train("fraud", str(crippled), seed=0, ws=ws)
    assert first.promoted and first.reason == "first model for this use case"
    better = train("fraud", str(good), seed=0, ws=ws)
    assert better.promoted and better.champion_version == better.registered_version
    assert better.gate["low"] > 0 and "CI" in better.reason  # the reason states the difference and its interval
    # The same model with another seed: a difference inside the noise is not promoted.
    noise = train("fraud", str(good), seed=7, ws=ws)
    assert not noise.promoted and noise.gate["low"] is not None, noise.reason
    worse = train("fraud", str(crippled), seed=0, ws=ws)
    assert not worse.promoted and worse.gate["high"] < 0
    assert str(champion(ws, "fraud").version) == better.registered_version
    # Rollback restores the previous champion; the ledger records every move.
    assert main(["models", "rollback", "fraud"]) == 0
    assert str(champion(ws, "fraud").version) == first.registered_version
    moves = registry.history(ws, "fraud")
    assert [m["action"] for m in moves] == ["promote", "promote", "rollback"]
    assert moves[-1]["from_version"] == better.registered_version
    assert main(["models", "promote", "fraud", better.registered_version]) == 0
    assert str(champion(ws, "fraud").version) == better.registered_version
    # A champion trained on another feature contract is never compared silently.
    client = tracking.connect(ws)
    client.set_model_version_tag("pomona-fraud", better.registered_version, "feature_fingerprint", "0123456789abcdef")
    refused = train("fraud", str(good), seed=0, ws=ws)
    assert not refused.promoted and "--accept-contract-change" in refused.reason
    accepted = train("fraud", str(good), seed=0, ws=ws, accept_contract_change=True)
    assert accepted.promoted and str(champion(ws, "fraud").version) == accepted.registered_version
    assert registry.history(ws, "fraud")[-1]["details"]["contract_change"] is True
    reset_cache()


def test_interrupted_job_leaves_the_alias_and_marks_runs_failed(tmp_path, monkeypatch):
    monkeypatch.setenv("POMONA_HOME", str(tmp_path / "home"))
    ws = small_world(tmp_path / "home", ["ranking"])
    good = write_config(tmp_path, "ranking", FAST["ranking"])
    first = train("ranking", str(good), seed=0, ws=ws)
    mod = task("ranking")
    real = mod.evaluate
    calls = {"n": 0}

    def interrupted(bundle, data, cfg, part="test"):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(bundle, data, cfg, part)

    monkeypatch.setattr(mod, "evaluate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train("ranking", str(good), seed=0, ws=ws)
    assert str(champion(ws, "ranking").version) == first.champion_version
    runs = mlflow.search_runs(experiment_names=["pomona-ranking"], output_format="list")
    statuses = sorted(r.info.status for r in runs)
    assert statuses.count("FAILED") == 2  # the parent and the candidate it was in
    reset_cache()


def test_bad_config_is_rejected_with_the_key(world, tmp_path):
    bad = write_config(tmp_path, "fraud", {"lightgbm": {"n_estimatorz": 5}})
    with pytest.raises(PomonaError, match="n_estimatorz"):
        train("fraud", str(bad), ws=world)
    typo = tmp_path / "typo.yaml"
    typo.write_text("candidates: {logistic: {}}\nspilt: {kind: temporal}\n")
    with pytest.raises(PomonaError, match="spilt"):
        train("fraud", str(typo), ws=world)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("candidates: {logistic: {}}\nsplit: {test_fraction: lots}\n")
    with pytest.raises(PomonaError, match="test_fraction"):
        train("fraud", str(wrong), ws=world)
    unknown = write_config(tmp_path, "fraud", {"xgboost": {}})
    with pytest.raises(PomonaError, match="unknown candidate 'xgboost'"):
        train("fraud", str(unknown), ws=world)


def _runs_and_versions(ws, use_case):
    client = tracking.connect(ws)
    runs = mlflow.search_runs(experiment_names=[f"pomona-{use_case}"], output_format="list")
    versions = client.search_model_versions(f"name='pomona-{use_case}'")
    return runs, versions


def test_empty_training_window_fails_cleanly(world, tmp_path):
    runs_before, versions_before = _runs_and_versions(world, "fraud")
    cfg = write_config(tmp_path, "fraud", FAST["fraud"], split={"test_start": "2019-01-01"})
    with pytest.raises(PomonaError, match="empty training part"):
        train("fraud", str(cfg), ws=world)
    runs, versions = _runs_and_versions(world, "fraud")
    new = [r for r in runs if r.info.run_id not in {x.info.run_id for x in runs_before}]
    assert len(new) == 1 and new[0].info.status == "FAILED"
    assert len(versions) == len(versions_before)


def test_single_class_labels_fail_cleanly(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("POMONA_HOME", str(home))
    ws = workspace(home)
    from pomona.data.writer import DatasetWriter

    t = pd.date_range("2025-01-01", periods=200, freq="h", tz="UTC")
    tx = pd.DataFrame({"transaction_id": range(200), "account_id": np.arange(200) % 7, "merchant_id": 1,
                       "event_timestamp": t, "amount": 10.0, "is_fraud": 0})
    with DatasetWriter(ws, "fraud", "tiny") as w:
        w.append("transactions", tx)
    features.apply(ws)
    with pytest.raises(PomonaError, match="single class"):
        train("fraud", str(write_config(tmp_path, "fraud", FAST["fraud"])), ws=ws)
    runs, versions = _runs_and_versions(ws, "fraud")
    assert [r.info.status for r in runs] == ["FAILED"] and not versions
    reset_cache()


def test_no_features_applied_is_one_line(tmp_path):
    home = tmp_path / "home"
    env = {"POMONA_HOME": str(home)}
    pomona = str(Path(sys.executable).parent / "pomona")
    import os

    assert subprocess.run([pomona, "data", "generate"], env={**os.environ, **env}, capture_output=True).returncode == 0
    proc = subprocess.run([pomona, "train", "fraud"], env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ") and "features apply" in proc.stderr
    proc = subprocess.run([pomona, "train", "fraudd"], env={**os.environ, **env}, capture_output=True, text=True)
    assert proc.returncode == 2 and "fraudd" in proc.stderr and "Traceback" not in proc.stderr
