"""Choose model defaults on a validation part carved out of the training part; never on test.

    .venv/bin/python benchmarks/tune_defaults.py synthetic [--scale small --seed 0]
    .venv/bin/python benchmarks/tune_defaults.py movielens [--data ../shared/data]
    .venv/bin/python benchmarks/tune_defaults.py letor
    .venv/bin/python benchmarks/tune_defaults.py vehicle

Each dataset keeps its published split, and only its training part is read here; the
validation part is carved out of it as the training job does (``training/splits.py``):

* recommendations (synthetic world, MovieLens 100K): the per-user 75/25 split (seed 42), then
  20% of each user's training rows (seed 43), ``splits.per_user``; nDCG@10, binary relevance,
  items seen in the fitted rows removed.
* ranking (LightGBM's LETOR sample): rank.train only; a seeded random 20% of its queries
  validate (``splits.carve``), NDCG@10 with LightGBM's convention. With ~40 validation queries
  one carve is noise, so each row is the mean over carve seeds 0-2 (model seed = carve seed).
* fraud (vehicle insurance): 1994-1995 only; the last 20% of that period validates
  (``splits.temporal``), PR-AUC, mean of model seeds 0-2.

The defaults are the same for every dataset: a row marked ``*`` is the current default.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from training import splits

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SEEDS = (0, 1, 2)


def _table(rows: list[dict], title: str) -> None:
    print(f"\n{title}\n")
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in r.values()) + " |")


# -- recommendations -------------------------------------------------------------------------
LIMIT: int | None = None  # --limit: the first N points of each grid


def recs_grid() -> list[tuple[str, object]]:
    from models.recommendations import EASE, BPRMatrixFactorization, MostPopular

    grid = [("most_popular", MostPopular())]
    grid += [(f"ease l2={lam:g}", EASE(l2=lam)) for lam in (50, 100, 200, 500, 1000)]
    for reg, epochs in itertools.product((3e-3, 1e-2, 3e-2), (30, 60, 120)):
        grid.append((f"bpr reg={reg:g} epochs={epochs}", BPRMatrixFactorization(reg=reg, epochs=epochs, device="cpu")))
    grid.append(("bpr factors=16", BPRMatrixFactorization(factors=16, device="cpu")))
    return grid[:LIMIT]


def recs_validation(frame: pd.DataFrame, title: str) -> list[dict]:
    """Fit every grid point on the training rows, score on the carved validation rows."""
    from models.recommendations import EASE, BPRMatrixFactorization
    from training.metrics.topk import recommendation_metrics

    masks = splits.per_user(frame["user_id"], 0.25, 0.2, 42)
    train, valid = frame[masks.train], frame[masks.valid]
    relevant = {int(u): set(map(int, g)) for u, g in valid.groupby("user_id")["product_id"]}
    users = np.array(sorted(relevant))
    defaults = {"ease": EASE().get_params(), "bpr": BPRMatrixFactorization().get_params()}
    rows = []
    for name, model in recs_grid():
        t0 = time.perf_counter()
        model.fit(train[["user_id", "product_id", "weight"]])
        secs = time.perf_counter() - t0
        recs = model.recommend(users, k=10).sort_values(["user_id", "rank"])
        lists = {int(u): list(map(int, g)) for u, g in recs.groupby("user_id")["product_id"]}
        m = recommendation_metrics(lists, relevant, k=10, n_items=frame["product_id"].nunique())
        family = name.split()[0]
        default = family in defaults and {k: v for k, v in model.get_params().items()
                                          if k != "device"} == {k: v for k, v in defaults[family].items()
                                                                if k != "device"}
        rows.append({"model": name + (" *" if default else ""), "ndcg@10": m["ndcg_at_10"],
                     "precision@10": m["precision_at_10"], "recall@10": m["recall_at_10"], "fit s": secs})
    _table(rows, f"{title}: {masks.train.sum()} training / {masks.valid.sum()} validation rows, "
                 f"{len(users)} users (test part not read)")
    return rows


def synthetic(args) -> None:
    from pomona.data import load_table
    from pomona.data.generate import generate
    from pomona.workspace import workspace

    with tempfile.TemporaryDirectory() as tmp:
        ws = workspace(tmp)
        generate(ws, scale=args.scale, seed=args.seed, progress=False)
        frame = load_table(ws, "recommendations")
    recs_validation(frame, f"synthetic world (scale {args.scale}, seed {args.seed}), recommendations")


def movielens(args) -> None:
    from pomona.data.importers.movielens import read_ratings

    frame = read_ratings(Path(args.data) / "recommendations" / "movielens-100k" / "u.data")
    frame["weight"] = 1.0  # every rating is one binary interaction, as the published protocol
    recs_validation(frame, "MovieLens 100K")


# -- ranking ---------------------------------------------------------------------------------
def lambdamart_grid() -> list[tuple[str, dict]]:
    grid = [(f"trees={n} lr={lr:g} min_leaf={mcs}", dict(n_estimators=n, learning_rate=lr, min_child_samples=mcs))
            for n, lr, mcs in itertools.product((100, 300, 600), (0.05, 0.1), (30, 50))]
    grid.append(("train.conf (100 trees, lr 0.1, min 50, bagging 0.9, all features)",
                 dict(n_estimators=100, learning_rate=0.1, min_child_samples=50, subsample=0.9,
                      colsample_bytree=1.0)))
    return grid[:LIMIT]


def letor(args) -> None:
    from models.ranking import LambdaMART, StrongestFeature, _group_codes, _mean_ndcg
    from pomona.data.importers.svmlight import judgments, parse

    folder = Path(args.data) / "ranking" / "lightgbm-lambdarank"
    frame = judgments(parse(folder / "rank.train"), parse(folder / "rank.test"))
    before = splits.official(frame["split"])
    frame = frame[before].reset_index(drop=True)
    feats = [c for c in frame.columns if c.startswith("f_")]
    carves = [splits.carve(np.ones(len(frame), bool), frame["query_id"], None, 0.2, s) for s in SEEDS]
    default = LambdaMART().get_params()
    rows = []
    grid = [("strongest_feature", None)] + lambdamart_grid()
    for name, params in grid:
        scores, t0 = [], time.perf_counter()
        for seed, (tr, va) in zip(SEEDS, carves, strict=True):
            X = frame[["query_id", *feats]]
            if params is None:
                model = StrongestFeature()
            else:
                model = LambdaMART(**params, random_state=seed, num_threads=2)
            model.fit(X[tr], frame["relevance"][tr])
            _, codes = _group_codes(frame["query_id"][va])
            scores.append(_mean_ndcg(frame["relevance"][va].to_numpy(float), model.predict(X[va]), codes, 10))
        is_default = params is not None and {**default, **params, "random_state": 0, "num_threads": 0} == default
        rows.append({"model": name + (" *" if is_default else ""), "ndcg@10 (mean of 3 carves)": float(np.mean(scores)),
                     "min": float(np.min(scores)), "max": float(np.max(scores)),
                     "fit s": (time.perf_counter() - t0) / len(SEEDS)})
    n_q = frame["query_id"].nunique()
    _table(rows, f"LETOR sample, rank.train only: {n_q} queries, validation = a random 20% of them "
                 f"(carve seeds {SEEDS}; rank.test not read)")


# -- fraud -----------------------------------------------------------------------------------
def vehicle(args) -> None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    from models.fraud import LGBMFraud, LogisticFraud
    from pomona.data.fraud import IS_FRAUD
    from pomona.data.importers.fraud_csv import vehicle_transactions
    from pomona.schemas import TS

    df = vehicle_transactions(Path(args.data) / "fraud" / "vehicle-insurance" / "fraud_oracle.csv")
    df = df.sort_values([TS, "transaction_id"], kind="stable").reset_index(drop=True).drop(columns=["Year"])
    masks = splits.temporal(df[TS], 0.2, 0.2, "1996-01-01")
    train, valid = df[masks.train].reset_index(drop=True), df[masks.valid].reset_index(drop=True)
    grid: list[tuple[str, object]] = [(f"logistic C={c:g}", lambda s, c=c: LogisticFraud(C=c)) for c in (0.1, 1.0, 10.0)]
    for n, leaves, mcs in itertools.product((150, 300, 600), (7, 15, 31), (50, 100)):
        grid.append((f"lightgbm trees={n} leaves={leaves} min_leaf={mcs}",
                     lambda s, n=n, leaves=leaves, mcs=mcs: LGBMFraud(n_estimators=n, num_leaves=leaves,
                                                                      min_child_samples=mcs, random_state=s)))
    defaults = {"logistic": LogisticFraud().get_params(), "lightgbm": LGBMFraud().get_params()}
    rows = []
    for name, make in grid[:LIMIT]:
        pr, roc, t0 = [], [], time.perf_counter()
        for seed in SEEDS:
            model = make(seed).fit(train, train[IS_FRAUD])
            p = model.predict_proba(valid)[:, 1]
            pr.append(average_precision_score(valid[IS_FRAUD], p))
            roc.append(roc_auc_score(valid[IS_FRAUD], p))
        params = make(0).get_params()
        is_default = params == defaults[name.split()[0]]
        rows.append({"model": name + (" *" if is_default else ""), "pr_auc (mean of 3 seeds)": float(np.mean(pr)),
                     "roc_auc": float(np.mean(roc)), "fit s": (time.perf_counter() - t0) / len(SEEDS)})
    _table(rows, f"vehicle insurance, 1994-1995 only: {len(train)} training rows "
                 f"({train[IS_FRAUD].mean():.2%} fraud) up to {train[TS].max():%Y-%m-%d}, {len(valid)} validation "
                 f"rows ({valid[IS_FRAUD].mean():.2%} fraud); 1996 not read")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", choices=["synthetic", "movielens", "letor", "vehicle"])
    ap.add_argument("--data", default=str(DATA), help="the folder of the real datasets")
    ap.add_argument("--scale", default="small")
    ap.add_argument("--seed", type=int, default=0, help="the synthetic world's seed")
    ap.add_argument("--limit", type=int, default=None, help="score only the first N grid points (a smoke run)")
    args = ap.parse_args()
    global LIMIT
    LIMIT = args.limit
    {"synthetic": synthetic, "movielens": movielens, "letor": letor, "vehicle": vehicle}[args.dataset](args)


if __name__ == "__main__":
    main()
