"""Batch scoring: entity rows with timestamps in, the model's predictions out, as parquet.

``pomona score <use-case> --input PATH --output PATH`` reads the rows (parquet or CSV) in
chunks, gets point-in-time features of the use case's FeatureService from the offline store
(:func:`features.training_frame`, the call training uses), scores them with the registered
model's bundle through :func:`models.scoring.score` (the path the pyfunc, the online service
and training's evaluation use), and writes the input columns, the prediction columns and
``model_version``, in input order, to a temporary file beside the output that is renamed into
place only when every chunk is written.

Per use case:

* fraud: rows are transactions (``transaction_id, account_id, merchant_id, event_timestamp,
  amount, ...``). Each is scored against the account's state *before* it, as in training
  (``features/fraud.py``: the entity time is the transaction time minus 1 microsecond) and
  online (the service reads the online store before it pushes the transaction);
  ``txn_unix`` is derived from ``event_timestamp`` when absent.
* ranking: ``(query_id,) product_id, query, event_timestamp`` rows get a ``score``.
* recommendations: ``user_id`` rows (a timestamp is optional and carried through) get the
  model's top ``k`` products, one output row per (input row, product) with ``rank``. The
  recommender scores from its own fitted state, so no features are joined.
* forecasting: ``series_id, event_timestamp`` (and the model's exogenous columns) rows get
  ``yhat, yhat_lower, yhat_upper`` for those steps. A forecast needs every step up to the
  furthest one asked, so the input is read whole (it is at most series x max horizon).
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.fraud import BEFORE_TRANSACTION
from models.scoring import ModelBundle, score
from pomona.errors import PomonaError
from pomona.schemas import SERIES_ID, TS, USER_ID
from pomona.usecases import check_use_case, feature_service_name, registered_model_name
from pomona.workspace import Workspace, workspace

__all__ = ["LoadedModel", "check_contract", "cli", "load_model", "score_file"]

READERS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
VERSION_COLUMN = "model_version"
ROW = "_pomona_row"  # input position, carried through the point-in-time join to restore order
# Fraud scores the state before the transaction: the same offset as features/fraud.py's entity_frame.
BEFORE_EVENT = {"fraud": BEFORE_TRANSACTION}  # score on the state just before the event, as training does
TXN_TIME = "txn_unix"
# Rows read, joined and scored at a time: 1 M fraud rows peak at ~1.4 GiB RSS with 100,000 and
# ~2.2 GiB with 200,000 (benchmarks/batch_bench.py); the join costs about the same per row either way.
CHUNK_ROWS = 100_000


@dataclass
class LoadedModel:
    """A registered model version's bundle, checked against the feature store."""

    use_case: str
    version: str
    uri: str
    bundle: ModelBundle


def load_model(use_case: str, model_version: int | str | None = None, ws: Workspace | None = None) -> LoadedModel:
    """The champion (or ``model_version``) of ``pomona-<use_case>``, its feature contract checked.

    The alias is resolved to a version number first, so the rows of one run are all scored,
    and labelled, by one version even if the alias moves meanwhile.
    """
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    from training import registry, tracking

    ws = ws or workspace()
    client = tracking.connect(ws)
    name = registered_model_name(use_case)
    if model_version is None:
        mv = registry.champion_version(client, use_case)
        if mv is None:
            raise PomonaError(f"{name} has no champion; run 'pomona train {use_case}' first")
    else:
        try:
            mv = client.get_model_version(name, str(model_version))
        except MlflowException:
            raise PomonaError(f"{name} has no version {model_version}") from None
    uri = f"models:/{name}/{mv.version}"
    bundle = mlflow.pyfunc.load_model(uri).unwrap_python_model().bundle
    check_contract(bundle, use_case, str(mv.version), ws)
    return LoadedModel(use_case, str(mv.version), uri, bundle)


def check_contract(bundle: ModelBundle, use_case: str, version: str, ws: Workspace) -> None:
    """Refuse a model trained on another FeatureService or other definitions than the store's
    (the serving runtime's check: one rule for online and batch)."""
    from serving.runtime import check_contract as runtime_check

    runtime_check(bundle, use_case, ws, version)


