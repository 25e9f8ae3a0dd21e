"""Batch scoring throughput and memory: ``serving.batch.score_file`` on N fraud transactions
against a bare ``booster.predict`` over the same already-joined frame.

    .venv/bin/python benchmarks/batch_bench.py --rows 1000000 --home /tmp/pomona-medium

In ``--home`` (default: a temp dir) the medium world is generated, the fraud definitions
applied and a fast fraud model trained, unless a fraud champion is already there. N entity rows
are sampled with replacement (seed 0) from ``features.definitions("fraud").entity_frame()``
and written as transactions (their own time, no ``txn_unix``: batch scoring derives both).
Each measurement runs in its own child process, which reports its peak RSS (``VmHWM``):

* ``score_file``: the whole command (model load, read, feature join, score, atomic write),
  with the time of its feature join reported on its own;
* baseline: the same rows joined to the same features (untimed), then timed: the model's
  scoring path ``models.scoring.score`` over that frame, and a bare ``booster.predict`` over
  the booster's own input built from it (categoricals as pandas categories; also as the float
  matrix ``LGBMFraud.predict_proba`` now builds, for reference).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FAST_FRAUD = {"logistic": {}, "lightgbm": {"n_estimators": 60}}  # tests/test_training.py's FAST["fraud"]


def peak_rss_mib() -> float:
    """This process's peak resident memory: ``VmHWM`` (the high-water mark of its own address
    space). Not ``ru_maxrss``: on Linux that survives ``exec`` and so reports the parent's peak
    at fork time when the parent is larger (it was, once this script itself built the input)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def setup(home: Path, rows: int, scale: str) -> Path:
    import numpy as np
    import pandas as pd
    import yaml

    import features
    from pomona.workspace import workspace
    from training import registry, tracking

    ws = workspace(home)
    if not (ws.dataset_dir("fraud") / "manifest.json").exists():
        from pomona.data.generate import generate

        t = time.perf_counter()
        generate(ws, scale=scale, seed=0, progress=False)
        print(f"# generated the {scale} world in {time.perf_counter() - t:.0f}s", file=sys.stderr)
    features.apply(ws, ["fraud"])
    if registry.champion_version(tracking.connect(ws), "fraud") is None:
        from training.job import train

        cfg = home / "fraud-fast.yaml"
        cfg.write_text(yaml.safe_dump({"candidates": FAST_FRAUD}))
        t = time.perf_counter()
        train("fraud", str(cfg), seed=0, ws=ws, log=lambda m: None)
        print(f"# trained fraud in {time.perf_counter() - t:.0f}s", file=sys.stderr)
    path = home / f"fraud-{rows}.parquet"
    if not path.exists():
        ef = features.definitions("fraud", ws).entity_frame()
        tx = ef.drop(columns=[c for c in ("txn_unix", "is_fraud") if c in ef.columns])
        tx["event_timestamp"] = tx["event_timestamp"] + pd.Timedelta(microseconds=1)  # the transaction's own time
        idx = np.random.default_rng(0).integers(0, len(tx), rows)
        tx.iloc[idx].reset_index(drop=True).to_parquet(path, index=False)
    return path


def child_score_file(home: Path, path: Path, chunk_rows: int) -> dict:
    from pomona.workspace import workspace
    from serving.batch import score_file

    out = Path(tempfile.mkdtemp()) / "scored.parquet"
    res = score_file("fraud", path, out, ws=workspace(home), chunk_rows=chunk_rows, progress=False)
    out.unlink()
    return {**res, "peak_rss_mib": peak_rss_mib()}


def child_baseline(home: Path, path: Path, chunk_rows: int) -> dict:
    import pandas as pd
    import pyarrow.parquet as pq

    from models.scoring import score
    from pomona.workspace import workspace
    from serving.batch import load_model, scorer

    ws = workspace(home)
    model = load_model("fraud", ws=ws)
    spec = scorer("fraud", model, ws)
    frames, timings = [], {"join": 0.0, "score": 0.0}
    spec.predict = lambda frame, **p: frames.append(frame) or pd.DataFrame(index=frame.index)  # keep, don't score
    for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
        spec.score_chunk(batch.to_pandas(), 0, timings)
    joined = pd.concat(frames, ignore_index=True)
    frames.clear()
    bundle = model.bundle
    est = bundle.estimator
    t = time.perf_counter()
    score(bundle, joined)
    t_score = time.perf_counter() - t
    booster_input = est._frame(joined[est.features_in_])
    t = time.perf_counter()
    est.booster_.predict(booster_input, raw_score=True)
    t_booster = time.perf_counter() - t
    matrix = est._matrix(joined[est.features_in_])
    t = time.perf_counter()
    est.booster_.predict(matrix, raw_score=True)
    t_matrix = time.perf_counter() - t
    return {"rows": len(joined), "join": timings["join"], "score": t_score, "booster": t_booster,
            "booster_matrix": t_matrix,
            "peak_rss_mib": peak_rss_mib()}


def run_child(kind: str, home: Path, path: Path, chunk_rows: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", kind, "--home", str(home), "--input", str(path),
                           "--chunk-rows", str(chunk_rows)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--chunk-rows", type=int, default=100_000)
    p.add_argument("--scale", default="medium")
    p.add_argument("--home", type=Path)
    p.add_argument("--child", choices=["score_file", "baseline"])
    p.add_argument("--input", type=Path)
    a = p.parse_args()
    if a.child:
        os.environ["POMONA_HOME"] = str(a.home)
        fn = child_score_file if a.child == "score_file" else child_baseline
        print(json.dumps(fn(a.home, a.input, a.chunk_rows), default=str))
        return
    home = a.home or Path(tempfile.mkdtemp()) / "home"
    os.environ["POMONA_HOME"] = str(home)
    path = setup(home, a.rows, a.scale)
    sf = run_child("score_file", home, path, a.chunk_rows)
    base = run_child("baseline", home, path, a.chunk_rows)
    n, t = sf["rows_in"], sf["timings"]
    no_join = sf["seconds"] - t["join"]
    booster_rate = base["rows"] / base["booster"]
    rows = [
        ("score_file, end to end (load, read, join, score, write)", sf["seconds"], sf["peak_rss_mib"]),
        ("  of which the feature join (features.training_frame per chunk)", t["join"], None),
        ("  score_file without the join (load, read, score, write)", no_join, None),
        ("  of which models.scoring.score", t["score"], None),
        ("  of which model load (MLflow)", t["load"], None),
        ("  of which read + write", t["read"] + t["write"], None),
        ("models.scoring.score over the joined frame (in memory)", base["score"], base["peak_rss_mib"]),
        ("baseline: bare booster.predict over the joined frame", base["booster"], None),
        ("  bare booster.predict over the frame as a float matrix", base["booster_matrix"], None),
    ]
    print(f"fraud batch scoring: {n:,} rows, chunk_rows={a.chunk_rows:,}, {os.cpu_count()} CPUs; "
          f"peak RSS per child process")
    print("| what | seconds | rows/s | rows/s / bare booster | peak RSS MiB |")
    print("|---|---|---|---|---|")
    for name, secs, rss in rows:
        rate = n / secs if secs else float("nan")
        print(f"| {name} | {secs:.2f} | {rate:,.0f} | {rate / booster_rate:.3f} | "
              f"{'' if rss is None else f'{rss:,.0f}'} |")


if __name__ == "__main__":
    main()
