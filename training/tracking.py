"""The MLflow adapter: tracking URI from the store config, one experiment per use case,
provenance (FeatureService, fingerprint, data window and hash, library versions, git commit),
plots, and candidates logged as pyfunc models with a signature and an input example."""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import pickle
import subprocess
import tempfile
import warnings
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from models.scoring import ModelBundle
from pomona.config import load_config
from pomona.workspace import Workspace

for noisy in ("mlflow", "alembic", "urllib3"):
    logging.getLogger(noisy).setLevel(logging.ERROR)
warnings.filterwarnings("ignore", module="mlflow")
warnings.filterwarnings("ignore", message=".*Integer columns in Python cannot represent missing values.*")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("MLFLOW_TRACKING_SERVER_CERT_PATH", "")

LIBRARIES = ("pomona", "feast", "mlflow", "lightgbm", "scikit-learn", "torch", "pandas", "numpy", "bentoml")
REPO = Path(__file__).resolve().parents[1]


def connect(ws: Workspace) -> MlflowClient:
    """Point MLflow at the workspace's tracking store (default: SQLite under $POMONA_HOME)."""
    cfg = load_config(ws=ws).mlflow
    ws.ensure_writable()
    mlflow.set_tracking_uri(cfg.tracking_uri)
    mlflow.set_registry_uri(cfg.tracking_uri)
    return MlflowClient(cfg.tracking_uri)


def experiment(ws: Workspace, use_case: str) -> str:
    """The use case's experiment id (created with artifacts under the configured location)."""
    client = connect(ws)
    name = f"pomona-{use_case}"
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = load_config(ws=ws).mlflow.artifact_location
    if "://" not in location:
        location = Path(location).resolve().as_uri()
    return client.create_experiment(name, artifact_location=f"{location.rstrip('/')}/{use_case}")


# The run API the job uses, from this adapter only (MLflow's fluent API on the active run).
start_run = mlflow.start_run
end_run = mlflow.end_run
log_params = mlflow.log_params
log_metrics = mlflow.log_metrics
set_tags = mlflow.set_tags


def fail_open_runs(parent_id: str) -> None:
    """Mark the nested runs still open, and the parent, FAILED (a job that did not finish)."""
    while mlflow.active_run() is not None:
        run = mlflow.active_run()
        mlflow.end_run(status="FAILED")
        if run.info.run_id == parent_id:
            break
    try:
        MlflowClient().set_terminated(parent_id, status="FAILED")
    except MlflowException:
        pass


def search_runs(ws: Workspace, use_case: str) -> pd.DataFrame:
    """Every run of the use case's experiment, newest first (MLflow's ``search_runs`` frame)."""
    connect(ws)
    return mlflow.search_runs(experiment_ids=[experiment(ws, use_case)], order_by=["attributes.start_time DESC"])


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def library_versions() -> dict[str, str]:
    out = {}
    for lib in LIBRARIES:
        try:
            out[f"version.{lib}"] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            out[f"version.{lib}"] = "absent"
    return out


def frame_hash(frame: pd.DataFrame) -> str:
    """A content hash of a frame (values and column names), stable across runs."""
    h = hashlib.sha256(",".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def log_training_data(frame: pd.DataFrame, *, name: str, label: str, window: tuple, service: str,
                      fingerprint: str) -> str:
    """Record the training frame as an MLflow dataset (with its hash as digest) plus tags."""
    digest = frame_hash(frame)
    sample = frame.head(1000).copy()
    for col in sample.columns:
        if isinstance(sample[col].dtype, pd.DatetimeTZDtype):
            sample[col] = sample[col].dt.tz_convert("UTC").dt.tz_localize(None)
    dataset = mlflow.data.from_pandas(sample, name=f"{name} ({service})", digest=digest,
                                      targets=label if label in sample.columns else None)
    mlflow.log_input(dataset, context="training")
    mlflow.set_tags({"feature_service": service, "feature_fingerprint": fingerprint, "data.rows": len(frame),
                     "data.hash": digest, "data.window_start": str(window[0]), "data.window_end": str(window[1]),
                     "git_commit": git_commit(), **library_versions()})
    return digest


def requirements(use_case: str) -> list[str]:
    """Pinned requirements of a logged model (stated, so MLflow need not infer them by
    re-importing the model in a subprocess, which took seconds per model)."""
    from models.scoring import requirements as extra

    libs = ["mlflow", "scikit-learn", "lightgbm", "pandas", "numpy", "pyarrow", "scipy", "cloudpickle",
            *extra(use_case)]
    return [f"{lib}=={importlib.metadata.version(lib)}" for lib in libs]


def log_figure(fig, path: str) -> None:
    import matplotlib.pyplot as plt

    mlflow.log_figure(fig, path)
    plt.close(fig)


def log_bundle(bundle: ModelBundle, input_example: pd.DataFrame, params: dict | None = None) -> str:
    """Log the bundle as a pyfunc model (signature inferred from a real prediction); return its URI."""
    from models.scoring import score
    from training.pyfunc import PomonaModel

    example = _naive_times(input_example)
    output = score(bundle, input_example, **(params or {}))
    signature = infer_signature(example, _naive_times(output), params=params or None)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bundle.pkl"
        path.write_bytes(pickle.dumps(bundle))
        info = mlflow.pyfunc.log_model(name="model", python_model=PomonaModel(), artifacts={"bundle": str(path)},
                                       signature=signature, input_example=example,
                                       pip_requirements=requirements(bundle.use_case),
                                       code_paths=[str(REPO / "models"), str(REPO / "training")],
                                       metadata={"use_case": bundle.use_case, "feature_service": bundle.feature_service,
                                                 "feature_fingerprint": bundle.fingerprint, "dataset": bundle.dataset})
    return info.model_uri


def _naive_times(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.DatetimeTZDtype):
            frame[col] = frame[col].dt.tz_convert("UTC").dt.tz_localize(None)
    return frame
