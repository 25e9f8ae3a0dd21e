"""How much signal the synthetic marketplace holds: simple baselines vs simple models, per use case.

    .venv/bin/python benchmarks/data_signal.py --scale medium --seed 0

Generates the world into a temporary workspace (or reads ``--home``) and prints one table.
The figures are quoted in docs/data.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, ndcg_score, roc_auc_score
from sklearn.tree import DecisionTreeClassifier

from pomona.data import load_table
from pomona.data.generate import generate
from pomona.workspace import workspace

LGB = dict(n_estimators=200, learning_rate=0.05, num_leaves=31, min_child_samples=20, verbose=-1, n_jobs=2)


def fraud_features(tx: pd.DataFrame, users: pd.DataFrame) -> pd.DataFrame:
    """Per transaction, from the account's own past only: amount vs median, bursts, new device, abroad."""
    tx = tx.sort_values(["account_id", "event_timestamp", "transaction_id"]).reset_index(drop=True)
    t = tx["event_timestamp"].astype("int64").to_numpy() // 10**6  # seconds
    acc = tx["account_id"].to_numpy()
    key = acc * 10**8 + (t - t.min())  # sortable (account, time)
    prior_hour = np.arange(len(tx)) - np.searchsorted(key, key - 3600, side="left")
    prior_10m = np.arange(len(tx)) - np.searchsorted(key, key - 600, side="left")
    med = tx.groupby("account_id")["amount"].transform(lambda s: s.expanding().median().shift())
    home = users.set_index("user_id")["country"]
    f = pd.DataFrame({
        "amount": tx["amount"],
        "amount_vs_median": tx["amount"] / med.fillna(tx["amount"].median()),
        "n_prior_hour": prior_hour,
        "n_prior_10m": prior_10m,
        "new_device": (tx.groupby(["account_id", "device_id"]).cumcount() == 0).astype(int),
        "foreign": (tx["country"].to_numpy() != home.reindex(acc).to_numpy()).astype(int),
        "channel": tx["channel"].map({"pos": 0, "web": 1, "app": 2}),
        "n_history": tx.groupby("account_id").cumcount(),
    })
    return pd.concat([tx[["transaction_id", "merchant_id", "event_timestamp", "is_fraud", "fraud_pattern"]], f], axis=1)


def fraud_signal(ws) -> list[tuple]:
    tx, users = load_table(ws, "fraud"), load_table(ws, "recommendations", "users")
    f = fraud_features(tx, users)
    train = f["event_timestamp"] < pd.Timestamp("2025-10-01", tz="UTC")
    # merchant fraud rate from the training months, smoothed towards the base rate
    g = f[train].groupby("merchant_id")["is_fraud"].agg(["sum", "count"])
    base = f.loc[train, "is_fraud"].mean()
    f["merchant_rate"] = f["merchant_id"].map((g["sum"] + 20 * base) / (g["count"] + 20)).fillna(base)
    cols = ["amount", "amount_vs_median", "n_prior_hour", "n_prior_10m", "new_device", "foreign", "channel",
            "n_history", "merchant_rate"]
    X, y = f[cols], f["is_fraud"]
    test = ~train
    rows = [("fraud", "base rate (test)", "PR-AUC", y[test].mean())]
    tree = DecisionTreeClassifier(max_depth=4, min_samples_leaf=20, random_state=0).fit(X[train], y[train])
    p = tree.predict_proba(X[test])[:, 1]
    rows += [("fraud", "decision tree depth 4", "PR-AUC", average_precision_score(y[test], p)),
             ("fraud", "decision tree depth 4", "ROC-AUC", roc_auc_score(y[test], p))]
    model = lgb.LGBMClassifier(**LGB).fit(X[train], y[train])
    p = model.predict_proba(X[test])[:, 1]
    rows += [("fraud", "LightGBM, 9 features", "PR-AUC", average_precision_score(y[test], p)),
             ("fraud", "LightGBM, 9 features", "ROC-AUC", roc_auc_score(y[test], p))]
    top = p >= np.quantile(p, 1 - y[test].mean())  # flag as many as there are frauds
    for pat in ["card_testing", "account_takeover", "risky_merchant", "amount_spike"]:
        m = (f.loc[test, "fraud_pattern"] == pat).to_numpy()
        rows.append(("fraud", f"LightGBM recall of {pat} at top-k", "recall", top[m].mean()))
    return rows


