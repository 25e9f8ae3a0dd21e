"""``pomona demo``: the main job on the embedded default, end to end, with what each step did."""

from __future__ import annotations

import time
from typing import Callable

import pandas as pd

from pomona import schemas
from pomona.data.writer import load_table
from pomona.workspace import Workspace


def _step(echo: Callable[[str], None], title: str):
    echo(f"\n== {title}")
    return time.perf_counter()


def sample_entity_rows(ws: Workspace) -> dict[str, dict]:
    """One realistic online request per use case, taken from the workspace's data."""
    rows: dict[str, dict] = {}
    inter = load_table(ws, "recommendations", columns=[schemas.USER_ID, schemas.PRODUCT_ID])
    rows["recommendations"] = {k: int(v) for k, v in inter.iloc[-1].items()}
    judg = load_table(ws, "ranking")
    last = judg.iloc[-1]
    rows["ranking"] = {schemas.QUERY_ID: int(last[schemas.QUERY_ID]), schemas.PRODUCT_ID: int(last[schemas.PRODUCT_ID])}
    if "query" in judg.columns:
        rows["ranking"]["query"] = str(last["query"])
    tx = load_table(ws, "fraud").iloc[-1]
    rows["fraud"] = {schemas.ACCOUNT_ID: int(tx[schemas.ACCOUNT_ID]), schemas.MERCHANT_ID: int(tx[schemas.MERCHANT_ID])}
    for col in ("amount", "device_id", "country", "channel"):
        if col in tx.index:
            rows["fraud"][col] = tx[col].item() if hasattr(tx[col], "item") else tx[col]
    rows["fraud"]["txn_unix"] = float(pd.Timestamp(tx[schemas.TS]).timestamp())
    demand = load_table(ws, "forecasting", columns=[schemas.SERIES_ID])
    rows["forecasting"] = {schemas.SERIES_ID: str(demand.iloc[-1][schemas.SERIES_ID])}
    return rows


def run(ws: Workspace, scale: str, seed: int, echo: Callable[[str], None] = print) -> None:
    import features
    from pomona.data.generate import generate
    from pomona.usecases import USE_CASES
    from training.job import train

    echo(f"Pomona demo: workspace {ws.root} (embedded default: parquet + DuckDB offline, SQLite online)")
    t = _step(echo, f"1/5 generate the synthetic marketplace (scale={scale}, seed={seed})")
    for m in generate(ws, scale=scale, seed=seed, force=True).values():
        echo(f"   {m.use_case:16s} " + ", ".join(f"{k}={v.rows:,}" for k, v in m.tables.items()))
    echo(f"   done in {time.perf_counter() - t:.1f}s")

    t = _step(echo, "2/5 apply the feature store definitions (Feast)")
    for uc, d in features.apply(ws).items():
        echo(f"   {d.service_name:22s} {', '.join(p.name for p in d.service.feature_view_projections)}")
    echo(f"   done in {time.perf_counter() - t:.1f}s")

    t = _step(echo, "3/5 materialize the latest feature values into the online store")
    out = features.materialize(ws)
    echo(f"   {out['source_rows']:,} feature rows, {out['start']:%Y-%m-%d} .. {out['end']:%Y-%m-%d}, "
         f"in {time.perf_counter() - t:.1f}s")

    _step(echo, "4/5 online look-up, one entity per use case")
    for uc, row in sample_entity_rows(ws).items():
        t = time.perf_counter()
        vec = features.online_features(uc, [row], ws).iloc[0]
        ms = (time.perf_counter() - t) * 1e3
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in list(vec.items())[:8])
        echo(f"   {uc:16s} ({ms:.1f} ms) {shown}, ... {len(vec)} values")

    t = _step(echo, "5/5 train every use case (MLflow tracking, registry, champion gate)")
    board = []
    for uc in USE_CASES:
        t_uc = time.perf_counter()
        result = train(uc, seed=seed, ws=ws, log=lambda m: echo(f"   {m}"))
        board.append((result, time.perf_counter() - t_uc))
    echo(f"   done in {time.perf_counter() - t:.1f}s")

    echo("\n== leaderboard (held-out data; * = winner)")
    for result, secs in board:
        cells = []
        for c in result.candidates:
            star = "*" if c["name"] == result.winner else " "
            cells.append(f"{c['name']}{star} {c['metrics'][result.primary_metric]:.4f}")
        champ = f"champion v{result.champion_version}" + ("" if result.promoted else " (kept)")
        echo(f"   {result.use_case:16s} {result.primary_metric:11s} {' | '.join(cells)}  -> {champ}  [{secs:.0f}s]")

    echo("\nNext:")
    echo(f"   MLflow UI:  .venv/bin/mlflow ui --backend-store-uri sqlite:///{ws.root}/mlflow.db --port 5000")
    echo("   registry:   pomona models list | pomona models history fraud")
    echo("   serving (BentoML) and SageMaker deployment are not in this build yet (issues #4, #5).")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)
