"""Importers: public datasets -> their use case's canonical tables (see :mod:`pomona.schemas`).

Each importer reads one format, checks it (md5 of known original files, columns, values)
before anything is written, and writes through :class:`~pomona.data.writer.DatasetWriter`,
so bad input raises a one-line :class:`~pomona.errors.PomonaError` and leaves the workspace
as it was. A dataset replaces only its own use case's data (and only with ``force``).

=========================  ===============  ==========================================
name                       use case         input
=========================  ===============  ==========================================
movielens-100k             recommendations  GroupLens folder or ``u.data``
svmlight-ranking           ranking          folder with ``rank.train``/``rank.test``
vehicle-insurance-fraud    fraud            ``fraud_oracle.csv`` or its folder
creditcard-fraud           fraud            ``creditcard.csv`` or its folder
m4                         forecasting      ``<Freq>-train.csv``/``-test.csv`` or folder
=========================  ===============  ==========================================
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from pomona.data.importers.fraud_csv import import_creditcard, import_vehicle_insurance
from pomona.data.importers.m4 import import_m4
from pomona.data.importers.movielens import import_movielens
from pomona.data.importers.svmlight import import_svmlight
from pomona.errors import PomonaError
from pomona.schemas import Manifest
from pomona.workspace import Workspace

Importer = Callable[..., Manifest]

IMPORTERS: dict[str, Importer] = {
    "movielens-100k": import_movielens,
    "svmlight-ranking": import_svmlight,
    "vehicle-insurance-fraud": import_vehicle_insurance,
    "creditcard-fraud": import_creditcard,
    "m4": import_m4,
}

USE_CASE_OF: dict[str, str] = {
    "movielens-100k": "recommendations",
    "svmlight-ranking": "ranking",
    "vehicle-insurance-fraud": "fraud",
    "creditcard-fraud": "fraud",
    "m4": "forecasting",
}


def import_dataset(ws: Workspace, dataset: str, path: str | os.PathLike[str], *,
                   test_path: str | os.PathLike[str] | None = None, frequency: str | None = None,
                   force: bool = False, verify_checksum: bool = True) -> Manifest:
    """Import ``dataset`` from ``path`` into ``ws`` and return the written manifest.

    ``test_path``: a separate test file (svmlight-ranking, m4). ``frequency``: the M4
    subset (hourly, daily, ...; default from the file name). ``force`` replaces data the
    use case already holds; ``verify_checksum`` checks the md5 of known original files.
    """
    if dataset not in IMPORTERS:
        raise PomonaError(f"unknown dataset {dataset!r}; expected one of: {', '.join(IMPORTERS)}")
    return IMPORTERS[dataset](ws, Path(path), test_path=Path(test_path) if test_path is not None else None,
                              frequency=frequency, force=force, verify_checksum=verify_checksum)


__all__ = ["IMPORTERS", "USE_CASE_OF", "import_dataset"]
