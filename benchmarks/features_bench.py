"""Feature-store throughput and latency, each against a bare baseline measured in the same run.

    .venv/bin/python benchmarks/features_bench.py --scale medium --sections materialize,online,frame
    .venv/bin/python benchmarks/features_bench.py --scale large --sections gen

Sections (``--sections``, comma separated; default all):

* ``gen``: ``pomona.data.generate`` rows/s and peak RSS (in a child process), against writing the
  same number of random numpy rows to parquet with pyarrow (also in a child process).
* ``materialize``: every feature view materialized into the SQLite online store over its full
  data range, source rows/s, against a raw ``sqlite3`` ``executemany`` of as many rows.
* ``online``: ``features.online_features`` and ``store.get_online_features(FeatureService)``
  latency for 1 and 100 entities, against raw ``sqlite3`` reads of as many entity keys from
  the same online store tables; then a cProfile summary of where the time goes.
* ``frame``: ``features.training_frame`` for 1,000,000 sampled entity rows (fraud and
  recommendations, each in a child process for its peak RSS), against a pandas ``merge_asof``
  of the same rows with one feature table.

The machine is shared and noisy: read the ratios to the baseline rather than absolute figures.
See docs/benchmarks.md for measured results.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import glob
import io
import json
import os
import pstats
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SECTIONS = ("gen", "materialize", "online", "frame")
GOAL_MATERIALIZE = 50_000  # feature rows/s
GOAL_P99_1 = 1.0  # ms, one entity
GOAL_P99_100 = 10.0  # ms, 100 entities


# ----------------------------------------------------------------------------- helpers

def table(title: str, header: list[str], rows: list[list]) -> None:
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        print("| " + " | ".join(fmt(v) for v in r) + " |")
    sys.stdout.flush()


def fmt(v) -> str:
    if isinstance(v, float):
        if v >= 1000:
            return f"{v:,.0f}"
        if v >= 10:
            return f"{v:.1f}"
        return f"{v:.3f}" if v < 1 else f"{v:.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def run_child(args: list[str]) -> tuple[dict, float]:
    """Run this script as a child (``--_child ...``); return its JSON result and peak RSS (MiB)."""
    with tempfile.TemporaryFile("w+") as out:
        p = subprocess.Popen([sys.executable, __file__, *args], stdout=out, stderr=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(p.pid, 0)
        err = p.stderr.read()
        p.stderr.close()
        out.seek(0)
        text = out.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"child {args} failed:\n{err[-3000:]}")
    result = json.loads(text.strip().splitlines()[-1])
    return result, result.get("peak_rss_mib", usage.ru_maxrss / 1024)


def stats_ms(ns: list[int]) -> tuple[float, float, float]:
    a = np.asarray(ns, dtype=np.float64) / 1e6
    return float(np.median(a)), float(np.percentile(a, 99)), float(a.mean())


def vm_hwm_mib() -> float:
    """This process's peak RSS (VmHWM; unlike ru_maxrss it restarts at exec, so a child's is its own)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return peak_rss_mib()


