"""In-process request handling of two source trees, interleaved: did a change slow serving down?

Each round runs one child process per tree (``PYTHONPATH`` = the tree) on a fresh copy of the
small world that tree's ``serving_bench.py`` built (``DIR/pristine``: the same seeds, the same
data and models). A child loads every
champion as the service does and answers ``--n`` requests per endpoint through the service's
own dispatch (``_call``: request model -> the use case's ``handle`` -> online store -> the one
scoring path; fraud also pushes its state), after a warm-up. Printed: per endpoint and tree the
median over rounds of each child's p50 and p99 (ms), and the ratio of the second tree to the
first, and the Python function calls per request (``cProfile``, 50 requests): a count that the
shared machine's noise leaves alone. No HTTP: what a refactor of the Python path changes.

    .venv/bin/python benchmarks/handler_bench.py --dir /tmp/bench-old --tree /tmp/old \
        --dir /tmp/bench-new --tree . --rounds 5
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROUTES = {"recommendations": "/recommend", "ranking": "/rank", "fraud": "/score_transaction",
          "forecasting": "/forecast"}


def child(home: Path, n: int) -> dict:
    """Runs inside a tree: the service's dispatch on ``n`` requests per endpoint."""
    os.environ["POMONA_HOME"] = str(home)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.path.insert(0, str(Path.cwd() / "benchmarks"))
    from serving_bench import requests_for

    from pomona.workspace import workspace
    from serving import runtime, service

    ws = workspace(home)
    base = getattr(service, "Pomona", None) or service._Pomona  # the class the services share
    svc = object.__new__(base)
    svc.ws = ws
    svc.champions = {uc: runtime.Champion(uc, ws) for uc in ROUTES}
    for champion in svc.champions.values():
        champion.load()
    out = {}
    for uc, route in ROUTES.items():
        model = __import__(f"serving.{uc}", fromlist=["request_model"]).request_model(ws)
        bodies = [model.model_validate(b) for b in requests_for(route, home, n + 20, seed=1)]
        for body in bodies[:20]:  # warm-up: caches, first reads
            svc._call(uc, body)
        lat = []
        for body in bodies[20:]:
            t = time.perf_counter()
            answer = svc._call(uc, body)
            lat.append(time.perf_counter() - t)
            assert getattr(answer, "status_code", 200) == 200, answer.body
        lat.sort()
        profile = cProfile.Profile()  # Python calls per request: a count the machine's noise leaves alone
        for body in bodies[20:70]:
            profile.runcall(svc._call, uc, body)
        calls = sum(stat[1] for stat in pstats.Stats(profile).stats.values()) / 50
        out[route] = {"p50_ms": lat[len(lat) // 2] * 1e3, "p99_ms": lat[int(0.99 * (len(lat) - 1))] * 1e3,
                      "calls": calls}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, action="append", required=True,
                        help="where serving_bench.py built DIR/pristine (once, or once per tree, in order)")
    parser.add_argument("--tree", type=Path, action="append", required=True, help="a source tree (give two)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=200, help="requests per endpoint per child")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.n)))
        return
    trees = [t.resolve() for t in args.tree]
    dirs = args.dir if len(args.dir) == len(trees) else [args.dir[0]] * len(trees)
    worlds = {t: d / "pristine" for t, d in zip(trees, dirs)}
    for pristine in worlds.values():
        if not (pristine / "feast" / "online.db").exists():
            raise SystemExit(f"{pristine} is not built; run benchmarks/serving_bench.py --dir {pristine.parent} first")
    runs: dict[Path, list[dict]] = {t: [] for t in trees}
    for r in range(args.rounds):
        for tree in trees if r % 2 == 0 else reversed(trees):  # alternate the order: same noise for both
            with tempfile.TemporaryDirectory(prefix="pomona-handler-") as tmp:
                home = Path(tmp) / "home"
                shutil.copytree(worlds[tree], home)
                env = {**os.environ, "PYTHONPATH": str(tree), "POMONA_HOME": str(home)}
                proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--dir", str(dirs[0]),
                                       "--tree", str(tree), "--n", str(args.n), "--child", str(home)],
                                      cwd=tree, env=env, capture_output=True, text=True)
                if proc.returncode != 0:
                    raise SystemExit(f"child on {tree} failed:\n{proc.stderr[-3000:]}")
                runs[tree].append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    first, *rest = trees
    print(f"\n{args.rounds} rounds x {args.n} requests per endpoint; medians over rounds (ms)\n")
    print("| endpoint | " + " | ".join(f"{t.name or t} p50 / p99" for t in trees)
          + " | " + " | ".join(f"p50 / p99 ratio ({t.name} : {first.name})" for t in rest)
          + " | " + " | ".join(f"{t.name or t} calls" for t in trees) + " |")
    print("|---" * (1 + 2 * len(trees) + len(rest)) + "|")
    for route in ROUTES.values():
        med = {t: tuple(statistics.median(run[route][k] for run in runs[t]) for k in ("p50_ms", "p99_ms"))
               for t in trees}
        cells = [f"{med[t][0]:.2f} / {med[t][1]:.2f}" for t in trees]
        ratios = [f"{med[t][0] / med[first][0]:.2f}x / {med[t][1] / med[first][1]:.2f}x" for t in rest]
        calls = [f"{statistics.median(run[route]['calls'] for run in runs[t]):,.0f}" for t in trees]
        print(f"| {route} | " + " | ".join(cells + ratios + calls) + " |")


if __name__ == "__main__":
    main()
