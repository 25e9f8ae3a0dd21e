"""Write one use case's dataset atomically: canonical parquet tables plus ``manifest.json``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pomona import schemas
from pomona.errors import PomonaError
from pomona.usecases import check_use_case
from pomona.workspace import Workspace, staged_dir


class DatasetWriter:
    """Stage a dataset for ``use_case`` and swap it in only when everything was written.

    Usage::

        with DatasetWriter(ws, use_case, "synthetic", source={"seed": "0"}, force=True) as w:
            for chunk in chunks:
                w.append(table, chunk)

    Each appended chunk is checked against the canonical schema (a bad chunk raises a
    :class:`PomonaError` and nothing replaces the existing data). Tables are written as
    parquet row groups, so memory stays bounded by the chunk size.
    """

    def __init__(self, ws: Workspace, use_case: str, dataset: str, *, source: dict[str, str] | None = None,
                 force: bool = False, frequency: str | None = None, season_length: int | None = None,
                 horizon: int | None = None):
        self.ws = ws
        self.use_case = check_use_case(use_case)
        self.dataset = dataset
        self.source = {k: str(v) for k, v in (source or {}).items()}
        self.force = force
        self.series_meta = dict(frequency=frequency, season_length=season_length, horizon=horizon)
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._info: dict[str, schemas.TableInfo] = {}
        self._ctx = None
        self._stage: Path | None = None

    def __enter__(self) -> DatasetWriter:
        target = self.ws.ensure_writable().dataset_dir(self.use_case)
        if (target / "manifest.json").exists() and not self.force:
            old = schemas.Manifest.read(target)
            raise PomonaError(
                f"{self.use_case} already holds {old.dataset!r} data in {target}; pass --force to replace it"
            )
        self._ctx = staged_dir(target)
        self._stage = self._ctx.__enter__()
        return self

    def append(self, table: str, df: pd.DataFrame, *, text_columns: tuple[str, ...] = ()) -> None:
        assert self._stage is not None, "use DatasetWriter as a context manager"
        allowed = schemas.tables(self.use_case)
        if table not in allowed:
            raise PomonaError(f"{self.use_case} has no table {table!r}")
        df = schemas.conform(df, self.use_case, table, where=f"{self.dataset} {table}")
        arrow = pa.Table.from_pandas(df, preserve_index=False)
        if table not in self._writers:
            numeric, categorical = schemas.feature_columns(df, self.use_case, table)
            categorical = [c for c in categorical if c not in text_columns]
            self._writers[table] = pq.ParquetWriter(self._stage / f"{table}.parquet", arrow.schema)
            self._info[table] = schemas.TableInfo(file=f"{table}.parquet", rows=0, numeric_features=numeric,
                                                  categorical_features=categorical, text_columns=list(text_columns))
        writer = self._writers[table]
        if arrow.schema != writer.schema:
            try:
                arrow = arrow.cast(writer.schema)
            except (pa.ArrowInvalid, ValueError) as exc:
                raise PomonaError(f"{self.dataset} {table}: chunk schema differs from the first chunk ({exc})") from None
        writer.write_table(arrow)
        self._info[table].rows += len(df)

    def __exit__(self, exc_type, exc, tb):
        for w in self._writers.values():
            w.close()
        if exc_type is None:
            try:
                self._finish()
            except BaseException as err:
                self._ctx.__exit__(type(err), err, err.__traceback__)
                raise
        return self._ctx.__exit__(exc_type, exc, tb)

    def _finish(self) -> None:
        required = schemas.main_table(self.use_case)
        if required not in self._info:
            raise PomonaError(f"{self.dataset}: no {required} rows were written")
        schemas.Manifest(use_case=self.use_case, dataset=self.dataset, source=self.source,
                         tables=self._info, **self.series_meta).write(self._stage)


def read_manifest(ws: Workspace, use_case: str) -> schemas.Manifest:
    return schemas.Manifest.read(ws.dataset_dir(check_use_case(use_case)))


def load_table(ws: Workspace, use_case: str, table: str | None = None, columns: list[str] | None = None) -> pd.DataFrame:
    """Read one canonical table (the main one by default) of the workspace's dataset."""
    manifest = read_manifest(ws, use_case)
    table = table or schemas.main_table(use_case)
    if table not in manifest.tables:
        raise PomonaError(f"the {manifest.dataset} {use_case} dataset has no {table!r} table")
    return pd.read_parquet(ws.dataset_dir(use_case) / manifest.tables[table].file, columns=columns)
