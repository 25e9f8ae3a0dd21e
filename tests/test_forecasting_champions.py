"""A forecasting champion of any kind answers the same everywhere: a combination of a
statistical model and the global LightGBM served over HTTP (a real server on a loopback port),
scored in batch, loaded as the MLflow pyfunc, deployed in SageMaker local mode (the SDK's
ModelBuilder in-process) and packaged as a SageMaker model's data (through the container's entry
points) gives the same forecast and intervals for the same series and origin; a per-series choice
answers the same through the handler, batch, the pyfunc and SageMaker local mode."""

from __future__ import annotations

import json

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import free_port, invoke_model_data, offline_aws, sagemaker_model_data, wait_ready
from test_serving import post, start_server, stop_server

from pomona.schemas import SERIES_ID, TS
from serving import forecasting as served
from serving import runtime
from serving.batch import score_file
from serving.sagemaker import deploy
from serving.sagemaker.config import load_config
from training import registry, tracking
from training.job import train

pytestmark = pytest.mark.slow  # a world, two trainings, a server, two SageMaker local endpoints, a package

LGBM = {"n_estimators": 40, "n_jobs": 1}
CONFIGS = {
    "combination": {"combination": {"members": ["dynamic_theta", "lightgbm"], "how": "mean",
                                    "member_params": {"lightgbm": LGBM}}},
    "per_series": {"per_series": {"members": ["dynamic_theta", "lightgbm"], "windows": 1,
                                  "member_params": {"lightgbm": LGBM}}},
}
SERIES, H = "8-200", 7
STORE, PRODUCT = 8, 200  # SERIES's parts: the synthetic marketplace's series are store-product pairs
INTERVAL = ("yhat", "yhat_lower", "yhat_upper")
# What a SageMaker endpoint is asked: SERIES by its id and by its parts, a shorter horizon, and a
# series the model was not fit on (the cold-start answer).
SAGEMAKER_REQUESTS = [{"series_id": SERIES, "horizon": H}, {"store_id": STORE, "product_id": PRODUCT, "horizon": H},
                      {"series_id": SERIES, "horizon": 3}, {"series_id": "no-such-series", "horizon": 2}]


def train_config(ws, tmp, name: str):
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"candidates": CONFIGS[name]}))
    result = train("forecasting", str(path), seed=0, ws=ws, log=lambda m: None)
    assert result.winner == name
    return result


@pytest.fixture(scope="module")
def trained(module_world, tmp_path_factory):
    """Version 1, the champion: the combination."""
    result = train_config(module_world, tmp_path_factory.mktemp("configs"), "combination")
    assert result.promoted
    return module_world, result


def pyfunc_forecast(ws, version: str) -> tuple[runtime.Loaded, pd.DataFrame, pd.DataFrame]:
    """The registered version's forecast of SERIES as the MLflow pyfunc answers it, from the
    inputs serving builds (returned too)."""
    loaded = runtime.load_version("forecasting", ws, version)
    future = served._future(loaded, loaded.bundle.estimator, [SERIES], H)
    naive = future.copy()
    if TS in naive.columns:
        naive[TS] = naive[TS].dt.tz_localize(None)  # naive: MLflow's schema
    model = mlflow.pyfunc.load_model(f"models:/pomona-forecasting/{version}")
    out = model.predict(naive, params={"horizon": H}).reset_index(drop=True)
    assert len(out) == H and out["yhat"].notna().all()
    return loaded, out, future


def batch_forecast(ws, version: str, steps: pd.DataFrame, future: pd.DataFrame, tmp_path) -> pd.DataFrame:
    """The same steps scored from a file, each row with the inputs serving carried forward."""
    rows = pd.DataFrame({SERIES_ID: SERIES, TS: pd.to_datetime(steps[TS], utc=True)})
    exog = [c for c in future.columns if c not in (SERIES_ID, TS)]
    if exog:
        rows = rows.merge(future.assign(**{TS: pd.to_datetime(future[TS], utc=True)}), on=[SERIES_ID, TS])
    rows.to_parquet(tmp_path / "steps.parquet", index=False)
    summary = score_file("forecasting", tmp_path / "steps.parquet", tmp_path / "out.parquet", model_version=version,
                         ws=ws, progress=False)
    return pd.read_parquet(summary["output"])


def assert_answers_as_the_handler_and_the_pyfunc(where: str, ws, version: str, want: pd.DataFrame,
                                                 got: list[dict]) -> None:
    """``got``, what ``where`` answered to each of SAGEMAKER_REQUESTS, is exactly what the serving
    handler answers on ``version`` (the whole JSON answer: forecast, intervals, dates, version,
    cold start), and SERIES's forecast and intervals are exactly the pyfunc's ``want``."""
    champion = runtime.Champion.fixed(runtime.load_version("forecasting", ws, version), ws)
    model = served.request_model(ws)
    for request, answer in zip(SAGEMAKER_REQUESTS, got, strict=True):
        assert "error" not in answer, (where, request, answer)
        handled = served.handle(model.model_validate(request), champion, ws).model_dump(mode="json")
        assert answer == handled, f"{where} and the handler differ for {request}"
    by_id, by_parts, shorter, cold = got
    assert by_parts == by_id and cold["cold_start"] is True and len(shorter["forecast"]) == 3, where
    assert by_id["model_version"] == version and by_id["cold_start"] is False, where
    for col in INTERVAL:
        np.testing.assert_array_equal([s[col] for s in by_id["forecast"]], want[col].to_numpy(),
                                      err_msg=f"{where}'s {col} differs from the pyfunc's")
    assert [pd.Timestamp(s["date"]) for s in by_id["forecast"]] == list(pd.to_datetime(want[TS], utc=True)), where


