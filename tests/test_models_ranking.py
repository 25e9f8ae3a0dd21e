"""Ranking models: estimator contract, query grouping, categoricals, and that each model learns."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from conftest import shared
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from models.ranking import LambdaMART, StrongestFeature, _group_codes, _mean_ndcg

FAST_LM = dict(n_estimators=60, learning_rate=0.1, min_child_samples=10, min_child_weight=1e-3, num_threads=1)


def judgments(n_queries=120, per_query=20, seed=0, interacting=False):
    """Synthetic judgments with ids, noise, a categorical column and informative features.

    Plain: relevance grows with ``good`` (and falls with ``bad``). Interacting: relevance is
    high where ``a`` and ``b`` are both high or both low (an XOR no single feature explains).
    """
    rng = np.random.default_rng(seed)
    n = n_queries * per_query
    x = pd.DataFrame({
        "query_id": np.repeat(np.arange(n_queries) * 7 + 3, per_query),
        "product_id": rng.integers(0, 10_000, n),
        "user_id": rng.integers(0, 500, n),
        "good": rng.random(n),
        "bad": rng.random(n),
        "a": rng.random(n),
        "b": rng.random(n),
        "noise": rng.normal(size=n),
        "brand": rng.choice(["acme", "globex", "initech"], n),
    })
    if interacting:
        signal = ((x.a > 0.5) == (x.b > 0.5)).astype(float) * 2 + (x.a + x.b) * 0.3
    else:
        signal = 3 * x.good - x.bad + 0.2 * rng.normal(size=n)
    rel = np.clip(np.floor(signal - signal.min()).astype(int), 0, 4)
    return x, rel.to_numpy()


def split_queries(x, y, frac=0.7):
    qs = np.sort(x.query_id.unique())
    train = x.query_id.isin(qs[: int(len(qs) * frac)]).to_numpy()
    return x[train], y[train], x[~train], y[~train]


def ndcg10(y, score, qid) -> float:
    return _mean_ndcg(y, score, _group_codes(qid)[1], k=10)


MODELS = [StrongestFeature(), LambdaMART(**FAST_LM)]
IDS = ["strongest_feature", "lambdamart"]


@pytest.fixture(scope="module")
def data():
    return judgments()


# -- contract ------------------------------------------------------------------------------

@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_contract(model, data):
    x, y = data
    params = model.get_params()
    fresh = clone(model)
    assert fresh.get_params() == params
    assert fresh.set_params(**params) is fresh
    with pytest.raises(NotFittedError):
        fresh.predict(x)
    assert fresh.fit(x, y) is fresh
    learned = set(vars(fresh)) - set(params)
    assert learned and all(name.endswith("_") for name in learned), learned
    assert not any(k.endswith("_") for k in vars(clone(fresh)))
    assert fresh.predict(x).shape == (len(x),)


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_deterministic_and_pickles(model, data):
    x, y = data
    a, b = clone(model).fit(x, y), clone(model).fit(x, y)
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    np.testing.assert_array_equal(a.predict(x), pickle.loads(pickle.dumps(a)).predict(x))


def test_random_state_matters_with_bagging(data):
    x, y = data
    a = LambdaMART(**FAST_LM, random_state=0).fit(x, y).predict(x)
    b = LambdaMART(**FAST_LM, random_state=1).fit(x, y).predict(x)
    assert not np.allclose(a, b)


def test_set_params():
    m = LambdaMART().set_params(n_estimators=7, eval_at=(1, 5))
    assert (m.n_estimators, m.eval_at) == (7, (1, 5))
    assert StrongestFeature().set_params(features=["a"]).features == ["a"]


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_default_features_skip_ids(model, data):
    x, y = data
    m = clone(model).fit(x.assign(event_timestamp=pd.Timestamp("2024-01-01", tz="UTC"), title="t", split="train"), y)
    assert m.features_in_ == ["good", "bad", "a", "b", "noise", "brand"]
    assert list(m.categories_) == ["brand"]
    assert list(m.categories_["brand"]) == ["acme", "globex", "initech"]
    assert clone(model).set_params(features=["good", "a"]).fit(x, y).features_in_ == ["good", "a"]


# -- row order, categoricals ----------------------------------------------------------------

@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_predictions_independent_of_row_order(model, data):
    x, y = data
    m = clone(model).fit(x, y)
    perm = np.random.default_rng(1).permutation(len(x))
    np.testing.assert_allclose(m.predict(x.iloc[perm]), m.predict(x)[perm])


def test_fit_groups_unsorted_rows(data):
    """Queries interleaved (each query's rows in the same relative order): the same model."""
    x, y = data
    sorted_model = LambdaMART(**FAST_LM).fit(x, y)
    order = np.argsort(np.tile(np.arange(20), len(x) // 20), kind="stable")  # row 0 of every query first
    mixed = x.iloc[order]
    assert not mixed.query_id.is_monotonic_increasing
    mixed_model = LambdaMART(**FAST_LM).fit(mixed, y[order])
    np.testing.assert_allclose(mixed_model.predict(x), sorted_model.predict(x))


def test_unseen_categories_do_not_crash(data):
    x, y = data
    m = LambdaMART(**FAST_LM).fit(x, y)
    new = x.head(40).copy()
    new["brand"] = ["umbrella"] * 20 + [None] * 20
    missing = x.head(40).assign(brand=np.nan)
    np.testing.assert_allclose(m.predict(new), m.predict(missing))
    x_cat = x.assign(brand=x.brand.astype("category"))
    m2 = LambdaMART(**FAST_LM).fit(x_cat, y)
    assert np.isfinite(m2.predict(new)).all()
    assert np.isfinite(StrongestFeature().fit(x, y).predict(new)).all()


def test_missing_feature_column_is_a_clear_error(data):
    x, y = data
    m = StrongestFeature().fit(x, y)
    with pytest.raises(ValueError, match="brand"):
        LambdaMART(**FAST_LM).fit(x, y).predict(x.drop(columns="brand"))
    assert m.predict(x.drop(columns="brand")).shape == (len(x),)  # only its one feature is needed


# -- learning ------------------------------------------------------------------------------

def test_mean_ndcg_lightgbm_convention():
    codes = np.array([0, 0, 0, 1, 1])
    y = np.array([0, 2, 1, 0, 0])
    # query 0 ranked [rel 0, rel 2, rel 1]; query 1 has nothing relevant -> 1
    dcg = 3 / np.log2(3) + 1 / np.log2(4)
    idcg = 3 + 1 / np.log2(3)
    got = _mean_ndcg(y, np.array([3.0, 2.0, 1.0, 0.0, 5.0]), codes, k=10)
    assert got == pytest.approx((dcg / idcg + 1) / 2)
    assert _mean_ndcg(y, np.array([0.0, 9.0, 1.0, 0.0, 0.0]), codes, k=10) == 1.0
    assert _mean_ndcg(y, np.array([np.nan, 1.0, 0.0, 0, 0]), codes, k=1) == 1.0  # NaN ranks last


def test_strongest_feature_picks_informative_feature_and_sign(data):
    x, y = data
    m = StrongestFeature().fit(x, y)
    assert (m.feature_, m.sign_) == ("good", 1)
    assert m.feature_scores_.index[0] == "good"
    np.testing.assert_array_equal(m.predict(x), x.good.to_numpy())
    flipped = StrongestFeature().fit(x.assign(good=-x.good), y)
    assert (flipped.feature_, flipped.sign_) == ("good", -1)
    assert np.isneginf(flipped.predict(x.head(1).assign(good=np.nan))).all()


def test_lambdamart_beats_strongest_feature_on_interactions():
    x, y = judgments(interacting=True)
    xtr, ytr, xte, yte = split_queries(x, y)
    base = ndcg10(yte, StrongestFeature().fit(xtr, ytr).predict(xte), xte.query_id)
    lm = ndcg10(yte, LambdaMART(**FAST_LM).fit(xtr, ytr).predict(xte), xte.query_id)
    assert lm > base + 0.1, (lm, base)


def test_early_stopping_on_eval_set(data):
    x, y = data
    xtr, ytr, xva, yva = split_queries(x, y)
    m = LambdaMART(**{**FAST_LM, "n_estimators": 500}, early_stopping_rounds=10).fit(xtr, ytr, eval_set=(xva, yva))
    assert 1 <= m.best_iteration_ < 500
    assert "ndcg@10" in m.evals_result_["valid"]
    assert m.feature_importances_.index.tolist() == m.features_in_
    assert m.feature_importances_.idxmax() == "good"
    with pytest.raises(ValueError, match="eval_set"):
        LambdaMART(early_stopping_rounds=5).fit(xtr, ytr)


# -- real data -----------------------------------------------------------------------------

@pytest.mark.realdata
def test_lambdamart_on_lightgbm_letor_sample():
    """LightGBM's examples/lambdarank data: default LambdaMART clears the 0.74 NDCG@10 floor."""
    from sklearn.datasets import load_svmlight_files

    root = shared("ranking/lightgbm-lambdarank")
    xtr, ytr, xte, yte = load_svmlight_files([str(root / "rank.train"), str(root / "rank.test")])
    frames = []
    for m, name in ((xtr, "rank.train"), (xte, "rank.test")):
        sizes = np.loadtxt(root / f"{name}.query", dtype=int)
        f = pd.DataFrame(m.toarray(), columns=[f"f_{i}" for i in range(m.shape[1])])
        frames.append(f.assign(query_id=np.repeat(np.arange(len(sizes)), sizes)))
    model = LambdaMART(num_threads=1).fit(frames[0], ytr)
    assert ndcg10(yte, model.predict(frames[1]), frames[1].query_id) > 0.74


def test_float_matrix_predicts_as_lightgbms_pandas_path(data):
    """predict feeds LightGBM a float matrix; it must equal the booster's pandas path."""
    x, y = data
    x = x.assign(flag=x.good > 0.5)
    m = LambdaMART(**FAST_LM).fit(x, y)
    new = x.head(60).copy()
    new["brand"] = ["umbrella"] * 20 + [None] * 20 + list(x.brand.head(20))
    new.loc[new.index[::3], "good"] = np.nan
    np.testing.assert_array_equal(m.booster_.predict(m._matrix(new), num_iteration=m.best_iteration_),
                                  m.booster_.predict(m._frame(new), num_iteration=m.best_iteration_))
    np.testing.assert_array_equal(m.predict(new), m.booster_.predict(m._frame(new), num_iteration=m.best_iteration_))
