"""Reading and checking batch-scoring input: paths, chunks, timestamps, key and type coercion,
and the one-schema-per-output check. Every failure is a one-line :class:`PomonaError`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pomona.errors import PomonaError
from pomona.schemas import TS

READERS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}

def check_paths(src: Path, dst: Path) -> str:
    kind = READERS.get(src.suffix.lower())
    if kind is None:
        raise PomonaError(f"input {src} has an unknown extension {src.suffix!r}; expected one of: "
                          f"{', '.join(READERS)}")
    if not src.is_file():
        raise PomonaError(f"input file {src} does not exist")
    if dst.suffix.lower() not in (".parquet", ".pq"):
        raise PomonaError(f"output {dst} must be a .parquet file")
    if not dst.parent.is_dir():
        raise PomonaError(f"output folder {dst.parent} does not exist")
    if dst.exists() and dst.resolve() == src.resolve():
        raise PomonaError(f"output {dst} is the input file")
    return kind


def row_count(src: Path, kind: str) -> int | None:
    if kind != "parquet":
        return None
    try:
        return pq.ParquetFile(src).metadata.num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise PomonaError(f"input {src} is not a readable parquet file ({str(exc).splitlines()[0]})") from None


def chunks(src: Path, kind: str, rows: int | None) -> Iterator[pd.DataFrame]:
    """The input as DataFrames of at most ``rows`` rows (``None``: one frame)."""
    try:
        if kind == "parquet":
            pf = pq.ParquetFile(src)
            if rows is None:
                yield pf.read().to_pandas()
                return
            for batch in pf.iter_batches(batch_size=rows):
                yield batch.to_pandas()
        else:
            if rows is None:
                yield pd.read_csv(src)
                return
            yield from pd.read_csv(src, chunksize=rows)
    except pd.errors.EmptyDataError:
        raise PomonaError(f"input {src} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, pa.ArrowInvalid) as exc:
        raise PomonaError(f"input {src} could not be read ({str(exc).splitlines()[0]})") from None


def parse_times(values: pd.Series, what: str, offset: int) -> pd.Series:
    """UTC timestamps (naive ones are taken as UTC); a missing or unparsable value is an error."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_datetime64_any_dtype(values):
        raise PomonaError(f"{what} column {TS!r} holds numbers, not times (use ISO 8601 or a timestamp type)")
    if pd.api.types.is_datetime64_any_dtype(values):
        ts = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
    else:
        ts = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    bad = np.flatnonzero(ts.isna().to_numpy())
    if len(bad):
        i = int(bad[0])
        raw = values.iloc[i]
        shown = "a missing value" if pd.isna(raw) else repr(raw)
        raise PomonaError(f"{what} row {offset + i + 1} has {shown} in {TS!r}, not a time "
                          f"(use ISO 8601, e.g. 2025-06-30T12:00:00Z); {len(bad):,} such row(s)")
    return ts.astype("datetime64[ns, UTC]")


def coerce(chunk: pd.DataFrame, schema: dict[str, str], keys: set[str], what: str, offset: int) -> pd.DataFrame:
    """Columns of the request schema in their Feast types; keys may not be missing."""
    out = {}
    for col, dtype in schema.items():
        if col not in chunk.columns:
            continue
        s = chunk[col]
        if dtype in ("Int64", "Int32", "Float64", "Float32", "Bool"):
            num = pd.to_numeric(s, errors="coerce")
            bad = num.isna() & s.notna()
            if dtype.startswith("Int"):
                bad |= num.notna() & (num != np.round(num))
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise PomonaError(f"{what} row {offset + i + 1}: {col}={s.iloc[i]!r} is not "
                                  f"{'an integer' if dtype.startswith('Int') else 'a number'}")
            s = num
        if col in keys:
            if s.isna().any():
                i = int(np.flatnonzero(s.isna().to_numpy())[0])
                raise PomonaError(f"{what} row {offset + i + 1} has no {col} (an entity key)")
            s = s.astype("int64") if dtype.startswith("Int") else s.astype(str)
        out[col] = s
    return chunk.assign(**out)




def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A later chunk in the first chunk's schema (CSV chunks may infer types differently)."""
    if table.schema.equals(schema):
        return table
    if table.schema.names != schema.names:
        raise PomonaError(f"a later chunk has columns {table.schema.names}, not {schema.names}")
    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        diff = [f"{a.name} ({a.type} vs {b.type})" for a, b in zip(table.schema, schema) if a.type != b.type]
        raise PomonaError(f"column(s) {', '.join(diff)} change type between chunks; give them one type "
                          f"(e.g. convert the CSV to parquet) or raise --chunk-rows") from None


def progress(total: int | None, use_case: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="rows", unit_scale=True, desc=f"scoring {use_case}", file=sys.stderr,
                disable=not enabled, mininterval=1.0)
