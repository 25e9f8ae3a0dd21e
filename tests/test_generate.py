"""The synthetic marketplace (small scale): schema, determinism, shared ids and learnable patterns."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.tree import DecisionTreeClassifier

from pomona import schemas
from pomona.data import load_table
from pomona.data.generate import generate
from pomona.errors import PomonaError
from pomona.usecases import USE_CASES
from pomona.workspace import workspace

EXTRA = {
    ("recommendations", "interactions"): ["session_id"],
    ("recommendations", "users"): ["age", "region", "country"],
    ("recommendations", "products"): ["category", "brand", "price", "quality", "title"],
    ("ranking", "judgments"): ["query", "user_id", "position"],
    ("ranking", "products"): ["category", "brand", "price", "quality", "title"],
    ("fraud", "transactions"): ["amount", "device_id", "country", "channel", "fraud_pattern"],
    ("fraud", "merchants"): ["category", "country"],
    ("forecasting", "demand"): ["store_id", "product_id", "price", "promo", "is_holiday"],
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One small world (seed 0), read-only for the tests below."""
    ws = workspace(tmp_path_factory.mktemp("world"))
    generate(ws, scale="small", seed=0, progress=False)
    return ws


def _tables(ws) -> dict[tuple[str, str], pd.DataFrame]:
    return {(uc, t): load_table(ws, uc, t) for uc, t in EXTRA}


def test_schema_and_columns(world):
    for (uc, table), extra in EXTRA.items():
        df = load_table(world, uc, table)
        spec = schemas.tables(uc)[table]
        assert set(spec) | set(extra) <= set(df.columns), (uc, table)
        assert str(df[schemas.TS].dtype) == "datetime64[us, UTC]"
        assert df[schemas.TS].min() >= pd.Timestamp("2020-01-01", tz="UTC")
    it = load_table(world, "recommendations")
    assert set(it["event_type"]) == {"view", "add_to_cart", "purchase"}
    assert (it["weight"] == it["event_type"].map({"view": 1.0, "add_to_cart": 2.0, "purchase": 4.0})).all()
    assert it[schemas.TS].between(pd.Timestamp("2025-01-01", tz="UTC"), pd.Timestamp("2026-01-01", tz="UTC")).all()
    j = load_table(world, "ranking")
    assert j["relevance"].between(0, 4).all() and set(j["split"]) == {"train", "test"}
    assert (j.groupby("query_id").size().between(2, 20)).all() and j.groupby("query_id").size().mean() >= 10
    assert j[j["split"] == "train"][schemas.TS].max() < j[j["split"] == "test"][schemas.TS].min()
    tx = load_table(world, "fraud")
    assert tx["transaction_id"].is_unique and tx["transaction_id"].is_monotonic_increasing
    assert tx[schemas.TS].is_monotonic_increasing and set(tx["channel"]) == {"web", "app", "pos"}
    d = load_table(world, "forecasting")
    assert d.groupby("series_id").size().eq(365).all() and d["series_id"].nunique() == 200
    assert (d["y"] >= 0).all() and (d["y"] == d["y"].round()).all()
    assert (d[d["split"] == "test"][schemas.TS].dt.strftime("%m-%d").min()) == "12-04"
    assert (d["series_id"] == d["store_id"].astype(str) + "-" + d["product_id"].astype(str)).all()
    m = schemas.Manifest.read(world.dataset_dir("forecasting"))
    assert (m.frequency, m.season_length, m.horizon) == ("D", 7, 28)
    assert schemas.Manifest.read(world.dataset_dir("recommendations")).tables["products"].text_columns == ["title"]


