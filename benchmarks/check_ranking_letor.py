"""Ranking models on LightGBM's LETOR sample (examples/lambdarank).

    .venv/bin/python benchmarks/check_ranking_letor.py [--seeds 0,1,2]

Trains on rank.train only and reports NDCG@1/3/5/10 on rank.test (LightGBM's convention:
gain 2**rel - 1, a query without relevant rows counts 1) per seed and the mean over seeds,
for ``LambdaMART()`` with its defaults, LightGBM's own ``train.conf`` reference
configuration (lambdarank, 100 trees, lr 0.1, 31 leaves, min_data_in_leaf 50,
min_sum_hessian 5, bagging 0.9 every iteration) and ``StrongestFeature``.
The product's floor is NDCG@10 0.74 (mean of the seeds).
It scores rank.test once, for information, and chooses nothing: the defaults were chosen on
queries carved out of rank.train (``benchmarks/tune_defaults.py letor``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.datasets import load_svmlight_files

from models.ranking import LambdaMART, StrongestFeature, _group_codes, _mean_ndcg

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ranking" / "lightgbm-lambdarank"
CUTOFFS = (1, 3, 5, 10)
REFERENCE = dict(objective="lambdarank", metric="ndcg", num_iterations=100, learning_rate=0.1, num_leaves=31,
                 max_bin=255, feature_fraction=1.0, bagging_freq=1, bagging_fraction=0.9, min_data_in_leaf=50,
                 min_sum_hessian_in_leaf=5.0, deterministic=True, force_row_wise=True, verbose=-1)


def load(data: Path) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
    """rank.train and rank.test as frames: ``query_id`` and ``f_<index>`` columns."""
    xtr, ytr, xte, yte = load_svmlight_files([str(data / "rank.train"), str(data / "rank.test")])
    frames = []
    for x, name in ((xtr, "rank.train"), (xte, "rank.test")):
        sizes = np.loadtxt(data / f"{name}.query", dtype=int)
        f = pd.DataFrame(x.toarray(), columns=[f"f_{i}" for i in range(x.shape[1])])
        f.insert(0, "query_id", np.repeat(np.arange(len(sizes)), sizes))
        frames.append(f)
    return frames[0], ytr, frames[1], yte


def ndcgs(y, score, qid) -> list[float]:
    _, codes = _group_codes(qid)
    return [_mean_ndcg(y, score, codes, k) for k in CUTOFFS]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--seeds", default="0,1,2")
    args = ap.parse_args()
    xtr, ytr, xte, yte = load(args.data)
    print(f"LETOR sample: train {len(xtr)} rows / {xtr.query_id.nunique()} queries, "
          f"test {len(xte)} rows / {xte.query_id.nunique()} queries, {xtr.shape[1] - 1} features")

    def reference(seed):
        feats = [c for c in xtr.columns if c != "query_id"]
        ds = lgb.Dataset(xtr[feats], ytr, group=np.bincount(xtr.query_id))
        booster = lgb.train({**REFERENCE, "seed": seed}, ds)
        return booster.predict(xte[feats])

    def fitted(model):
        return lambda seed: model.set_params(random_state=seed).fit(xtr, ytr).predict(xte)

    rows = []
    runs = {"LambdaMART()": fitted(LambdaMART()), "train.conf reference": reference,
            "StrongestFeature()": lambda seed: StrongestFeature().fit(xtr, ytr).predict(xte)}
    for name, run in runs.items():
        for seed in map(int, args.seeds.split(",")):
            t0 = time.perf_counter()
            score = run(seed)
            rows.append([name, seed, *ndcgs(yte, score, xte.query_id), time.perf_counter() - t0])
    table = pd.DataFrame(rows, columns=["model", "seed", *(f"ndcg@{k}" for k in CUTOFFS), "fit s"])
    mean = table.groupby("model", sort=False).mean(numeric_only=True).assign(seed="mean").reset_index()
    table = pd.concat([table, mean], ignore_index=True)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
