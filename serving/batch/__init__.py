"""Batch scoring: entity rows with timestamps in, the model's predictions out, as parquet.

``pomona score <use-case> --input PATH --output PATH`` reads the rows (parquet or CSV) in
chunks, gets point-in-time features of the use case's FeatureService from the offline store
(:func:`features.training_frame`, the call training uses), scores them with the registered
model's bundle through :func:`models.scoring.score` (the path the pyfunc, the online service
and training's evaluation use), and writes the input columns, the prediction columns and
``model_version``, in input order, to a temporary file beside the output that is renamed into
place only when every chunk is written.

How a row is scored is the use case's: by default one prediction per row on point-in-time
features (:class:`serving.batch.scorers.RowScorer`); a use case's serving module may declare
its own ``BatchScorer`` (rows scored just before their time, several output rows per input
row, the input read whole): see each ``serving/<use-case>.py``.

Layout: this module (the run), :mod:`serving.batch.io` (reading and checking input),
:mod:`serving.batch.scorers` (scoring one chunk).
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pomona.errors import PomonaError
from pomona.usecases import check_use_case, layer_module, registered_model_name
from pomona.workspace import Workspace, workspace
from serving.batch import io
from serving.batch.scorers import VERSION_COLUMN, RowScorer, Scorer
from training.registry import LoadedModel
from training.registry import load_model as _load

__all__ = ["LoadedModel", "VERSION_COLUMN", "cli", "load_model", "scorer", "score_file"]

# Rows read, joined and scored at a time: 1 M fraud rows peak at ~1.4 GiB RSS with 100,000 and
# ~2.2 GiB with 200,000 (benchmarks/batch_bench.py); the join costs about the same per row either way.
CHUNK_ROWS = 100_000


def load_model(use_case: str, model_version: int | str | None = None, ws: Workspace | None = None) -> LoadedModel:
    """The champion (or ``model_version``) of ``pomona-<use_case>``, its feature contract checked
    (``training.registry.load_model``: the alias is resolved once, so every row of a run is
    scored and labelled by one version even if the alias moves meanwhile)."""
    return _load(use_case, ws or workspace(), model_version)


def scorer(use_case: str, model: LoadedModel, ws: Workspace) -> Scorer:
    """The use case's ``BatchScorer`` (its serving module), else the point-in-time row scorer."""
    cls = getattr(layer_module(use_case, "serving"), "BatchScorer", RowScorer)
    return cls.build(use_case, model, ws)


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
    kind = io.check_paths(src, dst)
    if int(chunk_rows) < 1:
        raise PomonaError(f"--chunk-rows must be at least 1, got {chunk_rows}")
    ws = ws or workspace()
    t0 = time.perf_counter()
    model = load_model(use_case, model_version, ws)
    spec = scorer(use_case, model, ws)
    timings = {"load": time.perf_counter() - t0, "read": 0.0, "join": 0.0, "score": 0.0, "write": 0.0}
    total = io.row_count(src, kind)
    tmp = dst.parent / f".{dst.name}.tmp-{uuid.uuid4().hex[:8]}"
    writer: pq.ParquetWriter | None = None
    rows_in = rows_out = chunks = 0
    bar = io.progress(total, use_case, progress)
    reader = io.chunks(src, kind, None if spec.whole else int(chunk_rows))
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
            writer.write_table(io.conform(table, writer.schema))
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