def test_same_users_and_products_everywhere(world):
    users = load_table(world, "recommendations", "users")
    products = load_table(world, "recommendations", "products")
    assert users["user_id"].tolist() == list(range(1, len(users) + 1))
    assert products["product_id"].tolist() == list(range(1, len(products) + 1))
    pd.testing.assert_frame_equal(products, load_table(world, "ranking", "products"))
    ids = set(users["user_id"])
    assert set(load_table(world, "recommendations")["user_id"]) <= ids
    assert set(load_table(world, "ranking")["user_id"]) <= ids
    assert set(load_table(world, "fraud")["account_id"]) <= ids
    for uc in ("recommendations", "ranking", "forecasting"):
        assert set(load_table(world, uc)["product_id"]) <= set(products["product_id"])
    # signup precedes activity; nobody sees a product before it is listed
    it = load_table(world, "recommendations")
    first = it.groupby("user_id")[schemas.TS].min()
    assert (users.set_index("user_id")[schemas.TS].reindex(first.index) < first).all()
    listed = products.set_index("product_id")[schemas.TS]
    assert (it[schemas.TS].to_numpy() >= listed.reindex(it["product_id"]).to_numpy()).all()


def test_deterministic_per_seed(tmp_path):
    a, b, c = (workspace(tmp_path / n) for n in "abc")
    generate(a, scale="small", seed=3, progress=False)
    generate(b, scale="small", seed=3, progress=False)
    generate(c, scale="small", seed=4, progress=False)
    ta, tb, tc = _tables(a), _tables(b), _tables(c)
    for key in ta:
        pd.testing.assert_frame_equal(ta[key], tb[key])
    assert not ta[("fraud", "transactions")].equals(tc[("fraud", "transactions")])
    assert not ta[("recommendations", "interactions")].equals(tc[("recommendations", "interactions")])


def test_fraud_rate_and_patterns(world):
    tx = load_table(world, "fraud")
    assert 0.005 <= tx["is_fraud"].mean() <= 0.015
    counts = tx["fraud_pattern"].value_counts()
    assert {"card_testing", "account_takeover", "risky_merchant", "amount_spike"} <= set(counts.index)
    assert ((tx["fraud_pattern"] != "none") == (tx["is_fraud"] == 1)).all()
    ct = tx[tx["fraud_pattern"] == "card_testing"]
    assert (ct["amount"] < 5).all()
    home = load_table(world, "recommendations", "users").set_index("user_id")["country"]
    ato = tx[tx["fraud_pattern"] == "account_takeover"]
    legit = tx[tx["is_fraud"] == 0]
    assert (ato["country"].to_numpy() != home.reindex(ato["account_id"]).to_numpy()).mean() > 0.5
    assert (legit["country"].to_numpy() != home.reindex(legit["account_id"]).to_numpy()).mean() < 0.05
    med = legit.groupby("account_id")["amount"].median()
    spike = tx[tx["fraud_pattern"] == "amount_spike"]
    assert (spike["amount"].to_numpy() / med.reindex(spike["account_id"]).to_numpy()).min() > 3
    by_merchant = tx.groupby("merchant_id")["is_fraud"].mean()
    risky = tx.loc[tx["fraud_pattern"] == "risky_merchant", "merchant_id"].unique()
    assert by_merchant[risky].min() > 10 * tx["is_fraud"].mean()


def test_fraud_learnable_by_a_shallow_tree(world):
    tx = load_table(world, "fraud").sort_values(["account_id", schemas.TS, "transaction_id"]).reset_index(drop=True)
    home = load_table(world, "recommendations", "users").set_index("user_id")["country"]
    t = tx[schemas.TS].astype("int64").to_numpy() // 10**6
    key = tx["account_id"].to_numpy() * 10**9 + t
    merchant_rate = tx.groupby("merchant_id")["is_fraud"].transform("mean")  # in-sample; fine for a smoke check
    X = pd.DataFrame({
        "amount": tx["amount"],
        "vs_median": tx["amount"] / tx.groupby("account_id")["amount"].transform("median"),
        "last_hour": np.arange(len(tx)) - np.searchsorted(key, key - 3600),
        "new_device": (tx.groupby(["account_id", "device_id"]).cumcount() == 0).astype(int),
        "foreign": (tx["country"].to_numpy() != home.reindex(tx["account_id"]).to_numpy()).astype(int),
        "merchant_rate": merchant_rate,
    })
    y = tx["is_fraud"]
    train = tx[schemas.TS] < pd.Timestamp("2025-09-01", tz="UTC")
    tree = DecisionTreeClassifier(max_depth=4, min_samples_leaf=10, random_state=0).fit(X[train], y[train])
    assert roc_auc_score(y[~train], tree.predict_proba(X[~train])[:, 1]) > 0.85


