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

import os

from serving.packaged import (MANIFEST_NAME, SRC, load_packaged, manifest_path, packaged_version,  # noqa: F401
                              read_manifest)


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