def demand_signal(ws) -> list[tuple]:
    d = load_table(ws, "forecasting").sort_values(["series_id", "event_timestamp"]).reset_index(drop=True)
    d["dow"] = d["event_timestamp"].dt.dayofweek
    d["doy"] = d["event_timestamp"].dt.dayofyear
    g = d.groupby("series_id")["y"]
    d["level"] = g.transform(lambda s: s.shift(28).rolling(28, min_periods=7).mean())
    d["rel_price"] = d["price"] / d.groupby("series_id")["price"].transform("median")
    test = d["split"] == "test"
    truth = d.loc[test, "y"].to_numpy()
    # seasonal naive: each test day repeats the same weekday of the last training week
    last_week = d[~test].groupby("series_id").tail(7).set_index(["series_id", "dow"])["y"]
    snaive = last_week.reindex(pd.MultiIndex.from_frame(d.loc[test, ["series_id", "dow"]])).to_numpy()
    # a global model of y / level (weighted by level) on calendar and price drivers
    cols = ["dow", "promo", "rel_price", "is_holiday"]
    tr = ~test & d["level"].notna()
    scale = d["level"] + 0.05
    model = lgb.LGBMRegressor(**LGB).fit(d.loc[tr, cols], d.loc[tr, "y"] / scale[tr], sample_weight=scale[tr])
    pred = model.predict(d.loc[test, cols]) * scale[test].to_numpy()
    wape = lambda p: np.abs(p - truth).sum() / truth.sum()  # noqa: E731
    wk = d.assign(weekend=d["dow"] >= 5).groupby("weekend")["y"].mean()
    promo = d[d["is_holiday"] == 0].groupby("promo")["y"].mean()
    return [("forecasting", "seasonal naive (last week)", "WAPE", wape(snaive)),
            ("forecasting", "mean of last 28 train days", "WAPE", wape(d.loc[test, "level"].to_numpy())),
            ("forecasting", "LightGBM x lag-28 level (dow, promo, price, holiday)", "WAPE", wape(pred)),
            ("forecasting", "weekend / weekday mean units", "ratio", wk[True] / wk[False]),
            ("forecasting", "promo / no-promo mean units", "ratio", promo[1] / promo[0])]


def _ndcg(j: pd.DataFrame, score: np.ndarray, k: int = 10) -> float:
    out = []
    for _, idx in j.groupby("query_id").indices.items():
        if len(idx) > 1:
            out.append(ndcg_score([j["relevance"].to_numpy()[idx]], [score[idx]], k=k))
    return float(np.mean(out))


def ranking_signal(ws) -> list[tuple]:
    j = load_table(ws, "ranking").sort_values(["query_id", "position"]).reset_index(drop=True)
    prods = load_table(ws, "ranking", "products").set_index("product_id")
    titles = prods["title"].reindex(j["product_id"]).str.split().to_numpy()
    j["match"] = [len(set(q.split()) & set(t)) / len(q.split()) for q, t in zip(j["query"], titles)]
    j["quality"] = prods["quality"].reindex(j["product_id"]).to_numpy()
    j["log_price"] = np.log(prods["price"].reindex(j["product_id"]).to_numpy())
    train = j["split"] == "train"
    clicks = j[train].groupby("product_id")["relevance"].apply(lambda r: (r > 0).mean())
    j["ctr"] = j["product_id"].map(clicks).fillna(clicks.mean())
    test = j[~train].reset_index(drop=True)
    rng = np.random.default_rng(0)
    cols = ["match", "quality", "log_price", "ctr"]
    tj = j[train]
    ranker = lgb.LGBMRanker(**LGB).fit(tj[cols], tj["relevance"], group=tj.groupby("query_id").size().to_numpy())
    return [("ranking", "random order", "NDCG@10", _ndcg(test, rng.random(len(test)))),
            ("ranking", "shown order (legacy ranker)", "NDCG@10", _ndcg(test, -test["position"].to_numpy())),
            ("ranking", "title match only", "NDCG@10", _ndcg(test, test["match"].to_numpy() + 1e-3 * test["quality"].to_numpy())),
            ("ranking", "LambdaMART (match, quality, price, ctr)", "NDCG@10", _ndcg(test, ranker.predict(test[cols]))),
            ("ranking", "corr(relevance, title match)", "Spearman", j[["relevance", "match"]].corr("spearman").iloc[0, 1])]