def peak_rss_mib() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ensure_data(ws, scale: str, seed: int) -> None:
    """Generate the marketplace (if absent) and register the feature definitions (if absent)."""
    import features
    from pomona.data.generate import generate
    from pomona.usecases import USE_CASES

    if not all((ws.dataset_dir(uc) / "manifest.json").exists() for uc in USE_CASES):
        t = time.perf_counter()
        generate(ws, scale, seed, force=True, progress=False)
        print(f"generated {scale} data in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    t = time.perf_counter()
    features.apply(ws)  # always: definitions may have changed since the workspace was made
    print(f"applied definitions in {time.perf_counter() - t:.1f}s", file=sys.stderr)


# ----------------------------------------------------------------------------- children

def child_generate(home: str, scale: str, seed: int) -> dict:
    import pyarrow.parquet as pq

    from pomona.data.generate import generate
    from pomona.workspace import workspace

    ws = workspace(home)
    t = time.perf_counter()
    generate(ws, scale, seed, force=True, progress=False)
    dt = time.perf_counter() - t
    files = glob.glob(str(ws.data / "*" / "*.parquet"))
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    size = sum(os.path.getsize(f) for f in files)
    return {"rows": rows, "seconds": dt, "bytes": size}


def child_arrow(path: str, rows: int, seed: int) -> dict:
    """Baseline: random numpy columns (3 int64, 2 float64, 1 timestamp) to parquet in 1M-row chunks."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    t = time.perf_counter()
    writer = None
    done = 0
    while done < rows:
        n = min(1_000_000, rows - done)
        batch = pa.table({
            "a": rng.integers(0, 200_000, n), "b": rng.integers(0, 50_000, n), "c": np.arange(done, done + n),
            "x": rng.random(n), "y": rng.normal(size=n),
            "event_timestamp": pa.array(np.sort(rng.integers(1_735_689_600_000_000, 1_767_225_600_000_000, n)),
                                        pa.timestamp("us", tz="UTC")),
        })
        if writer is None:
            writer = pq.ParquetWriter(path, batch.schema)
        writer.write_table(batch)
        done += n
    writer.close()
    return {"rows": rows, "seconds": time.perf_counter() - t, "bytes": os.path.getsize(path)}


def _sample_entities(use_case: str, ws, n: int, seed: int):
    import features
    from pomona.schemas import TS

    ef = features.definitions(use_case, ws).entity_frame()
    keys = list(features.request_schema(use_case, ws))
    idx = np.random.default_rng(seed).integers(0, len(ef), n)
    return ef[[*keys, TS]].iloc[idx].reset_index(drop=True)


def child_frame(home: str, use_case: str, n: int, seed: int) -> dict:
    import features
    from pomona.workspace import workspace

    ws = workspace(home)
    edf = _sample_entities(use_case, ws, n, seed)
    t = time.perf_counter()
    frame = features.training_frame(use_case, edf, ws)
    dt = time.perf_counter() - t
    return {"rows": len(frame), "cols": frame.shape[1], "seconds": dt}


BASELINE_TABLE = {"fraud": ("fraud_account_activity", "account_id"),
                  "recommendations": ("recommendations_user_activity", "user_id")}


def child_asof(home: str, use_case: str, n: int, seed: int) -> dict:
    """Baseline: pandas merge_asof by key of the same entity rows with one feature table (read, sort, join)."""
    import pandas as pd

    import features
    from pomona.schemas import TS
    from pomona.workspace import workspace

    ws = workspace(home)
    view, key = BASELINE_TABLE[use_case]
    fv = features.feature_store(ws).get_feature_view(view)
    edf = _sample_entities(use_case, ws, n, seed)
    t = time.perf_counter()
    right = pd.read_parquet(fv.batch_source.path, columns=[key, TS, *[f.name for f in fv.features]])
    left = edf[[key, TS]].copy()
    left[TS] = pd.to_datetime(left[TS], utc=True).astype("datetime64[us, UTC]")
    right[TS] = right[TS].astype("datetime64[us, UTC]")
    out = pd.merge_asof(left.sort_values(TS), right.sort_values(TS), on=TS, by=key,
                        direction="backward", tolerance=pd.Timedelta(fv.ttl) if fv.ttl else None)
    dt = time.perf_counter() - t
    return {"rows": len(out), "cols": out.shape[1], "seconds": dt, "view": view}


# ----------------------------------------------------------------------------- sections

def section_gen(args, home: Path) -> None:
    gen_home = home / "gen"
    res, rss = run_child(["--_child", "gen", str(gen_home), args.scale, str(args.seed)])
    base, base_rss = run_child(["--_child", "arrow", str(home / "baseline.parquet"), str(res["rows"]), str(args.seed)])
    (home / "baseline.parquet").unlink(missing_ok=True)
    rate, base_rate = res["rows"] / res["seconds"], base["rows"] / base["seconds"]
    table(f"Generation ({args.scale}, seed {args.seed})",
          ["what", "rows", "seconds", "rows/s", "MiB on disk", "peak RSS MiB", "ratio to baseline (rows/s)"],
          [["pomona data generate", res["rows"], res["seconds"], rate, res["bytes"] / 2**20, rss, rate / base_rate],
           ["baseline: random numpy -> pyarrow parquet", base["rows"], base["seconds"], base_rate,
            base["bytes"] / 2**20, base_rss, 1.0]])


def _source_rows(fv) -> tuple[int, object, object]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from pomona.schemas import TS

    col = pq.read_table(fv.batch_source.path, columns=[TS])[TS]
    mm = pc.min_max(col)
    return len(col), mm["min"].as_py(), mm["max"].as_py() + timedelta(seconds=1)


def section_materialize(args, ws) -> None:
    import features

    store = features.feature_store(ws)
    online = ws.feast_dir / "online.db"
    views = sorted(store.list_feature_views(), key=lambda v: v.name)
    rows_out, total_rows, total_s = [], 0, 0.0
    for fv in views:
        n, lo, hi = _source_rows(fv)
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # Feast prints progress
            store.materialize(start_date=lo, end_date=hi, feature_views=[fv.name])
        dt = time.perf_counter() - t
        with sqlite3.connect(online) as con:
            ents = con.execute(f'SELECT COUNT(DISTINCT entity_key), COUNT(*) FROM "{store.project}_{fv.name}"').fetchone()
        rows_out.append([fv.name, n, ents[0], ents[1], dt, n / dt, ents[1] / dt])
        total_rows += n
        total_s += dt
    online_rows = sum(r[3] for r in rows_out)
    rows_out.append(["**all views**", total_rows, sum(r[2] for r in rows_out), online_rows,
                     total_s, total_rows / total_s, online_rows / total_s])
    table(f"Materialization into SQLite, per view ({args.scale})",
          ["feature view", "source rows", "entities written", "online rows (entity x feature)", "seconds",
           "source rows/s", "online rows/s"], rows_out)

    # Baseline: raw sqlite3 executemany of as many (id, blob) rows into a fresh table, one commit.
    rng = np.random.default_rng(args.seed)
    path = ws.root / "baseline_insert.db"
    path.unlink(missing_ok=True)
    blobs = [rng.bytes(12) for _ in range(1024)]
    data = [(i, blobs[i & 1023]) for i in range(total_rows)]
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, value BLOB)")
    t = time.perf_counter()
    with con:
        con.executemany("INSERT INTO t VALUES (?, ?)", data)
    base_s = time.perf_counter() - t
    con.close()
    path.unlink(missing_ok=True)
    rate = total_rows / total_s
    table(f"Materialization vs raw SQLite insert ({args.scale})",
          ["what", "rows", "seconds", "rows/s", "ratio to baseline", f"goal >= {GOAL_MATERIALIZE:,} rows/s"],
          [["store.materialize, every view, full range", total_rows, total_s, rate, rate / (total_rows / base_s),
            "met" if rate >= GOAL_MATERIALIZE else "NOT met"],
           ["baseline: sqlite3 executemany (id, 12-byte blob)", total_rows, base_s, total_rows / base_s, 1.0, ""]])


def _online_pools(use_case: str, ws, n_single: int, seed: int):
    ef = _sample_entities(use_case, ws, max(n_single, 100 * 50), seed)
    records = ef.drop(columns=["event_timestamp"]).to_dict("records")
    # numpy scalars -> Python scalars (what a JSON request body carries)
    records = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in records]
    singles = [[r] for r in records[:n_single]]
    batches = [records[i * 100:(i + 1) * 100] for i in range(50)]
    return singles, batches


def _raw_reader(store, svc, ws, seed: int):
    """Per service view (not on-demand), a pool of entity keys read from its online table; and a
    function that reads k keys per view with ``SELECT ... WHERE entity_key IN (...)``."""
    con = sqlite3.connect(ws.feast_dir / "online.db", check_same_thread=False)
    rnd = random.Random(seed)
    pools = {}
    for proj in svc.feature_view_projections:
        tbl = f"{store.project}_{proj.name}"
        try:
            keys = [r[0] for r in con.execute(f'SELECT DISTINCT entity_key FROM "{tbl}"')]
        except sqlite3.OperationalError:  # on-demand view: nothing stored
            continue
        rnd.shuffle(keys)
        pools[tbl] = keys

    def read(i: int, k: int):
        out = []
        for tbl, keys in pools.items():
            start = (i * k) % max(1, len(keys) - k)
            ks = keys[start:start + k]
            q = (f'SELECT entity_key, feature_name, value, event_ts FROM "{tbl}" '
                 f'WHERE entity_key IN ({",".join("?" * len(ks))})')
            out.append(con.execute(q, ks).fetchall())
        return out

    return read, sorted(pools)


def section_online(args, ws) -> None:
    import features
    from features.store import _service

    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        features.materialize(ws)
    print(f"features.materialize: {time.perf_counter() - t:.1f}s", file=sys.stderr)
    store = features.feature_store(ws)
    rows = []
    profiles = {}
    for uc in args.use_cases:
        svc = _service(store, uc)
        singles, batches = _online_pools(uc, ws, 1000, args.seed)
        raw, tables = _raw_reader(store, svc, ws, args.seed)
        for k, pool in ((1, singles), (100, batches)):
            n = args.samples if k == 1 else args.batch_samples
            methods = {
                "features.online_features (to_df)": lambda r, uc=uc: features.online_features(uc, r, ws),
                "store.get_online_features(svc).to_dict()":
                    lambda r, svc=svc: store.get_online_features(features=svc, entity_rows=r).to_dict(),
            }
            # One block per method, each interleaved with the raw baseline so both share the machine's
            # noise. Methods are not interleaved with each other: features.online_features reloads the
            # registry (request_schema), which would also void Feast's request-context cache for the
            # next store.get_online_features call.
            for name, m in methods.items():
                for i in range(min(50, n)):
                    m(pool[i % len(pool)])
                    raw(i, k)
                mine, base = [], []
                for i in range(n):
                    r = pool[i % len(pool)]
                    t0 = time.perf_counter_ns()
                    m(r)
                    mine.append(time.perf_counter_ns() - t0)
                    t0 = time.perf_counter_ns()
                    raw(i, k)
                    base.append(time.perf_counter_ns() - t0)
                p50, p99, mean = stats_ms(mine)
                b50, b99, bmean = stats_ms(base)
                goal = GOAL_P99_1 if k == 1 else GOAL_P99_100
                rows.append([uc, k, name, n, p50, p99, mean, p50 / b50, p99 / b99,
                             f"{'met' if p99 <= goal else 'NOT met'} (p99 <= {goal:g} ms)"])
                rows.append([uc, k, f"  baseline in that block: raw sqlite3 IN (...) on {len(tables)} tables", n,
                             b50, b99, bmean, 1.0, 1.0, ""])
        if args.profile_calls:
            for k, pool in ((1, singles), (100, batches)):
                prof = cProfile.Profile()
                prof.enable()
                for i in range(args.profile_calls if k == 1 else max(20, args.profile_calls // 10)):
                    features.online_features(uc, pool[i % len(pool)], ws)
                prof.disable()
                profiles[(uc, k)] = prof
    table(f"Online look-up latency in ms ({args.scale}; 1-entity and 100-entity calls)",
          ["use case", "entities", "call", "samples", "p50", "p99", "mean", "p50 / baseline", "p99 / baseline",
           "goal"], rows)
    for (uc, k), prof in profiles.items():
        _print_profile(prof, f"features.online_features({uc!r}, {k} entit{'y' if k == 1 else 'ies'})")


def _print_profile(prof: cProfile.Profile, title: str, top: int = 14) -> None:
    st = pstats.Stats(prof)
    total = st.total_tt
    entries = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in st.stats.items():
        short = file.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
        entries.append((ct, tt, nc, f"{short}:{line}({func})"))
    rows = [[name, calls, ct / total * 100, tt / total * 100]
            for ct, tt, calls, name in sorted(entries, reverse=True)[:top]]
    table(f"Profile, cumulative share of {title}", ["function", "calls", "cumulative %", "own %"], rows)
    rows = [[name, calls, tt / total * 100]
            for tt, ct, calls, name in sorted(((e[1], e[0], e[2], e[3]) for e in entries), reverse=True)[:10]]
    table(f"Profile, own-time share of {title}", ["function", "calls", "own %"], rows)


def section_frame(args, home: Path) -> None:
    rows = []
    for uc in args.use_cases:
        res, rss = run_child(["--_child", "frame", str(home), uc, str(args.frame_rows), str(args.seed)])
        base, base_rss = run_child(["--_child", "asof", str(home), uc, str(args.frame_rows), str(args.seed)])
        rate, base_rate = res["rows"] / res["seconds"], base["rows"] / base["seconds"]
        rows.append([uc, f"features.training_frame ({res['cols']} columns)", res["rows"], res["seconds"], rate,
                     rss, base["seconds"] and res["seconds"] / base["seconds"]])
        rows.append([uc, f"baseline: pandas merge_asof with {base['view']} ({base['cols']} columns)", base["rows"],
                     base["seconds"], base_rate, base_rss, 1.0])
    table(f"Training frame for {args.frame_rows:,} entity rows ({args.scale})",
          ["use case", "what", "rows", "seconds", "rows/s", "peak RSS MiB (child process)", "time / baseline"],
          rows)


# ----------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_child"]:
        kind, *rest = argv[1:]
        fn = {"gen": lambda h, s, seed: child_generate(h, s, int(seed)),
              "arrow": lambda p, n, seed: child_arrow(p, int(n), int(seed)),
              "frame": lambda h, uc, n, seed: child_frame(h, uc, int(n), int(seed)),
              "asof": lambda h, uc, n, seed: child_asof(h, uc, int(n), int(seed))}[kind]
        os.environ.setdefault("POMONA_HOME", rest[0] if kind != "arrow" else "")
        with contextlib.redirect_stdout(sys.stderr):
            res = fn(*rest)
        res["peak_rss_mib"] = vm_hwm_mib()
        print(json.dumps(res))
        return

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", default="medium", choices=["small", "medium", "large"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--home", help="workspace to use (data generated there if absent); default a temp dir")
    ap.add_argument("--samples", type=int, default=2000, help="timed calls per 1-entity look-up measurement")
    ap.add_argument("--batch-samples", type=int, default=None,
                    help="timed calls per 100-entity measurement (default: --samples)")
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--use-cases", default="recommendations,fraud")
    ap.add_argument("--frame-rows", type=int, default=1_000_000)
    ap.add_argument("--profile-calls", type=int, default=300, help="1-entity calls profiled per use case (0: none)")
    args = ap.parse_args(argv)
    args.batch_samples = args.batch_samples or args.samples
    args.use_cases = [u for u in args.use_cases.split(",") if u]
    wanted = [s for s in args.sections.split(",") if s]
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s): {', '.join(sorted(unknown))}")

    home = Path(args.home or tempfile.mkdtemp(prefix="pomona-bench-")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["POMONA_HOME"] = str(home)
    print(f"# features_bench: scale={args.scale} seed={args.seed} home={home} nproc={os.cpu_count()}")
    if "gen" in wanted:
        section_gen(args, home)
    if set(wanted) - {"gen"}:
        from pomona.workspace import workspace
        ws = workspace(home)
        ensure_data(ws, args.scale, args.seed)
        if "materialize" in wanted:
            section_materialize(args, ws)
        if "online" in wanted:
            section_online(args, ws)
        if "frame" in wanted:
            section_frame(args, home)
    print(f"\n(parent process peak RSS {peak_rss_mib():.0f} MiB)")


if __name__ == "__main__":
    main()