def score_file(use_case: str, input_path: str | os.PathLike, output_path: str | os.PathLike, *,
               model_version: int | str | None = None, ws: Workspace | None = None,
               chunk_rows: int = CHUNK_ROWS, progress: bool = True) -> dict:
    """Score every row of ``input_path`` and write ``output_path`` (parquet), atomically.

    Returns a summary: rows in and out, the model version and URI, seconds per stage
    (``read``, ``join``, ``score``, ``write``) and rows per second. On any error neither
    the output nor its temporary file remains.
    """
    check_use_case(use_case)
    src, dst = Path(input_path), Path(output_path)
    kind = _check_paths(src, dst)
    if int(chunk_rows) < 1:
        raise PomonaError(f"--chunk-rows must be at least 1, got {chunk_rows}")
    ws = ws or workspace()
    t0 = time.perf_counter()
    model = load_model(use_case, model_version, ws)
    spec = _Spec.build(use_case, model, ws)
    timings = {"load": time.perf_counter() - t0, "read": 0.0, "join": 0.0, "score": 0.0, "write": 0.0}
    whole = use_case == "forecasting"  # every step up to the furthest one is needed at once
    total = _row_count(src, kind)
    tmp = dst.parent / f".{dst.name}.tmp-{uuid.uuid4().hex[:8]}"
    writer: pq.ParquetWriter | None = None
    rows_in = rows_out = chunks = 0
    bar = _progress(total, use_case, progress)
    reader = _chunks(src, kind, None if whole else int(chunk_rows))
    try:
        while True:
            t = time.perf_counter()
            chunk = next(reader, None)
            timings["read"] += time.perf_counter() - t
            if chunk is None:
                break
            if chunk.empty:
                continue
            out = spec.score_chunk(chunk, rows_in, timings)
            t = time.perf_counter()
            table = pa.Table.from_pandas(out, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(_conform(table, writer.schema))
            timings["write"] += time.perf_counter() - t
            rows_in += len(chunk)
            rows_out += len(out)
            chunks += 1
            bar.update(len(chunk))
        if writer is None:
            raise PomonaError(f"input {src} has no rows")
        writer.close()
        writer = None
        os.replace(tmp, dst)
    except BaseException:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        reader.close()
        bar.close()
    seconds = time.perf_counter() - t0
    return {"use_case": use_case, "input": str(src), "output": str(dst), "rows_in": rows_in, "rows_out": rows_out,
            "chunks": chunks, "model_version": model.version, "model_uri": model.uri, "seconds": seconds,
            "rows_per_s": rows_in / seconds if seconds else float("nan"), "timings": timings}


def cli(use_case: str, input_path: str | os.PathLike, output_path: str | os.PathLike, *,
        model_version: int | None = None, chunk_rows: int = CHUNK_ROWS, ws: Workspace | None = None,
        echo=print) -> dict:
    """``pomona score``: score the file, then print one summary line (progress goes to stderr)."""
    out = score_file(use_case, input_path, output_path, model_version=model_version, ws=ws,
                     chunk_rows=chunk_rows, progress=True)
    echo(f"scored {out['rows_in']:,} {use_case} rows with {registered_model_name(use_case)} version "
         f"{out['model_version']} -> {out['output']} ({out['rows_out']:,} rows) in {out['seconds']:.1f}s "
         f"({out['rows_per_s']:,.0f} rows/s)")
    return out


# ---------------------------------------------------------------------------------------------
# Input


def _check_paths(src: Path, dst: Path) -> str:
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


def _row_count(src: Path, kind: str) -> int | None:
    if kind != "parquet":
        return None
    try:
        return pq.ParquetFile(src).metadata.num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise PomonaError(f"input {src} is not a readable parquet file ({str(exc).splitlines()[0]})") from None


def _chunks(src: Path, kind: str, rows: int | None) -> Iterator[pd.DataFrame]:
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


def _parse_times(values: pd.Series, what: str, offset: int) -> pd.Series:
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


def _coerce(chunk: pd.DataFrame, schema: dict[str, str], keys: set[str], what: str, offset: int) -> pd.DataFrame:
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


# ---------------------------------------------------------------------------------------------
# Scoring one chunk


@dataclass
class _Spec:
    """What one use case needs from each chunk and how its predictions join back to the rows."""

    use_case: str
    model: LoadedModel
    ws: Workspace
    schema: dict[str, str]  # columns the FeatureService needs from the caller, with Feast types
    derived: tuple[str, ...]  # of those, the ones batch scoring derives itself
    keys: set[str]
    required: list[str]
    what: str = "input"

    @classmethod
    def build(cls, use_case: str, model: LoadedModel, ws: Workspace) -> "_Spec":
        import features

        if use_case == "recommendations":
            return cls(use_case, model, ws, {USER_ID: "Int64"}, (), {USER_ID}, [USER_ID])
        if use_case == "forecasting":
            exog = list(getattr(model.bundle.estimator, "exog_", None) or [])
            return cls(use_case, model, ws, {SERIES_ID: "String", **{c: "Float64" for c in exog}}, (), {SERIES_ID},
                       [SERIES_ID, TS, *exog])
        schema = features.request_schema(use_case, ws)
        join_keys = {e.join_key for e in features.feature_store(ws).list_entities()}
        derived = (TXN_TIME,) if use_case == "fraud" and TXN_TIME in schema else ()
        required = [c for c in schema if c not in derived] + [TS]
        return cls(use_case, model, ws, schema, derived, {k for k in schema if k in join_keys}, required)

    def validate(self, chunk: pd.DataFrame, offset: int) -> pd.DataFrame:
        missing = [c for c in self.required if c not in chunk.columns]
        if missing:
            service = feature_service_name(self.use_case)
            raise PomonaError(f"input lacks column(s) {', '.join(missing)} (a {self.use_case} row needs "
                              f"{', '.join(self.required)} for {service})")
        if ROW in chunk.columns or VERSION_COLUMN in chunk.columns:
            raise PomonaError(f"input has a reserved column ({ROW} or {VERSION_COLUMN}); rename it")
        chunk = _coerce(chunk.reset_index(drop=True), self.schema, self.keys, self.what, offset)
        if TS in chunk.columns:
            chunk[TS] = _parse_times(chunk[TS], self.what, offset)
        return chunk

    def score_chunk(self, chunk: pd.DataFrame, offset: int, timings: dict) -> pd.DataFrame:
        """The chunk's rows (``event_timestamp`` as UTC) with the predictions and ``model_version``."""
        chunk = self.validate(chunk, offset)
        scorer = {"recommendations": self._recommendations, "forecasting": self._forecasting}.get(self.use_case,
                                                                                                  self._rows)
        out = scorer(chunk, timings)
        out[VERSION_COLUMN] = np.int64(int(self.model.version))
        return out

    def _rows(self, chunk: pd.DataFrame, timings: dict) -> pd.DataFrame:
        """One prediction per row (fraud, ranking): point-in-time features, then the model."""
        import features

        t = time.perf_counter()
        entity = chunk[[c for c in self.schema if c in chunk.columns] + [TS]].copy()
        if TXN_TIME in self.derived and TXN_TIME not in chunk.columns:
            entity[TXN_TIME] = (chunk[TS] - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        entity[TS] = chunk[TS] - BEFORE_EVENT.get(self.use_case, pd.Timedelta(0))
        entity[ROW] = np.arange(len(entity))
        frame = features.training_frame(self.use_case, entity, self.ws)
        frame = frame.sort_values(ROW, kind="stable").reset_index(drop=True)
        if len(frame) != len(chunk) or not np.array_equal(frame[ROW].to_numpy(), entity[ROW].to_numpy()):
            raise PomonaError(f"the feature join returned {len(frame):,} rows for {len(chunk):,} input rows")
        timings["join"] += time.perf_counter() - t
        t = time.perf_counter()
        pred = self._predict(frame.drop(columns=[ROW]))
        timings["score"] += time.perf_counter() - t
        return _attach(chunk, pred.reset_index(drop=True))

    def _recommendations(self, chunk: pd.DataFrame, timings: dict) -> pd.DataFrame:
        """One output row per (input row, recommended product), in input order then rank."""
        t = time.perf_counter()
        recs = self._predict(chunk[[USER_ID]])
        timings["score"] += time.perf_counter() - t
        _check_names(chunk, [c for c in recs.columns if c != USER_ID])
        left = chunk.assign(**{ROW: np.arange(len(chunk))})
        out = left.merge(recs, on=USER_ID, how="left", validate="many_to_many")
        return out.sort_values([ROW, "rank"], kind="stable").drop(columns=ROW).reset_index(drop=True)

    def _forecasting(self, chunk: pd.DataFrame, timings: dict) -> pd.DataFrame:
        """``yhat`` and the interval for each (series, step) row; every row must be a forecast step."""
        t = time.perf_counter()
        est = self.model.bundle.estimator
        steps = _forecast_steps(est, chunk)
        fc = self._predict(chunk, horizon=int(steps.max()))
        fc = fc.assign(**{SERIES_ID: fc[SERIES_ID].astype(str), TS: pd.to_datetime(fc[TS], utc=True)
                          .astype("datetime64[ns, UTC]")})
        timings["score"] += time.perf_counter() - t
        pred = chunk[[SERIES_ID, TS]].merge(fc, on=[SERIES_ID, TS], how="left", validate="many_to_one")
        return _attach(chunk, pred.drop(columns=[SERIES_ID, TS]))

    def _predict(self, frame: pd.DataFrame, **params) -> pd.DataFrame:
        try:
            return score(self.model.bundle, frame, **params)
        except ValueError as exc:  # the models' own input checks (unknown series, a horizon too far...)
            raise PomonaError(f"{self.use_case} model version {self.model.version} refused the input: "
                              f"{str(exc).splitlines()[0]}") from None


def _forecast_steps(est, chunk: pd.DataFrame) -> np.ndarray:
    """For each row, which step after its series' last training time it is (1..max horizon)."""
    last = pd.Series(pd.to_datetime(np.asarray(est.last_timestamp_), utc=True),
                     index=pd.Index(np.asarray(est.series_)).astype(str))
    limit = int(est.max_horizon_ or 10_000)
    steps = np.zeros(len(chunk), dtype="int64")
    for sid, rows in chunk.groupby(SERIES_ID, sort=False).indices.items():
        if sid not in last.index:
            raise PomonaError(f"input row {int(rows[0]) + 1}: series {sid!r} is unknown to the model")
        start = last[sid].tz_convert(None)
        grid = pd.date_range(start, periods=limit + 1, freq=est.freq)[1:].tz_localize("UTC")
        pos = grid.get_indexer(pd.DatetimeIndex(chunk[TS].iloc[rows]))
        if (pos < 0).any():
            i = int(rows[np.flatnonzero(pos < 0)[0]])
            raise PomonaError(f"input row {i + 1}: {chunk[TS].iloc[i]} is not one of the {limit} forecast steps "
                              f"of series {sid!r} after its last training time {last[sid]} (frequency {est.freq})")
        steps[rows] = pos + 1
    return steps


def _check_names(chunk: pd.DataFrame, names) -> None:
    clash = [c for c in names if c in chunk.columns]
    if clash:
        raise PomonaError(f"input column(s) {', '.join(clash)} collide with the prediction columns; "
                          f"rename or drop them")


def _attach(chunk: pd.DataFrame, pred: pd.DataFrame) -> pd.DataFrame:
    _check_names(chunk, pred.columns)
    return pd.concat([chunk, pred], axis=1)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
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


def _progress(total: int | None, use_case: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="rows", unit_scale=True, desc=f"scoring {use_case}", file=sys.stderr,
                disable=not enabled, mininterval=1.0)
