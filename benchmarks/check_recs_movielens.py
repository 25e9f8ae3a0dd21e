"""Recommendation models on MovieLens 100K with the Microsoft Recommenders protocol.

    .venv/bin/python benchmarks/check_recs_movielens.py [--models most_popular,ease,bpr]

Protocol (as ``recommenders.datasets.python_splitters.python_stratified_split``): per user,
order that user's ratings by a uniform draw from numpy seed 42 and put the first 75% in train. Every rating is a binary interaction; k=10; items seen in
training are removed; every held-out item is relevant. nDCG@10 and precision@10 are
averaged over the users with held-out items (binary gain, log2 discount, as
``recommenders.evaluation.python_evaluation.ndcg_at_k``).

Published on this protocol (Recommenders README / benchmarks): most popular 0.256 nDCG@10,
EASE (λ=500) 0.489, BPR (cornac) 0.442, BiVAE 0.475.

This script scores the test part once, for information; it chooses nothing. The models'
defaults were chosen on validation rows carved out of the training part
(``benchmarks/tune_defaults.py movielens``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from models.recommendations import EASE, BPRMatrixFactorization, MostPopular

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "recommendations" / "movielens-100k" / "u.data"
K = 10


def load(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", names=["user_id", "product_id", "weight", "timestamp"])


def stratified_split(df: pd.DataFrame, ratio: float = 0.75, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-user random split, as Recommenders' ``python_stratified_split``.

    One uniform draw per rating from ``np.random.RandomState(seed)`` (what ``np.random.seed``
    gives) orders each user's ratings; the first 75% of each user (rank / count <= ratio) train.
    """
    df = df.assign(_r=np.random.RandomState(seed).rand(len(df))).sort_values(["user_id", "_r"])
    g = df.groupby("user_id")
    frac = (g.cumcount() + 1) / g["user_id"].transform("count")
    df = df.drop(columns="_r")
    return df[frac <= ratio], df[frac > ratio]


def evaluate(recs: pd.DataFrame, test: pd.DataFrame, k: int = K) -> tuple[float, float]:
    """Mean nDCG@k and precision@k over test users (binary relevance)."""
    truth = test.groupby("user_id")["product_id"].apply(set)
    n_rel = truth.map(len)
    recs = recs[recs["user_id"].isin(truth.index)]
    hit = np.fromiter((p in truth[u] for u, p in zip(recs["user_id"], recs["product_id"])), bool, len(recs))
    disc = 1.0 / np.log2(recs["rank"].to_numpy() + 1)
    dcg = pd.Series(hit * disc, index=recs["user_id"].to_numpy()).groupby(level=0).sum()
    hits = pd.Series(hit.astype(float), index=recs["user_id"].to_numpy()).groupby(level=0).sum()
    dcg, hits = dcg.reindex(truth.index, fill_value=0.0), hits.reindex(truth.index, fill_value=0.0)
    ideal_disc = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))
    idcg = ideal_disc[np.minimum(n_rel.to_numpy(), k) - 1]
    return float((dcg.to_numpy() / idcg).mean()), float((hits / k).mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--models", default="most_popular,ease,bpr")
    args = ap.parse_args()

    train, test = stratified_split(load(args.data))
    users = np.sort(test["user_id"].unique())
    models = {
        "most_popular": MostPopular(),
        "ease": EASE(l2=500.0),
        "bpr": BPRMatrixFactorization(device="cpu"),
    }
    print(f"MovieLens 100K: {len(train)} train / {len(test)} test ratings, {len(users)} users")
    print(f"{'model':<14} {'ndcg@10':>8} {'prec@10':>8} {'fit s':>7}")
    for name in args.models.split(","):
        model = models[name]
        t0 = time.perf_counter()
        model.fit(train)
        fit_s = time.perf_counter() - t0
        ndcg, prec = evaluate(model.recommend(users, k=K), test)
        print(f"{name:<14} {ndcg:>8.3f} {prec:>8.3f} {fit_s:>7.1f}")


if __name__ == "__main__":
    main()