def test_demand_weekly_promo_and_holidays(world):
    d = load_table(world, "forecasting")
    dow = d[schemas.TS].dt.dayofweek
    plain = d[(d["promo"] == 0) & (d["is_holiday"] == 0)]
    pdow = plain[schemas.TS].dt.dayofweek
    assert 1.2 < plain.loc[pdow >= 5, "y"].mean() / plain.loc[pdow < 5, "y"].mean() < 1.5  # documented ~1.35
    nohol = d[d["is_holiday"] == 0]
    assert nohol.loc[nohol["promo"] == 1, "y"].mean() > 1.5 * nohol.loc[nohol["promo"] == 0, "y"].mean()
    daily = d.groupby(d[schemas.TS].dt.strftime("%m-%d"))["y"].mean()
    fridays = daily[[f"11-{x}" for x in ("07", "14", "21")]].mean()  # Fridays around Black Friday
    assert daily["11-28"] > 1.8 * fridays
    assert daily["12-25"] < 0.5 * daily[["12-18", "12-11"]].mean()  # Thursdays around Christmas
    assert set(d.loc[d["is_holiday"] == 1, schemas.TS].dt.strftime("%m-%d")) >= {"11-28", "12-25", "01-01"}
    zero_share = d.groupby("series_id")["y"].apply(lambda s: (s == 0).mean())
    assert 0.15 < (zero_share > 0.5).mean() < 0.45  # intermittent slow movers
    assert dow.nunique() == 7


def test_ranking_relevance_follows_title_match(world):
    j = load_table(world, "ranking")
    titles = load_table(world, "ranking", "products").set_index("product_id")["title"].reindex(j["product_id"])
    match = [len(set(q.split()) & set(t.split())) / len(q.split()) for q, t in zip(j["query"], titles)]
    assert np.corrcoef(match, j["relevance"])[0, 1] > 0.4
    assert j["relevance"].value_counts().index[0] == 0 and (j["relevance"] == 4).any()


def test_recommendations_follow_taste(world):
    it = load_table(world, "recommendations")
    cat = load_table(world, "recommendations", "products").set_index("product_id")["category"]
    it = it.assign(category=cat.reindex(it["product_id"]).to_numpy())
    top_share = it.groupby("user_id")["category"].agg(lambda s: s.value_counts(normalize=True).iloc[0])
    assert top_share.median() > 2 / cat.nunique()  # users concentrate on their preferred categories
    assert it.groupby("session_id")["user_id"].nunique().eq(1).all()


def test_refuses_to_overwrite_without_force(ws):
    generate(ws, scale="small", seed=0, progress=False)
    before = load_table(ws, "fraud")
    with pytest.raises(PomonaError, match="--force"):
        generate(ws, scale="small", seed=1, progress=False)
    pd.testing.assert_frame_equal(before, load_table(ws, "fraud"))
    assert schemas.Manifest.read(ws.dataset_dir("ranking")).source["seed"] == "0"
    generate(ws, scale="small", seed=1, force=True, progress=False)
    assert schemas.Manifest.read(ws.dataset_dir("ranking")).source == {"scale": "small", "seed": "1"}


def test_refuses_when_any_use_case_has_data(ws):
    generate(ws, scale="small", seed=0, progress=False)
    for uc in ("recommendations", "ranking", "forecasting"):
        (ws.dataset_dir(uc) / "manifest.json").unlink()
    with pytest.raises(PomonaError, match="fraud"):
        generate(ws, scale="small", seed=0, progress=False)
    assert not (ws.dataset_dir("ranking") / "manifest.json").exists()


def test_unknown_scale(ws):
    with pytest.raises(PomonaError, match="unknown scale"):
        generate(ws, scale="huge")


def test_cli_generates_four_datasets(home):
    exe = Path(sys.executable).parent / "pomona"
    env = {**os.environ, "POMONA_HOME": str(home)}
    res = subprocess.run([str(exe), "data", "generate", "--scale", "small", "--seed", "1"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    for uc in USE_CASES:
        assert (home / "data" / uc / "manifest.json").exists()
        assert uc in res.stdout