def recs_signal(ws, k: int = 10) -> list[tuple]:
    it = load_table(ws, "recommendations")
    prods = load_table(ws, "recommendations", "products").set_index("product_id")
    cut = pd.Timestamp("2025-12-01", tz="UTC")
    tr, te = it[it["event_timestamp"] < cut], it[(it["event_timestamp"] >= cut) & (it["weight"] >= 2)]
    n_p = int(prods.index.max())
    users = np.sort(te["user_id"].unique())
    truth = te.groupby("user_id")["product_id"].apply(set)
    pop_all = np.bincount(tr["product_id"], weights=tr["weight"], minlength=n_p + 1)[1:]
    recent = tr[tr["event_timestamp"] >= cut - pd.Timedelta(days=30)]
    pop_recent = np.bincount(recent["product_id"], weights=recent["weight"], minlength=n_p + 1)[1:]
    cat = prods["category"].reindex(range(1, n_p + 1)).to_numpy()
    brand = prods["brand"].reindex(range(1, n_p + 1)).to_numpy()
    tu = tr[tr["user_id"].isin(users)].assign(category=lambda x: cat[x["product_id"] - 1],
                                              brand=lambda x: brand[x["product_id"] - 1])
    cat_share = pd.crosstab(tu["user_id"], tu["category"], values=tu["weight"], aggfunc="sum", normalize="index")
    brand_share = pd.crosstab(tu["user_id"], tu["brand"], values=tu["weight"], aggfunc="sum", normalize="index")
    cs = cat_share.reindex(index=users, columns=np.unique(cat)).fillna(0).to_numpy()
    bs = brand_share.reindex(index=users, columns=np.unique(brand)).fillna(0).to_numpy()
    ci, bi = np.searchsorted(np.unique(cat), cat), np.searchsorted(np.unique(brand), brand)
    taste = (cs[:, ci] + 0.02) * (1 + 3 * bs[:, bi]) * (pop_recent + 1)  # (users, products)

    def recall(scores: np.ndarray) -> float:
        top = np.argsort(-scores, axis=1)[:, :k] + 1
        return float(np.mean([len(truth[u] & set(t)) / len(truth[u]) for u, t in zip(users, top)]))

    rng = np.random.default_rng(0)
    return [("recommendations", "random", f"recall@{k}", recall(rng.random((len(users), n_p)))),
            ("recommendations", "most popular (all time)", f"recall@{k}", recall(np.tile(pop_all, (len(users), 1)))),
            ("recommendations", "most popular (last 30 days)", f"recall@{k}", recall(np.tile(pop_recent, (len(users), 1)))),
            ("recommendations", "taste x recent popularity", f"recall@{k}", recall(taste))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="medium", choices=["small", "medium", "large"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--home", help="read an existing workspace instead of generating one")
    ap.add_argument("--only", default="fraud,forecasting,ranking,recommendations",
                    help="comma-separated use cases to measure")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = workspace(args.home or tmp)
        if not args.home:
            t0 = time.perf_counter()
            generate(ws, scale=args.scale, seed=args.seed, progress=False)
            print(f"generated scale={args.scale} seed={args.seed} in {time.perf_counter() - t0:.1f}s\n")
        signals = {"fraud": fraud_signal, "forecasting": demand_signal, "ranking": ranking_signal,
                   "recommendations": recs_signal}
        rows = [row for name in args.only.split(",") for row in signals[name](ws)]
    print(f"| {'use case':16s} | {'method':52s} | {'metric':9s} | value  |")
    print(f"|{'-' * 18}|{'-' * 54}|{'-' * 11}|--------|")
    for uc, method, metric, value in rows:
        print(f"| {uc:16s} | {method:52s} | {metric:9s} | {value:.4f} |")


if __name__ == "__main__":
    main()
