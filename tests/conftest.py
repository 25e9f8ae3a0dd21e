"""Shared fixtures: every test runs in its own temporary ``$POMONA_HOME``."""

from __future__ import annotations

import os

# Two xdist workers share the 2 cores, and the tests start servers and training jobs of their own:
# one OpenMP thread per process, sleeping when idle, instead of every process spinning on both
# cores (the demo test took 206 s in a 2-worker run, ~35 s alone). Subprocesses inherit both.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path  # noqa: E402

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("POMONA_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh, empty workspace; ``$POMONA_HOME`` points at it for the test."""
    path = tmp_path / "pomona-home"
    monkeypatch.setenv("POMONA_HOME", str(path))
    return path


@pytest.fixture
def ws(home):
    from pomona.workspace import workspace

    return workspace(home)


def shared(relative: str) -> Path:
    """A path in ``../shared/data``; skips the test with a reason when it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real dataset not available at {path}")
    return path


def assert_same_values(a, b, label: str = "") -> None:
    """Two columns hold the same values: numbers within 1e-9, nulls in the same places."""
    import numpy as np
    import pandas as pd

    a_num, b_num = pd.to_numeric(a, errors="coerce"), pd.to_numeric(b, errors="coerce")
    numeric = (a_num.notna() | a.isna()).all() and (b_num.notna() | b.isna()).all()
    if numeric:
        np.testing.assert_allclose(a_num.astype(float), b_num.astype(float), rtol=1e-9, err_msg=label)
    else:
        norm = lambda s: [None if pd.isna(v) else str(v) for v in s]  # noqa: E731
        assert norm(a) == norm(b), label


def small_world(home: Path, use_cases: list[str] | None = None):
    """Generate the small synthetic marketplace in ``home`` and apply its features."""
    import features
    from pomona.data.generate import generate
    from pomona.workspace import workspace

    ws = workspace(home)
    generate(ws, scale="small", seed=0, progress=False)
    features.apply(ws, use_cases)
    return ws


def train_champions(ws, tmp: Path, candidates: dict[str, dict]) -> None:
    """Train each use case's ``candidates`` (a YAML config per use case in ``tmp``) and assert
    that the winner became the champion."""
    import yaml

    from training.job import train

    for use_case, cands in candidates.items():
        cfg = tmp / f"{use_case}.yaml"
        cfg.write_text(yaml.safe_dump({"candidates": cands}))
        assert train(use_case, str(cfg), seed=0, ws=ws).promoted


@pytest.fixture(scope="module")
def module_world(tmp_path_factory):
    """One small world with features applied, shared by a test module (POMONA_HOME set)."""
    from features.store import reset_cache

    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("world") / "home"
    mp.setenv("POMONA_HOME", str(home))
    yield small_world(home)
    reset_cache()
    mp.undo()


AWS_REGION = "us-east-1"  # the SageMaker tests' region (local mode and moto)
SAGEMAKER_ROLE = "arn:aws:iam::123456789012:role/pomona-sagemaker"
SAGEMAKER_BUCKET = "pomona-test-models"


def offline_aws(mp: pytest.MonkeyPatch) -> None:
    """Fake credentials and ``AWS_DEFAULT_REGION`` (``import sagemaker.serve`` needs a region),
    and no profile, session token or endpoint of the machine's own, through ``mp`` (undone with
    it): a stray AWS call cannot reach a real account."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": AWS_REGION}.items():
        mp.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        mp.delenv(key, raising=False)


@pytest.fixture
def aws_calls(monkeypatch):
    """Every botocore API call made in the test: (service, operation, params)."""
    import botocore.client

    calls = []
    real = botocore.client.BaseClient._make_api_call

    def record(self, operation, params):
        calls.append((self.meta.service_model.service_name, operation, params))
        return real(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    return calls


def sagemaker_config(tmp_path: Path, **extra):
    """A SageMaker deployment configuration (the test role, region and bucket, plus ``extra``),
    written to ``tmp_path/sagemaker.yaml`` and loaded as ``pomona deploy sagemaker`` loads it."""
    import yaml

    from serving.sagemaker.config import load_config

    path = tmp_path / "sagemaker.yaml"
    path.write_text(yaml.safe_dump({"region": AWS_REGION, "role_arn": SAGEMAKER_ROLE, "bucket": SAGEMAKER_BUCKET,
                                    **extra}))
    return load_config(path)


def sagemaker_model_data(use_case: str, ws, tmp_path: Path, mp: pytest.MonkeyPatch):
    """The champion of ``use_case`` packaged as a SageMaker model's data (``model.tar.gz``),
    extracted as the container does, and loaded by the container's ``model_fn`` with the
    manifest and store configuration the deployment's environment names (set through ``mp``,
    undone with it): ``(plan, extracted folder, model_fn's model)``."""
    import tarfile

    from serving.sagemaker import deploy, inference

    cfg = sagemaker_config(tmp_path, store_config=str(ROOT / "configs" / "workspace.yaml"))
    p = deploy.plan(use_case, cfg, ws)
    archive = deploy.package(p, cfg, ws, tmp_path / "pkg")
    extracted = tmp_path / "opt-ml-model"
    with tarfile.open(archive) as tar:
        tar.extractall(extracted, filter="data")
    mp.setenv("POMONA_BENTO_MANIFEST", str(extracted / "pomona_bento.json"))
    mp.setenv("POMONA_CONFIG", str(extracted / "pomona_store.yaml"))
    return p, extracted, inference.model_fn(str(extracted))


def invoke_model_data(model, request: dict) -> dict:
    """``request`` answered through the container's ``input_fn``, ``predict_fn`` and ``output_fn``
    (the JSON body in, the JSON body out) by ``model`` from :func:`sagemaker_model_data`."""
    import json

    from serving.sagemaker import inference

    body = inference.input_fn(json.dumps(request), "application/json")
    return json.loads(inference.output_fn(inference.predict_fn(body, model), "application/json"))


READY_TIMEOUT = 150  # seconds for a served model to load on 2 busy cores


def wait_ready(client, proc, log: Path, timeout: float = READY_TIMEOUT) -> None:
    """Poll ``/readyz`` through ``client`` until 200; fail with the server's ``log`` tail if
    ``proc`` exits or ``timeout`` passes."""
    import time

    import httpx

    deadline = time.time() + timeout
    while True:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.time() < deadline, "server not ready: " + log.read_text()[-3000:]
        time.sleep(0.5)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(port: int, workdir: Path):
    """A real redis-server on 127.0.0.1:``port`` (no persistence), started and reachable."""
    import shutil
    import socket
    import subprocess
    import time

    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed (.ci/run installs it with apt-get)"
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    proc.wait(10)
    pytest.fail("redis-server did not start")
