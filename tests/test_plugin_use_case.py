"""A fifth use case from outside the source tree: ``returns`` (will an order be returned?).

``tests/returns_plugin/pomona_returns`` is copied into a temporary folder with a
``.dist-info`` that declares its ``pomona.use_cases`` entry point, and put on ``PYTHONPATH``:
that is all a team does to add a use case (``pip install`` of their package writes the same
entry point). Without editing any file of Pomona, the use case then goes through the real CLI:
data generate, features apply and materialize, train, serve over HTTP, score a file, and plan a
SageMaker deployment. docs/architecture.md shows the files it consists of: exactly these.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest
from conftest import ROOT, free_port, wait_ready
from test_serving import stop_server

pytestmark = pytest.mark.slow  # ~2 minutes on 2 cores: a world, a training job, a server

POMONA = str(Path(sys.executable).parent / "pomona")
PLUGIN = Path(__file__).with_name("returns_plugin")
ENTRY_POINTS = "[pomona.use_cases]\nreturns = pomona_returns:RETURNS\n"
SOURCE_DIRS = ("pomona", "features", "models", "training", "serving", "configs")


def _tree_digest() -> str:
    """A digest of every source and config file of the project."""
    h = hashlib.sha256()
    for d in SOURCE_DIRS:
        for path in sorted((ROOT / d).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    return h.hexdigest()


def install_plugin(dest: Path) -> Path:
    """The plugin package plus the metadata ``pip install`` would write for it."""
    shutil.copytree(PLUGIN / "pomona_returns", dest / "pomona_returns",
                    ignore=shutil.ignore_patterns("__pycache__"))
    info = dest / "pomona_returns-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pomona-returns\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return dest


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plugin")
    site = install_plugin(tmp / "site")
    env = {**os.environ, "POMONA_HOME": str(tmp / "home"), "BENTOML_DO_NOT_TRACK": "True",
           "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    return tmp, env


def pomona(env, *args, timeout=600) -> subprocess.CompletedProcess:
    proc = subprocess.run([POMONA, *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, f"pomona {' '.join(args)} failed:\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr
    return proc


def test_a_use_case_from_outside_the_tree_runs_end_to_end(plugin_env):
    tmp, env = plugin_env
    before = _tree_digest()

    assert "returns" in pomona(env, "data", "generate", "--scale", "small").stdout
    applied = pomona(env, "features", "apply", "returns").stdout
    assert "returns_v1: 2 views (returns_user_history, returns_order)" in applied
    pomona(env, "features", "materialize", "returns")

    result = json.loads(pomona(env, "train", "returns", "--json").stdout)
    assert result["winner"] == "logistic" and result["promoted"] and result["champion_version"] == "1"
    auc = result["candidates"][0]["metrics"]["roc_auc"]
    assert 0.6 < auc < 1.0, auc  # the documented pattern is found on the held-out period

    # Served over HTTP by `pomona serve returns`: the endpoint the plugin declares.
    port, log = free_port(), tmp / "serve.log"
    proc = subprocess.Popen([POMONA, "serve", "returns", "--port", str(port)], env={**env, "POMONA_RELOAD_SECONDS": "1"},
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            wait_ready(client, proc, log)
            r = client.post("/predict_return", json={"order_id": 1, "user_id": 3, "price": 25.0})
            assert r.status_code == 200, r.text
            body = r.json()
            assert 0.0 < body["return_probability"] < 1.0 and body["model_version"] == "1"
            bad = client.post("/predict_return", json={"order_id": 1, "user_id": 3})  # price missing
            assert bad.status_code == 400 and "price" in bad.text
            assert "/predict_return" in client.get("/docs.json").text
    finally:
        stop_server(proc)

    # Batch scoring: point-in-time features from the offline store, the same scorer.
    orders = pd.read_parquet(next((tmp / "home" / "data" / "returns").glob("orders.parquet")))
    rows = orders[["order_id", "user_id", "event_timestamp", "price"]].tail(50)
    rows.to_parquet(tmp / "orders.parquet")
    pomona(env, "score", "returns", "--input", str(tmp / "orders.parquet"), "--output", str(tmp / "scored.parquet"))
    scored = pd.read_parquet(tmp / "scored.parquet")
    assert len(scored) == 50 and list(scored["order_id"]) == list(rows["order_id"])
    assert scored["return_probability"].between(0, 1).all() and (scored["model_version"] == 1).all()

    # A SageMaker deployment plan (nothing is called).
    plan = json.loads(pomona(env, "deploy", "sagemaker", "returns", "--dry-run", "--role-arn",
                             "arn:aws:iam::123456789012:role/pomona", "--region", "eu-west-1", "--bucket",
                             "pomona-models").stdout)
    assert plan["use_case"] == "returns" and plan["feature_service"] == "returns_v1"
    assert plan["model_name"].startswith("pomona-returns-v1-")

    listed = json.loads(pomona(env, "models", "list", "--json").stdout)
    assert {"use_case": "returns", "champion_version": "1"}.items() <= next(
        r for r in listed if r["use_case"] == "returns").items()
    assert _tree_digest() == before, "running the plugin changed a file of the project"


def test_without_the_plugin_the_use_case_is_unknown(tmp_path):
    proc = subprocess.run([POMONA, "train", "returns"], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "POMONA_HOME": str(tmp_path)})
    assert proc.returncode != 0 and "'returns' is not one of" in proc.stderr and "Traceback" not in proc.stderr


def test_a_broken_plugin_is_one_line(tmp_path):
    site = install_plugin(tmp_path / "site")
    (site / "pomona_returns" / "__init__.py").write_text("raise ImportError('no such thing')\n")
    proc = subprocess.run([POMONA, "data", "show"], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "POMONA_HOME": str(tmp_path), "PYTHONPATH": str(site)})
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "use case plugin 'returns'" in proc.stderr and "no such thing" in proc.stderr


def test_the_architecture_doc_lists_exactly_the_plugin_files():
    """docs/architecture.md shows the files of a use case: the ones this test installs."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = re.search(r"<!-- plugin-files -->\s*```text\n(.*?)```", text, re.S)
    assert block, "docs/architecture.md lacks the plugin-files block"
    listed = {line.split("#")[0].strip() for line in block.group(1).splitlines() if line.split("#")[0].strip()}
    shipped = {str(p.relative_to(PLUGIN)) for p in PLUGIN.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    shipped.add("pomona_returns-0.1.dist-info/entry_points.txt")
    assert listed == shipped
    assert ENTRY_POINTS.strip().splitlines()[1] in text
