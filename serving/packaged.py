"""A champion packaged with its manifest (``pomona_bento.json``): what a Bento and SageMaker's
model data both carry.

The manifest sits at the root of the packaged sources (beside this package) or where
``$POMONA_BENTO_MANIFEST`` points. When one exists, :func:`serving.runtime.load_version` loads
the packaged model folder (through the same loader and contract check as the registry) instead
of the MLflow registry, and the store configuration packaged with it is the default. Nothing is
patched: the runtime asks :func:`entry` on every load.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SRC = Path(__file__).resolve().parents[1]  # the packaged source folder (the repository in development)
MANIFEST_NAME = "pomona_bento.json"


def manifest_path() -> Path | None:
    raw = os.environ.get("POMONA_BENTO_MANIFEST")
    path = Path(raw) if raw else SRC / MANIFEST_NAME
    return path if path.is_file() else None


def read_manifest(path: Path) -> dict:
    return json.loads(path.read_text())


def entry(use_case: str) -> dict | None:
    """The packaged model of ``use_case`` (``{"version", "path", ...}``), or None outside a package."""
    path = manifest_path()
    if path is None:
        return None
    found = read_manifest(path).get("models", {}).get(use_case)
    return {**found, "root": str(path.parent)} if found else None


def model_dir(found: dict) -> Path:
    return Path(found["root"]) / found["path"]


def use_packaged_store_config() -> bool:
    """Make the store configuration packaged beside the manifest the default (``$POMONA_CONFIG``
    still wins); True inside a package."""
    path = manifest_path()
    if path is None:
        return False
    store = path.parent / read_manifest(path).get("store_config", "")
    if store.is_file():
        os.environ.setdefault("POMONA_CONFIG", str(store))
    return True
