"""The model data of a SageMaker model: the code, the champion's MLflow model and the manifest
that :mod:`serving.packaged` reads, as ``model.tar.gz``."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

from pomona.errors import PomonaError
from pomona.usecases import layer_module
from pomona.workspace import Workspace
from serving.sagemaker.config import SageMakerConfig
from serving.sagemaker.plan import Plan

INFERENCE_ENTRY = '''"""SageMaker container entry points: Pomona's one scoring path (serving.sagemaker.inference)."""
from serving.sagemaker.inference import input_fn, model_fn, output_fn, predict_fn  # noqa: F401
'''


def package(p: Plan, cfg: SageMakerConfig, ws: Workspace, dest: Path) -> Path:
    """Write ``dest/model.tar.gz``: ``code/`` (the entry points, the project's packages and its
    pinned requirements), the champion's MLflow model (``pomona_model/<use-case>``), the manifest
    ``pomona_bento.json`` that :mod:`serving.packaged` reads, the endpoint's store
    configuration, and under ``workspace/`` the dataset, where the use case's serving module says
    its ``prepare`` reads it (``PACKAGE_DATA``)."""
    from serving.build import export_champion, requirements
    from serving.sagemaker.plan import CODE_PACKAGES, ROOT

    ctx = dest / "model"
    if ctx.exists():
        shutil.rmtree(ctx)
    code = ctx / "code"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for pkg in CODE_PACKAGES:
        shutil.copytree(ROOT / pkg, code / pkg, ignore=ignore)
    (code / "inference.py").write_text(INFERENCE_ENTRY)
    (code / "requirements.txt").write_text("\n".join(requirements()) + "\n")
    entry = export_champion(p.use_case, ws, ctx / "pomona_model" / p.use_case)
    if entry["version"] != p.version:
        raise PomonaError(f"the {p.use_case} champion moved from v{p.version} to v{entry['version']} while "
                          f"packaging; run the command again")
    (ctx / "pomona_bento.json").write_text(json.dumps({"use_cases": [p.use_case], "models": {p.use_case: entry},
                                                       "store_config": "pomona_store.yaml"}, indent=2))
    store = cfg.store_config_path()
    shutil.copyfile(store if store.is_file() else ROOT / "configs" / "workspace.yaml", ctx / "pomona_store.yaml")
    data = ws.dataset_dir(p.use_case)
    if getattr(layer_module(p.use_case, "serving"), "PACKAGE_DATA", False) and data.is_dir():
        shutil.copytree(data, ctx / "workspace" / data.relative_to(ws.root), ignore=ignore)
    archive = dest / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for item in sorted(ctx.iterdir()):
            tar.add(item, arcname=item.name)
    return archive