def local_mode_answers(ws, version: str, monkeypatch, aws_calls) -> list[dict]:
    """SAGEMAKER_REQUESTS answered by SageMaker local mode (``deploy_local``: the SDK's
    ModelBuilder in-process), which deploys the champion, ``version``; no AWS call is made."""
    offline_aws(monkeypatch)
    monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")  # deploy_local sets it; undone after the test
    with deploy.deploy_local("forecasting", load_config(None), ws) as endpoint:
        assert endpoint.spec.version == version, "local mode deployed another version than the champion"
        got = [endpoint.invoke(request) for request in SAGEMAKER_REQUESTS]
    assert aws_calls == []  # local mode makes no AWS call
    return got


def test_combination_answers_the_same_over_http_in_batch_and_as_pyfunc(trained, tmp_path):
    ws, result = trained
    version = result.registered_version
    loaded, want, future = pyfunc_forecast(ws, version)
    est = loaded.bundle.estimator
    assert set(est.members_) == {"dynamic_theta", "lightgbm"}
    # The combination is the mean of its members' forecasts, intervals included.
    members = [m.predict(H, X_future=future if m.exog_ else None, series=[SERIES]) for m in est.members_.values()]
    for col in ("yhat", "yhat_lower", "yhat_upper"):
        np.testing.assert_allclose(want[col], np.mean([m[col].to_numpy() for m in members], axis=0), rtol=1e-9)

    out = batch_forecast(ws, version, want, future, tmp_path)
    for col in ("yhat", "yhat_lower", "yhat_upper"):
        np.testing.assert_allclose(out[col], want[col], rtol=1e-9)

    port, log = free_port(), tmp_path / "server.log"
    proc = start_server(ws.root, "forecasting", port, log)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            wait_ready(client, proc, log)
            r = post(client, "/forecast", {"series_id": SERIES, "horizon": H}).json()
    finally:
        stop_server(proc)
    assert r["model_version"] == version and r["cold_start"] is False
    np.testing.assert_allclose([s["yhat"] for s in r["forecast"]], want["yhat"], rtol=1e-9)
    np.testing.assert_allclose([s["yhat_lower"] for s in r["forecast"]], want["yhat_lower"], rtol=1e-9)
    assert [pd.Timestamp(s["date"]) for s in r["forecast"]] == list(pd.to_datetime(want[TS], utc=True))


def test_combination_answers_the_same_in_sagemaker_local_mode(trained, monkeypatch, aws_calls):
    ws, result = trained
    version = result.registered_version
    _, want, _ = pyfunc_forecast(ws, version)
    got = local_mode_answers(ws, version, monkeypatch, aws_calls)
    assert_answers_as_the_handler_and_the_pyfunc("SageMaker local mode", ws, version, want, got)


def test_combination_answers_the_same_from_sagemaker_model_data(trained, tmp_path, monkeypatch, aws_calls):
    """The model data a real endpoint gets (``model.tar.gz``, through the container's entry
    points) answers the same, and both its requirements (``code/requirements.txt``, which the
    container installs, and the packaged MLflow model's own) name the libraries whose objects
    the pickled members hold."""
    ws, result = trained
    version = result.registered_version
    _, want, _ = pyfunc_forecast(ws, version)
    offline_aws(monkeypatch)
    p, extracted, model = sagemaker_model_data("forecasting", ws, tmp_path, monkeypatch)
    assert p.version == version and model[1].current.version == version
    entry = json.loads((extracted / "pomona_bento.json").read_text())["models"]["forecasting"]
    for path in (extracted / "code" / "requirements.txt", extracted / entry["path"] / "requirements.txt"):
        pinned = {line.split("==")[0].strip() for line in path.read_text().splitlines()}
        assert {"statsforecast", "mlforecast", "utilsforecast", "lightgbm"} <= pinned, (path, sorted(pinned))
    got = [invoke_model_data(model, request) for request in SAGEMAKER_REQUESTS]
    assert_answers_as_the_handler_and_the_pyfunc("the SageMaker model data", ws, version, want, got)
    assert aws_calls == []


def test_per_series_choice_answers_the_same_through_the_handler_batch_pyfunc_and_sagemaker(
        trained, tmp_path, monkeypatch, aws_calls):
    ws, _ = trained
    result = train_config(ws, tmp_path, "per_series")
    version = result.registered_version
    loaded, want, future = pyfunc_forecast(ws, version)
    assert set(loaded.bundle.estimator.choice_.unique()) <= {"dynamic_theta", "lightgbm", "combination"}
    request = served.request_model(ws)(series_id=SERIES, horizon=H)
    got = served.handle(request, runtime.Champion.fixed(loaded, ws), ws)
    assert got.model_version == version
    np.testing.assert_allclose([s.yhat for s in got.forecast], want["yhat"], rtol=1e-9)
    out = batch_forecast(ws, version, want, future, tmp_path)
    np.testing.assert_allclose(out["yhat"], want["yhat"], rtol=1e-9)
    if not result.promoted:  # local mode deploys the champion: make this version the champion
        registry.promote(ws, tracking.connect(ws), "forecasting", version, "test: SageMaker local mode")
    got = local_mode_answers(ws, version, monkeypatch, aws_calls)
    assert_answers_as_the_handler_and_the_pyfunc("SageMaker local mode", ws, version, want, got)
