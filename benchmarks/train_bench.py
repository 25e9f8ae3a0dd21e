"""Training wall time per use case, the platform's overhead over a bare ``lightgbm.train`` on
the same frame, and the share of job time spent logging to MLflow.

    .venv/bin/python benchmarks/train_bench.py [--scale medium] [--repeats 3] [--only fraud,ranking]

For fraud and ranking, the same LightGBM configuration is timed three ways in one run:
(1) bare ``lightgbm.train`` on the numeric matrix of the training frame, (2) the Pomona
estimator's ``fit`` (categoricals, class weights, calibration), (3) the whole job for that one
candidate (Feast frame, split, fit, evaluation, MLflow logging, registration).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="medium", choices=["small", "medium", "large"])
    ap.add_argument("--home", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default=None, help="comma-separated use cases to time (default: all)")
    args = ap.parse_args()
    home = Path(args.home or tempfile.mkdtemp(prefix="pomona-train-bench-"))
    os.environ["POMONA_HOME"] = str(home)
    import lightgbm as lgb

    import features
    from pomona.data.generate import generate
    from pomona.data.writer import read_manifest
    from pomona.usecases import USE_CASES
    from pomona.workspace import workspace
    from training.common import model_input
    from training.config import load_train_config
    from training.job import make_estimator, task, train

    only = USE_CASES if args.only is None else [u.strip() for u in args.only.split(",") if u.strip()]
    unknown = sorted(set(only) - set(USE_CASES))
    if unknown:
        ap.error(f"--only: unknown use cases {unknown}; known: {', '.join(USE_CASES)}")
    ws = workspace(home)
    if not (ws.dataset_dir("fraud") / "manifest.json").exists():
        generate(ws, scale=args.scale, seed=0, progress=False)
    features.apply(ws)

    print(f"# train_bench: scale={args.scale} nproc={os.cpu_count()}\n")
    print("## Training wall time per use case (default configs, all candidates)\n")
    print("| use case | job s | frame s | fit s | evaluate s | plots s | gate s | MLflow logging s | logging share |")
    print("|---|---|---|---|---|---|---|---|---|")
    for uc in only:
        r = train(uc, seed=0, ws=ws, log=lambda m: None)
        t = r.timings
        print(f"| {uc} | {t['job']:.1f} | {t['frame']:.1f} | {t['fit']:.1f} | {t['evaluate']:.1f} | {t['plots']:.1f} "
              f"| {t['gate']:.1f} | {t['log']:.2f} | {t['log'] / t['job']:.1%} |")

    print("\n## LightGBM through the platform against bare lightgbm.train (same frame, same run)\n")
    print(f"Median of {args.repeats} repeats each, interleaved.\n")
    print("| use case | bare lgb.train s | estimator fit s | ratio | whole job (1 candidate) s | ratio |")
    print("|---|---|---|---|---|---|")
    for uc, name in ((u, n) for u, n in (("fraud", "lightgbm"), ("ranking", "lambdamart")) if u in only):
        cfg = load_train_config(uc)
        cfg = cfg.model_copy(update={"candidates": {name: cfg.candidates[name]}})
        mod = task(uc)
        data = mod.prepare(ws, cfg, read_manifest(ws, uc))
        est = make_estimator(uc, name, cfg.candidates[name], 0)
        train_rows = data.part("train")
        X = model_input(train_rows, data.label)
        num = X.select_dtypes("number").drop(columns=[c for c in X.columns if c.endswith("_id")], errors="ignore")
        params = {"objective": "binary" if uc == "fraud" else "lambdarank", "learning_rate": est.learning_rate,
                  "num_leaves": est.num_leaves, "min_child_samples": est.min_child_samples, "verbose": -1,
                  "deterministic": True, "seed": 0}
        bare, wrapped, job = [], [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            if uc == "fraud":
                ds = lgb.Dataset(num.to_numpy(float), label=train_rows[data.label].to_numpy())
            else:
                groups = train_rows.groupby("query_id", sort=False).size().to_numpy()
                ds = lgb.Dataset(num.to_numpy(float), label=train_rows[data.label].to_numpy(), group=groups)
            lgb.train(params, ds, num_boost_round=est.n_estimators)
            bare.append(time.perf_counter() - t)
            t = time.perf_counter()
            make_estimator(uc, name, cfg.candidates[name], 0).fit(X, train_rows[data.label].to_numpy())
            wrapped.append(time.perf_counter() - t)
            t = time.perf_counter()
            train(uc, cfg, seed=0, ws=ws, log=lambda m: None)
            job.append(time.perf_counter() - t)
        b, w, j = (statistics.median(x) for x in (bare, wrapped, job))
        print(f"| {uc} ({name}) | {b:.2f} | {w:.2f} | {w / b:.2f}x | {j:.2f} | {j / b:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
