"""Importers: public datasets -> their use case's canonical tables (see :mod:`pomona.schemas`).

Each importer reads one format, checks it (md5 of known original files, columns, values)
before anything is written, and writes through :class:`~pomona.data.writer.DatasetWriter`,
so bad input raises a one-line :class:`~pomona.errors.PomonaError` and leaves the workspace
as it was. A dataset replaces only its own use case's data (and only with ``force``).

Each use case's data module lists its importers (``IMPORTERS = {name: "module:function"}``,
imported when used); this module collects them from every registered use case
(``pomona data formats`` lists them).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path

from pomona.errors import PomonaError
from pomona.schemas import Manifest
from pomona.usecases import layer_module, use_cases
from pomona.workspace import Workspace

Importer = Callable[..., Manifest]


def importers() -> dict[str, tuple[str, Importer]]:
    """Dataset name -> (use case, importer), over every registered use case."""
    out: dict[str, tuple[str, Importer]] = {}
    for uc in use_cases():
        for name, ref in getattr(layer_module(uc, "data"), "IMPORTERS", {}).items():
            out[name] = (uc, _resolve(ref))
    return out


def _resolve(ref: str | Importer) -> Importer:
    if callable(ref):
        return ref
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def __getattr__(attr: str):
    if attr == "IMPORTERS":  # dataset name -> importer, as registered now
        return {name: fn for name, (_, fn) in importers().items()}
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def import_dataset(ws: Workspace, dataset: str, path: str | os.PathLike[str], *,
                   test_path: str | os.PathLike[str] | None = None, frequency: str | None = None,
                   force: bool = False, verify_checksum: bool = True) -> Manifest:
    """Import ``dataset`` from ``path`` into ``ws`` and return the written manifest.

    ``test_path``: a separate test file (for datasets published as two files). ``frequency``:
    the subset of a multi-frequency collection (hourly, daily, ...; default from the file name).
    ``force`` replaces data the use case already holds; ``verify_checksum`` checks the md5 of
    known original files.
    """
    known = importers()
    if dataset not in known:
        raise PomonaError(f"unknown dataset {dataset!r}; expected one of: {', '.join(known)}")
    return known[dataset][1](ws, Path(path), test_path=Path(test_path) if test_path is not None else None,
                             frequency=frequency, force=force, verify_checksum=verify_checksum)


__all__ = ["IMPORTERS", "import_dataset", "importers"]
