"""A champion packaged with its manifest (``pomona_bento.json``): what a Bento and SageMaker's
model data both carry. Loading it has no side effect on :mod:`serving.runtime` (the Bento's
``serving.bento_entry`` makes the runtime use it; SageMaker's ``model_fn`` calls it directly)."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

from pomona.errors import PomonaError
from pomona.workspace import Workspace

SRC = Path(__file__).resolve().parents[1]  # the Bento's source folder
MANIFEST_NAME = "pomona_bento.json"


def manifest_path() -> Path | None:
    raw = os.environ.get("POMONA_BENTO_MANIFEST")
    path = Path(raw) if raw else SRC / MANIFEST_NAME
    return path if path.is_file() else None


def read_manifest(path: Path) -> dict:
    return json.loads(path.read_text())


def load_packaged(use_case: str, ws: Workspace, version: str | None = None):
    """The packaged champion of ``use_case`` as a :class:`runtime.Loaded` (contract checked)."""
    from serving import runtime
    from training import pyfunc

    path = manifest_path()
    entry = read_manifest(path).get("models", {}).get(use_case) if path else None
    if entry is None:
        raise PomonaError(f"this Bento does not package a {use_case} model")
    model_dir = path.parent / entry["path"]
    try:
        bundle = pyfunc.load_bundle(str(model_dir))
    except Exception as exc:  # MLflow raises many kinds (missing files, unpickling)
        raise PomonaError(f"cannot load the packaged {use_case} model at {model_dir}: "
                          f"{str(exc).splitlines()[0]}") from None
    runtime.check_contract(bundle, use_case, ws, entry["version"])
    prepare = getattr(importlib.import_module(f"serving.{use_case}"), "prepare", None)
    state = prepare(bundle, ws) if prepare else {}
    return runtime.Loaded(use_case, entry["version"], bundle, state)


def packaged_version(use_case: str, ws: Workspace) -> str | None:
    path = manifest_path()
    entry = read_manifest(path).get("models", {}).get(use_case) if path else None
    return entry["version"] if entry else None
