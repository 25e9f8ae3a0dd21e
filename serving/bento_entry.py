"""The services of a built Bento: the same ``serving.service`` classes, answering with the
champion packaged inside the Bento instead of the MLflow registry.

``serving/build.py`` writes ``pomona_bento.json`` at the root of the Bento's source folder
(beside this package) and the champion's MLflow model folder under ``pomona_model/<use-case>/``.
When that manifest exists (or ``$POMONA_BENTO_MANIFEST`` names one), importing this module
points :mod:`serving.runtime` at the packaged model: :func:`load_packaged` replaces
``runtime.load_version`` (same feature-contract check, same ``prepare``) and the alias poll
always answers the packaged version, so a Bento never hot-reloads (it is immutable; ship a new
Bento to change the model). Without a manifest the module is the plain registry-backed service.

The feature store is not packaged: the Bento reads ``$POMONA_HOME`` (Feast registry, online
store, and for fraud the offline transactions that seed the account log), with the store
configuration copied into the Bento at build time (``pomona_store.yaml``) unless
``$POMONA_CONFIG`` overrides it.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

from pomona.errors import PomonaError
from pomona.workspace import Workspace

SRC = Path(__file__).resolve().parents[1]
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


def _use_packaged_models() -> bool:
    path = manifest_path()
    if path is None:
        return False
    store = path.parent / read_manifest(path).get("store_config", "")
    if store.is_file():
        os.environ.setdefault("POMONA_CONFIG", str(store))
    from serving import runtime

    # See the module docstring; the proposed runtime.py change makes this a configuration.
    runtime.load_version = load_packaged
    runtime.champion_alias_version = packaged_version
    return True


PACKAGED = _use_packaged_models()

from serving.service import SERVICES, All, Forecasting, Fraud, Ranking, Recommendations

__all__ = ["PACKAGED", "SERVICES", "All", "Forecasting", "Fraud", "Ranking", "Recommendations", "load_packaged"]
