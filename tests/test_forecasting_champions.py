"""A forecasting champion of any kind answers the same everywhere: a combination of a
statistical model and the global LightGBM served over HTTP (a real server on a loopback port),
scored in batch and loaded as the MLflow pyfunc gives the same forecast for the same series
and origin; a per-series choice answers the same through the handler, batch and the pyfunc."""

from __future__ import annotations

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import free_port, wait_ready
from test_serving import post, start_server, stop_server

from pomona.schemas import SERIES_ID, TS
from serving import forecasting as served
from serving import runtime
from serving.batch import score_file
from training.job import train

pytestmark = pytest.mark.slow  # a world, two trainings, a server

LGBM = {"n_estimators": 40, "n_jobs": 1}
CONFIGS = {
    "combination": {"combination": {"members": ["dynamic_theta", "lightgbm"], "how": "mean",
                                    "member_params": {"lightgbm": LGBM}}},
    "per_series": {"per_series": {"members": ["dynamic_theta", "lightgbm"], "windows": 1,
                                  "member_params": {"lightgbm": LGBM}}},
}
SERIES, H = "8-200", 7


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


def test_per_series_choice_answers_the_same_through_the_handler_batch_and_pyfunc(trained, tmp_path):
    ws, _ = trained
    version = train_config(ws, tmp_path, "per_series").registered_version
    loaded, want, future = pyfunc_forecast(ws, version)
    assert set(loaded.bundle.estimator.choice_.unique()) <= {"dynamic_theta", "lightgbm", "combination"}
    request = served.request_model(ws)(series_id=SERIES, horizon=H)
    got = served.handle(request, runtime.Champion.fixed(loaded, ws), ws)
    assert got.model_version == version
    np.testing.assert_allclose([s.yhat for s in got.forecast], want["yhat"], rtol=1e-9)
    out = batch_forecast(ws, version, want, future, tmp_path)
    np.testing.assert_allclose(out["yhat"], want["yhat"], rtol=1e-9)
