"""``pomona demo``: the main job on the embedded default, end to end, with what each step did."""

from __future__ import annotations

import time
from collections.abc import Callable

from pomona.data.writer import load_table
from pomona.usecases import use_cases
from pomona.workspace import Workspace


def _step(echo: Callable[[str], None], title: str):
    echo(f"\n== {title}")
    return time.perf_counter()


def sample_entity_rows(ws: Workspace) -> dict[str, dict]:
    """One realistic online request per use case: the last row of its main table, with the
    keys and request fields its FeatureService asks for (``features.entity_row``)."""
    import features

    return {uc: features.entity_row(uc, load_table(ws, uc).iloc[-1].to_dict(), ws) for uc in use_cases()}


def run(ws: Workspace, scale: str, seed: int, echo: Callable[[str], None] = print) -> None:
    import features
    from pomona.data.generate import generate
    from training.job import train

    echo(f"Pomona demo: workspace {ws.root} (embedded default: parquet + DuckDB offline, SQLite online)")
    t = _step(echo, f"1/5 generate the synthetic marketplace (scale={scale}, seed={seed})")
    for m in generate(ws, scale=scale, seed=seed, force=True).values():
        echo(f"   {m.use_case:16s} " + ", ".join(f"{k}={v.rows:,}" for k, v in m.tables.items()))
    echo(f"   done in {time.perf_counter() - t:.1f}s")

    t = _step(echo, "2/5 apply the feature store definitions (Feast)")
    for d in features.apply(ws).values():
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
    for uc in use_cases():
        t_uc = time.perf_counter()
        result = train(uc, seed=seed, ws=ws, log=lambda m: echo(f"   {m}"))
        board.append((result, time.perf_counter() - t_uc))
    echo(f"   done in {time.perf_counter() - t:.1f}s")

    echo("\n== leaderboard (validation, where the winner * is chosen / test, scored once)")
    for result, secs in board:
        cells = []
        for c in result.candidates:
            star = "*" if c["name"] == result.winner else " "
            test = f" / {c['metrics'][result.primary_metric]:.4f}" if c["metrics"] else ""
            cells.append(f"{c['name']}{star} {c['validation_metrics'][result.primary_metric]:.4f}{test}")
        champ = f"champion v{result.champion_version}" + ("" if result.promoted else " (kept)")
        echo(f"   {result.use_case:16s} {result.primary_metric:11s} {' | '.join(cells)}  -> {champ}  [{secs:.0f}s]")

    echo("\nNext:")
    echo(f"   MLflow UI:  .venv/bin/mlflow ui --backend-store-uri sqlite:///{ws.root}/mlflow.db --port 5000")
    first = use_cases()[0]
    echo(f"   registry:   pomona models list | pomona models history {first}")
    echo("   serve:      pomona serve all --port 3000   then open http://127.0.0.1:3000 (every endpoint,")
    echo("               with a request to try; curl examples in docs/serving.md)")
    echo(f"   batch:      pomona score {first} --input rows.parquet --output scored.parquet")
    echo(f"   SageMaker:  pomona deploy sagemaker {first} --mode local   (or --dry-run with --role-arn/--region/--bucket)")
    echo("   notebooks:  notebooks/01_feature_store.ipynb ... 07 (open in Jupyter, or run headless:")
    echo("               .venv/bin/jupyter execute notebooks/01_feature_store.ipynb)")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def ensure_world(ws: Workspace | None = None, scale: str = "small", seed: int = 0) -> Workspace:
    """A workspace ready for the notebooks: the synthetic marketplace generated (unless the
    workspace already holds data, generated or imported), the feature definitions applied and
    the latest values materialized into the online store."""
    import features
    from pomona.data.generate import generate
    from pomona.data.writer import read_manifest
    from pomona.workspace import workspace

    ws = ws or workspace()
    try:
        for uc in use_cases():
            read_manifest(ws, uc)
    except Exception:  # some use case has no data yet
        generate(ws, scale=scale, seed=seed, progress=False)
    features.apply(ws)
    features.materialize(ws)
    return ws
