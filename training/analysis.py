"""What a data scientist asks after ``train``: the runs as a table, the champion, its held-out
data and its error plots. The notebooks call these; each is a plain function over MLflow and
the use case's own ``prepare``/``evaluate`` (the code the training job runs)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from models.scoring import ModelBundle
from pomona.data.writer import read_manifest
from pomona.usecases import check_use_case
from pomona.workspace import Workspace, workspace
from training import registry, tracking
from training.common import Data
from training.config import TrainConfig, load_train_config
from training.job import task, twin_of


def runs(use_case: str, ws: Workspace | None = None) -> pd.DataFrame:
    """One row per candidate run of the use case's experiment (newest first): the candidate, its
    metrics (``metrics.*``), the training job it belongs to and when it ran."""
    frame = tracking.search_runs(ws or workspace(), check_use_case(use_case))
    if frame.empty or "tags.mlflow.parentRunId" not in frame.columns:
        return frame
    frame = frame[frame["tags.mlflow.parentRunId"].notna()].copy()
    frame["candidate"] = frame["tags.mlflow.runName"]
    keep = ["candidate", "run_id", "tags.mlflow.parentRunId", "start_time",
            *sorted(c for c in frame.columns if c.startswith("metrics."))]
    return frame[[c for c in keep if c in frame.columns]].reset_index(drop=True)


def compare(frame: pd.DataFrame, metric: str, title: str | None = None):
    """A bar chart of ``metric`` per candidate (the latest run of each)."""
    col = metric if metric.startswith("metrics.") else f"metrics.{metric}"
    latest = frame.drop_duplicates("candidate").set_index("candidate")[col].sort_values()
    fig, ax = plt.subplots(figsize=(5, 0.5 + 0.4 * len(latest)))
    latest.plot.barh(ax=ax, color="#4c72b0")
    ax.set_xlabel(col.removeprefix("metrics."))
    ax.set_title(title or f"{col.removeprefix('metrics.')} by candidate")
    for i, v in enumerate(latest):
        ax.text(v, i, f" {v:.4f}", va="center")
    fig.tight_layout()
    return fig


def champion(use_case: str, ws: Workspace | None = None) -> tuple[str, ModelBundle]:
    """The champion's version and the bundle it scores with (the one loader: contract checked)."""
    model = registry.load_model(check_use_case(use_case), ws or workspace())
    return model.version, model.bundle


def held_out(use_case: str, ws: Workspace | None = None, config: TrainConfig | str | None = None) -> Data:
    """The use case's training frame split as the training job splits it."""
    ws = ws or workspace()
    cfg = config if isinstance(config, TrainConfig) else load_train_config(use_case, config)
    return task(use_case).prepare(ws, cfg, read_manifest(ws, use_case))


def error_plots(use_case: str, bundle: ModelBundle, data: Data, config: TrainConfig | str | None = None):
    """The metrics and figures of ``bundle``'s recipe on the test part, as the job logs them: the
    registered champion was refit on every row, test part included, so its recipe is refit on
    the rows before the test part first (:func:`training.job.twin_of`)."""
    cfg = config if isinstance(config, TrainConfig) else load_train_config(use_case, config)
    return task(use_case).evaluate(twin_of(bundle, data, cfg), data, cfg, "test")
