"""Serving load benchmark: the platform (BentoML ``All``) against a bare FastAPI baseline.

    .venv/bin/python benchmarks/serving_bench.py --dir /tmp/pomona-bench [--seconds 4]

Builds the small world (as tests/test_serving.py does) once into ``DIR/pristine``, copies it
to ``DIR/home`` for each run (the fraud pushes change the online store), starts both servers
on 127.0.0.1 and drives each endpoint from this (separate) process: open-loop at a fixed
rate and closed-loop saturation, with 1 and 16 connections, each bounded in time and count.
Latency is measured from the *scheduled* send time (open loop: queueing counts).

The baseline app (``--baseline-app``) reads the same online features with plain ``sqlite3``
(Feast ValueProto decoded with ``Value_pb2``) and calls the same LightGBM boosters / the
same estimators directly: no Feast, no BentoML, no pandas on the request path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
TS0 = 1767916800  # 2026-01-09T00:00:00Z, after the data's end
HORIZON = 48  # forecast steps per request
BATCHED = ("/rank", "/score_transaction")  # served also as /batch/<route> (adaptive batching; --batching)


# --- world ---------------------------------------------------------------------------------

def build_world(base: Path) -> None:
    pristine = base / "pristine"
    if (pristine / "feast" / "online.db").exists():
        return
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]
    os.environ["POMONA_HOME"] = str(pristine)
    import yaml
    from conftest import small_world
    from test_training import FAST

    import features
    from training.job import train
    ws = small_world(pristine)
    features.materialize(ws)
    for uc, cands in FAST.items():
        cfg = base / f"{uc}.yaml"
        extra = {"max_horizon": HORIZON} if uc == "forecasting" else {}  # the 48-step forecast
        cfg.write_text(yaml.safe_dump({"candidates": cands, **extra}))
        assert train(uc, str(cfg), seed=0, ws=ws).promoted


# --- the bare baseline app -------------------------------------------------------------------

def baseline_app(home: str):
    import math
    import re
    import sqlite3

    import numpy as np
    from fastapi import FastAPI
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    os.environ["POMONA_HOME"] = home
    from pomona.workspace import workspace
    from training import pyfunc, tracking
    tracking.connect(workspace())
    bundles = {uc: pyfunc.load_bundle(f"models:/pomona-{uc}@champion")
               for uc in ("fraud", "ranking", "recommendations", "forecasting")}
    db = sqlite3.connect(f"{home}/feast/online.db", check_same_thread=False)
    fraud, rank = bundles["fraud"].estimator, bundles["ranking"].estimator
    fb, rb = fraud.booster_, rank.booster_
    cats = {c: {v: i for i, v in enumerate(vals)} for c, vals in fraud.categories_.items()}
    ffeat, rfeat = list(fraud.features_in_), list(rank.features_in_)

    def key(name, v):
        ek = EntityKey(join_keys=[name], entity_values=[Value(int64_val=int(v))])
        return serialize_entity_key(ek, entity_key_serialization_version=3)

    def value(raw):
        v = Value()
        v.ParseFromString(raw)
        kind = v.WhichOneof("val")
        return None if kind is None else getattr(v, kind)

    def read(table, keys):
        out = {}
        q = f"SELECT entity_key, feature_name, value FROM pomona_{table} WHERE entity_key IN ({','.join('?' * len(keys))})"
        for k, name, raw in db.execute(q, keys):
            out.setdefault(k, {})[name] = value(raw)
        return out

    def num(v):
        return float("nan") if v is None else float(v)

    app = FastAPI()

    @app.post("/score_transaction")
    def score_transaction(body: dict):
        ak, mk = key("account_id", body["account_id"]), key("merchant_id", body["merchant_id"])
        row = {**read("fraud_account_activity", [ak]).get(ak, {}), **read("fraud_merchant_risk", [mk]).get(mk, {}),
               **read("fraud_merchants", [mk]).get(mk, {}), **body}
        amount, mean = float(body["amount"]), num(row.get("amount_mean_30d"))
        row["log_amount"] = math.log1p(amount)
        row["amount_to_mean_30d"] = amount / mean if mean == mean and mean > 0 else 1.0
        row["secs_since_prev_txn"] = 30 * 86400.0
        x = np.array([[cats[c].get(str(row.get(c)), np.nan) if c in cats else num(row.get(c)) for c in ffeat]])
        margin = fb.predict(x, raw_score=True, num_threads=1)
        return {"fraud_probability": float(1 / (1 + np.exp(-margin[0])))}

    token = re.compile(r"[a-z0-9]+")

    @app.post("/rank")
    def rank_(body: dict):
        ids, query = body["product_ids"], body["query"]
        keys = [key("product_id", p) for p in ids]
        rows = [{} for _ in ids]
        for table in ("ranking_product_titles", "ranking_product_engagement", "ranking_products"):
            got = read(table, keys)
            for r, k in zip(rows, keys):
                r.update(got.get(k, {}))
        qt = set(token.findall(query.lower()))
        for r in rows:
            tt = set(token.findall(str(r.get("title", "")).lower()))
            r["query_title_overlap"] = len(qt & tt) / len(qt) if qt else 0.0
            r["query_title_jaccard"] = len(qt & tt) / len(qt | tt) if qt | tt else 0.0
            r["query_title_phrase"] = float(query.lower() in str(r.get("title", "")).lower())
        x = np.array([[num(r.get(c)) if isinstance(r.get(c), (int, float)) or r.get(c) is None else np.nan
                       for c in rfeat] for r in rows])
        s = rb.predict(x, num_threads=1)
        order = np.argsort(-s, kind="stable")
        return {"results": [{"product_id": ids[i], "score": float(s[i])} for i in order]}

    @app.post("/recommend")
    def recommend(body: dict):
        recs = bundles["recommendations"].estimator.recommend(np.array([body["user_id"]]), k=body.get("k", 10),
                                                              exclude_seen=True)
        return {"items": [{"product_id": int(p), "score": float(s)} for p, s in zip(recs["product_id"], recs["score"])]}

    @app.post("/forecast")
    def forecast(body: dict):
        from models.scoring import score
        from serving.forecasting import _future, prepare
        from serving.runtime import Loaded
        b = bundles["forecasting"]
        if not hasattr(forecast, "loaded"):
            forecast.loaded = Loaded("forecasting", "1", b, prepare(b, workspace()))
        out = score(b, _future(forecast.loaded, b.estimator, [body["series_id"]], body["horizon"]),
                    horizon=body["horizon"])
        return {"forecast": [{"yhat": float(y)} for y in out["yhat"]]}

    return app


# --- load ------------------------------------------------------------------------------------

def requests_for(endpoint: str, home: Path, n: int, seed: int = 0) -> list[dict]:
    import pandas as pd
    rng = random.Random(seed)
    if endpoint == "/recommend":
        return [{"user_id": rng.randint(1, 500), "k": 10} for _ in range(n)]
    if endpoint == "/rank":
        return [{"query": "red running shoes", "product_ids": rng.sample(range(1, 201), 100)} for _ in range(n)]
    if endpoint == "/forecast":
        series = sorted(pd.read_parquet(home / "data/forecasting/demand.parquet", columns=["series_id"])
                        .series_id.unique())
        return [{"series_id": rng.choice(series), "horizon": HORIZON} for _ in range(n)]
    start = REQ_CLOCK[0]
    REQ_CLOCK[0] += n
    return [{"transaction_id": 10**7 + start + i, "account_id": rng.randint(1, 500), "merchant_id": rng.randint(1, 120),
             "amount": round(rng.uniform(1, 300), 2), "timestamp": TS0 + start + i, "device_id": rng.randint(1, 999),
             "country": "US", "channel": "web"} for i in range(n)]


REQ_CLOCK = [0]  # fraud timestamps keep increasing across phases (the account log expects time order)


async def _run(base: str, endpoint: str, bodies: list[dict], conns: int, rate: float | None, seconds: float,
               wrap: bool = False):
    import httpx
    if wrap:  # a batchable BentoML API takes {"requests": [input, ...]}; one input per client request
        bodies = [{"requests": [b]} for b in bodies]
    lat, errors = [], 0
    limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        for b in bodies[:5]:  # warm the connections
            await client.post(endpoint, json=b)
        sem = asyncio.Semaphore(conns)
        t0 = time.perf_counter()

        async def one(i, body, scheduled):
            nonlocal errors
            async with sem:
                r = await client.post(endpoint, json=body)
            lat.append(time.perf_counter() - scheduled)
            errors += r.status_code != 200

        if rate:  # open loop: send at fixed times regardless of answers
            tasks = []
            for i, body in enumerate(bodies):
                when = t0 + i / rate
                if when - t0 > seconds:
                    break
                await asyncio.sleep(max(0.0, when - time.perf_counter()))
                tasks.append(asyncio.create_task(one(i, body, when)))
            await asyncio.gather(*tasks)
        else:  # saturation: each connection sends its next request when the last one answers
            it = iter(bodies)

            async def worker():
                nonlocal errors
                for body in it:
                    if time.perf_counter() - t0 > seconds:
                        return
                    s = time.perf_counter()
                    r = await client.post(endpoint, json=body)
                    lat.append(time.perf_counter() - s)
                    errors += r.status_code != 200
            await asyncio.gather(*(worker() for _ in range(conns)))
        wall = time.perf_counter() - t0
    lat.sort()
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1e3 if lat else float("nan")  # noqa: E731
    return {"n": len(lat), "errors": errors, "p50_ms": pct(0.5), "p99_ms": pct(0.99), "rps": len(lat) / wall}


def wait_ready(base: str, path: str, proc, timeout: float = 240) -> None:
    import httpx
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, f"server for {base} exited"
        try:
            if httpx.get(base + path, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise TimeoutError(base)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


RATES = {"/score_transaction": 200, "/recommend": 200, "/rank": 50, "/forecast": 50}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/tmp/pomona-bench")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--endpoints", default="/score_transaction,/rank,/recommend,/forecast")
    ap.add_argument("--baseline-app", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None)
    ap.add_argument("--batching", action="store_true",
                    help="also load the adaptive-batching routes /batch/<route> of " + ", ".join(BATCHED))
    args = ap.parse_args()
    if args.baseline_app:
        import uvicorn
        uvicorn.run(baseline_app(args.baseline_app), host="127.0.0.1", port=args.port, log_level="warning")
        return
    base_dir = Path(args.dir)
    build_world(base_dir)
    home = base_dir / "home"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(base_dir / "pristine", home)
    env = {**os.environ, "POMONA_HOME": str(home), "BENTOML_DO_NOT_TRACK": "True", "PYTHONPATH": str(ROOT)}
    pp, bp = free_port(), free_port()
    procs = [subprocess.Popen([PY, "-m", "serving.cli", "all", "--port", str(pp)], cwd=ROOT, env=env,
                              stdout=open(base_dir / "platform.log", "w"), stderr=subprocess.STDOUT,
                              start_new_session=True),
             subprocess.Popen([PY, __file__, "--baseline-app", str(home), "--port", str(bp)], cwd=ROOT, env=env,
                              stdout=open(base_dir / "baseline.log", "w"), stderr=subprocess.STDOUT,
                              start_new_session=True)]
    servers = [("baseline", bp), ("platform", pp)] + ([("batched", pp)] if args.batching else [])
    results = []
    try:
        wait_ready(f"http://127.0.0.1:{pp}", "/readyz", procs[0])
        wait_ready(f"http://127.0.0.1:{bp}", "/docs", procs[1])
        for endpoint in args.endpoints.split(","):
            for conns in (1, 16):
                for mode in ("rate", "saturation"):
                    for name, port in servers:  # interleaved: same noise
                        if name == "batched" and endpoint not in BATCHED:
                            continue
                        rate = RATES[endpoint] if mode == "rate" else None
                        n = int(RATES[endpoint] * args.seconds) if rate else 4000
                        bodies = requests_for(endpoint, home, n + 5)
                        route = "/batch" + endpoint if name == "batched" else endpoint
                        r = asyncio.run(_run(f"http://127.0.0.1:{port}", route, bodies, conns, rate, args.seconds,
                                             wrap=name == "batched"))
                        r.update(server=name, endpoint=endpoint, conns=conns,
                                 mode=f"{rate}/s" if rate else "saturation")
                        results.append(r)
                        print(json.dumps(r), flush=True)
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    print_tables(results)


def print_tables(results: list[dict]) -> None:
    """Platform against the bare baseline; then, where measured, batched against unbatched."""
    by = {(r["endpoint"], r["conns"], r["mode"], r["server"]): r for r in results}
    cell = lambda r: f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f} | {r['rps']:.0f}"  # noqa: E731
    print("\n| endpoint | conns | load | platform p50 / p99 ms | rps | baseline p50 / p99 ms | rps | p99 ratio |")
    print("|---|---|---|---|---|---|---|---|")
    keys = [k[:3] for k in by if k[3] == "platform"]
    for k in keys:
        p, b = by[(*k, "platform")], by[(*k, "baseline")]
        errs = f" errors {p['errors']}/{b['errors']}" if p["errors"] or b["errors"] else ""
        print(f"| {k[0]} | {k[1]} | {k[2]} | {cell(p)} | {cell(b)} | {p['p99_ms'] / b['p99_ms']:.1f}x |{errs}")
    batched = [k for k in keys if (*k, "batched") in by]
    if batched:
        print("\n| endpoint | conns | load | unbatched p50 / p99 ms | rps | batched p50 / p99 ms | rps | rps ratio |")
        print("|---|---|---|---|---|---|---|---|")
        for k in batched:
            p, x = by[(*k, "platform")], by[(*k, "batched")]
            errs = f" errors {x['errors']}" if x["errors"] else ""
            print(f"| {k[0]} | {k[1]} | {k[2]} | {cell(p)} | {cell(x)} | {x['rps'] / p['rps']:.2f}x |{errs}")


if __name__ == "__main__":
    main()
