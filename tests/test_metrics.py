"""training.metrics: hand-computed values, agreement with sklearn and LightGBM, M4 reference."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import shared
from sklearn.metrics import average_precision_score, ndcg_score, roc_auc_score

from training import metrics as M

LOG2_3 = math.log2(3)


# --------------------------------------------------------------------------- recommendations


@pytest.fixture
def recs():
    relevant = {1: {1, 2, 3}, 2: {4}, 3: {5, 6}, 4: set()}  # user 4: nothing relevant, not evaluated
    recommended = {1: [1, 9, 2, 5], 2: [7, 8, 4], 5: [1, 2, 3]}  # user 3 has no recommendations
    return recommended, relevant


def test_recommendation_metrics_worked_example(recs):
    recommended, relevant = recs
    out = M.recommendation_metrics(recommended, relevant, k=3)
    assert list(out) == ["ndcg_at_3", "precision_at_3", "recall_at_3", "map_at_3", "coverage"]
    # user 1: hits at ranks 1 and 3 of 3 relevant; user 2: hit at rank 3 of 1; user 3: zeros.
    ndcg_1 = (1 + 1 / 2) / (1 + 1 / LOG2_3 + 1 / 2)
    ndcg_2 = (1 / 2) / 1
    assert out["ndcg_at_3"] == pytest.approx((ndcg_1 + ndcg_2) / 3)
    assert out["precision_at_3"] == pytest.approx((2 / 3 + 1 / 3 + 0) / 3)
    assert out["recall_at_3"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    ap_1 = (1 / 1 + 2 / 3) / 3  # (hits so far / rank) summed over hits, over |relevant|
    ap_2 = (1 / 3) / 1
    assert out["map_at_3"] == pytest.approx((ap_1 + ap_2) / 3)
    # top-3 recommended items {1, 9, 2, 7, 8, 4, 3}; catalog seen = {1..9}
    assert out["coverage"] == pytest.approx(7 / 9)
    assert M.recommendation_metrics(recommended, relevant, k=3, n_items=70)["coverage"] == pytest.approx(0.1)


def test_recommendation_metrics_keys_follow_k(recs):
    recommended, relevant = recs
    out = M.recommendation_metrics(recommended, relevant)
    assert set(out) == {"ndcg_at_10", "precision_at_10", "recall_at_10", "map_at_10", "coverage"}
    # item 5 is relevant to user 3, not user 1; precision divides by k, not by the list length
    assert out["precision_at_10"] == pytest.approx((2 / 10 + 1 / 10) / 3)
    by_cut = M.ndcg_by_cutoff_recs(recommended, relevant, cutoffs=(1, 3))
    assert by_cut[1] == pytest.approx((1 + 0 + 0) / 3)
    assert by_cut[3] == pytest.approx(M.recommendation_metrics(recommended, relevant, k=3)["ndcg_at_3"])


def test_recommendation_perfect_and_empty():
    relevant = {1: {1, 2}, 2: {3}}
    out = M.recommendation_metrics({1: [2, 1], 2: [3]}, relevant, k=2)
    assert out["ndcg_at_2"] == pytest.approx(1.0)
    assert out["map_at_2"] == pytest.approx(1.0)
    assert out["recall_at_2"] == pytest.approx(1.0)
    assert out["precision_at_2"] == pytest.approx((1 + 0.5) / 2)  # user 2 has 1 item for k=2
    with pytest.raises(ValueError, match="no user"):
        M.recommendation_metrics({1: [1]}, {1: set()})


# ----------------------------------------------------------------------------------- ranking


def test_ranking_metrics_hand_example():
    # query 7: labels [0, 1, 2] ranked in that order; query 3: all zero (scores 1, MRR 0)
    qid = [7, 7, 7, 3, 3]
    rel = [0, 1, 2, 0, 0]
    sc = [0.9, 0.5, 0.1, 0.2, 0.3]
    out = M.relevance_metrics(qid, rel, sc)
    assert list(out) == ["ndcg_at_10", "ndcg_at_1", "ndcg_at_3", "ndcg_at_5", "mrr"]
    ndcg3 = (1 / LOG2_3 + 3 / 2) / (3 + 1 / LOG2_3)  # gains 2^rel - 1
    assert out["ndcg_at_1"] == pytest.approx((0 + 1) / 2)
    assert out["ndcg_at_3"] == pytest.approx((ndcg3 + 1) / 2)
    assert out["ndcg_at_10"] == pytest.approx((ndcg3 + 1) / 2)
    assert out["mrr"] == pytest.approx((1 / 2 + 0) / 2)


def test_ranking_ties_keep_input_order():
    first = M.ndcg_by_cutoff([1, 1], [1, 0], [0.5, 0.5], cutoffs=(1,))
    second = M.ndcg_by_cutoff([1, 1], [0, 1], [0.5, 0.5], cutoffs=(1,))
    assert first[1] == 1.0 and second[1] == 0.0


def test_ranking_ndcg_matches_sklearn_with_exponential_gains():
    rng = np.random.default_rng(0)
    n_q, n_d = 25, 8
    rel = rng.integers(0, 4, size=(n_q, n_d))
    rel[rel.sum(axis=1) == 0, 0] = 1  # sklearn scores all-zero queries 0, LightGBM 1: avoid them
    sc = rng.normal(size=(n_q, n_d))  # continuous: no ties (sklearn averages over ties)
    qid = np.repeat(np.arange(n_q), n_d)
    ours = M.ndcg_by_cutoff(qid, rel.ravel(), sc.ravel(), cutoffs=(1, 3, 5, 10))
    for k, value in ours.items():
        assert value == pytest.approx(ndcg_score(2.0**rel - 1, sc, k=k), abs=1e-12)


def test_ranking_ndcg_matches_lightgbm_eval():
    lgb = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(1)

    def problem(n_q):
        sizes = rng.integers(3, 15, size=n_q)
        X = rng.normal(size=(sizes.sum(), 5))
        y = np.clip(np.round(X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.8, size=len(X)) + 1), 0, 4)
        y[: sizes[0]] = 0  # one all-zero query
        return X, y.astype(int), sizes

    X_tr, y_tr, g_tr = problem(40)
    X_va, y_va, g_va = problem(30)
    train = lgb.Dataset(X_tr, y_tr, group=g_tr)
    valid = lgb.Dataset(X_va, y_va, group=g_va, reference=train)
    evals: dict = {}
    booster = lgb.train(
        {"objective": "lambdarank", "metric": "ndcg", "eval_at": [1, 3, 5, 10], "num_leaves": 7,
         "min_data_in_leaf": 5, "verbose": -1, "num_threads": 1, "seed": 0},
        train, num_boost_round=15, valid_sets=[valid], callbacks=[lgb.record_evaluation(evals)],
    )
    pred = booster.predict(X_va, num_threads=1)
    qid = np.repeat(np.arange(len(g_va)), g_va)
    ours = M.ndcg_by_cutoff(qid, y_va, pred, cutoffs=(1, 3, 5, 10))
    for k in (1, 3, 5, 10):
        assert ours[k] == pytest.approx(evals["valid_0"][f"ndcg@{k}"][-1], abs=1e-6)
    assert M.relevance_metrics(qid, y_va, pred)["ndcg_at_10"] == pytest.approx(ours[10])


def test_ranking_groups_need_not_be_contiguous():
    a = M.relevance_metrics([1, 2, 1, 2], [2, 0, 0, 1], [0.1, 0.2, 0.3, 0.4])
    b = M.relevance_metrics([1, 1, 2, 2], [2, 0, 0, 1], [0.1, 0.3, 0.2, 0.4])
    assert a == pytest.approx(b)


# ------------------------------------------------------------------------------------- fraud

Y = np.array([0, 0, 1, 0, 1])
P = np.array([0.1, 0.4, 0.35, 0.8, 0.9])


def test_fraud_metrics_hand_example():
    out = M.binary_metrics(Y, P, threshold=0.5, cost_fn=10, cost_fp=1)
    assert set(out) == {"pr_auc", "roc_auc", "recall_at_1pct_fpr", "precision", "recall", "expected_cost"}
    assert out["precision"] == 0.5 and out["recall"] == 0.5  # flags 0.8 (legit) and 0.9 (fraud)
    assert out["expected_cost"] == pytest.approx((10 * 1 + 1 * 1) / 5)
    assert out["recall_at_1pct_fpr"] == 0.5  # only 0.9 is above every legit score
    assert out["roc_auc"] == pytest.approx(4 / 6)  # 4 of 6 (fraud, legit) pairs ordered right
    nothing = M.binary_metrics(Y, P, threshold=0.95, cost_fn=10, cost_fp=1)
    assert nothing["precision"] == 0.0 and nothing["recall"] == 0.0
    assert nothing["expected_cost"] == pytest.approx(2 * 10 / 5)


def test_fraud_metrics_match_sklearn():
    rng = np.random.default_rng(2)
    y = rng.random(2000) < 0.05
    p = np.clip(rng.normal(0.3 + 0.3 * y, 0.2), 0, 1).round(3)  # rounded: ties included
    out = M.binary_metrics(y.astype(int), p, threshold=0.5, cost_fn=50, cost_fp=1)
    assert out["pr_auc"] == pytest.approx(average_precision_score(y, p))
    assert out["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    # brute force: best recall over thresholds whose false-positive rate is <= 1%
    best = max((p[y] >= t).mean() for t in np.append(np.unique(p), 2.0) if (p[~y] >= t).mean() <= 0.01)
    assert out["recall_at_1pct_fpr"] == pytest.approx(best)


def test_choose_threshold_minimises_cost():
    # candidates 0.1, 0.35, 0.4, 0.8, 0.9, "nothing": costs with FN=10, FP=1 are
    # 3/5, 2/5, 12/5, 11/5, 10/5, 20/5 -> flag from 0.35
    assert M.choose_threshold(Y, P, cost_fn=10, cost_fp=1) == 0.35
    assert M.choose_threshold(Y, P, cost_fn=1, cost_fp=10) == 0.9
    thresholds, costs = M.cost_curve(Y, P, cost_fn=10, cost_fp=1)
    np.testing.assert_allclose(thresholds[:-1], [0.1, 0.35, 0.4, 0.8, 0.9])
    assert thresholds[-1] > 1.0
    np.testing.assert_allclose(costs, np.array([3, 2, 12, 11, 10, 20]) / 5)
    # when a fraud costs nothing, flagging nothing is cheapest
    assert M.choose_threshold(Y, P, cost_fn=0, cost_fp=1) > 1.0


def test_single_class_labels_raise():
    with pytest.raises(ValueError, match="only one class"):
        M.binary_metrics([0, 0, 0], [0.1, 0.2, 0.3], 0.5, 1, 1)
    with pytest.raises(ValueError, match="only one class"):
        M.choose_threshold([1, 1], [0.1, 0.2], 1, 1)


# ------------------------------------------------------------------------------- forecasting


def test_smape_and_mase_by_hand():
    assert M.smape([100, 200], [110, 180]) == pytest.approx((2000 / 210 + 4000 / 380) / 2)
    assert M.smape([0, 1], [0, 1]) == 0.0
    assert M.mase([7, 8], [6, 10], insample=[1, 2, 3, 4, 5, 6], m=2) == pytest.approx(1.5 / 2)
    assert math.isnan(M.mase([1], [1], insample=[1, 2], m=2))


def test_simple_forecasts():
    x = np.array([1.0, 2, 3, 4, 5])
    np.testing.assert_array_equal(M.naive_forecast(x, 3), [5, 5, 5])
    np.testing.assert_array_equal(M.seasonal_naive_forecast(x, 5, 2), [4, 5, 4, 5, 4])
    np.testing.assert_array_equal(M.seasonal_naive_forecast(x, 2, 1), [5, 5])


def test_naive2_on_seasonal_and_plain_series():
    season = np.array([0.5, 1.0, 1.5, 1.0])
    x = 100 * np.tile(season, 10)  # 40 points, purely multiplicative seasonal
    assert M.seasonality_test(x, 4)
    np.testing.assert_allclose(M.naive2_forecast(x, 6, 4), M.seasonal_naive_forecast(x, 6, 4))
    noise = np.random.default_rng(3).normal(size=200) + 100  # no autocorrelation at lag 4
    assert not M.seasonality_test(noise, 4)
    np.testing.assert_array_equal(M.naive2_forecast(noise, 5, 4), M.naive_forecast(noise, 5))
    # too short for the test (n < 3m) or non-seasonal frequency: plain naive
    assert not M.seasonality_test(x[:11], 4) and not M.seasonality_test(x, 1)


def test_forecast_metrics_by_hand():
    # m=1: Naive2 is the naive forecast; scale = mean |diff| = 5/3
    insample = {"a": np.array([10.0, 12, 11, 13]), "flat": np.array([5.0, 5, 5])}
    actuals = {"a": np.array([14.0, 12]), "flat": np.array([5.0, 5])}
    forecasts = {"a": np.array([14.0, 13]), "flat": np.array([5.0, 5])}
    lower = {"a": np.array([13.0, 12.5]), "flat": np.array([4.0, 4])}
    upper = {"a": np.array([15.0, 13]), "flat": np.array([6.0, 6])}
    out = M.forecast_metrics(actuals, forecasts, insample, m=1, lower=lower, upper=upper)
    assert out["n_series_skipped_mase"] == 1  # zero scale: left out of both MASE means
    assert out["mase"] == pytest.approx(0.5 / (5 / 3))
    smape_a, smape_naive_a = 200 / 25 / 2, (200 / 27 + 200 / 25) / 2
    assert out["smape"] == pytest.approx(smape_a / 2)
    owa = 0.5 * ((smape_a / 2) / (smape_naive_a / 2) + (0.5 / (5 / 3)) / (1 / (5 / 3)))
    assert out["owa"] == pytest.approx(owa)
    assert out["wape"] == pytest.approx(1 / 36)
    assert out["coverage_90"] == pytest.approx(3 / 4)
    assert math.isnan(M.forecast_metrics(actuals, forecasts, insample, m=1)["coverage_90"])


@pytest.mark.realdata
def test_m4_hourly_reference_figures():
    """Naive2, seasonal naive and naive reproduce the official M4 Hourly results."""
    root = shared("forecasting/m4-hourly")
    train = pd.read_csv(root / "Hourly-train.csv", index_col=0)
    test = pd.read_csv(root / "Hourly-test.csv", index_col=0)
    insample = {sid: row.dropna().to_numpy() for sid, row in train.iterrows()}
    actuals = {sid: test.loc[sid].dropna().to_numpy() for sid in insample}
    assert len(insample) == 414 and all(len(a) == 48 for a in actuals.values())

    def score(method):
        fc = {sid: method(x) for sid, x in insample.items()}
        return M.forecast_metrics(actuals, fc, insample, m=24)

    naive2 = score(lambda x: M.naive2_forecast(x, 48, 24))
    assert (round(naive2["smape"], 3), round(naive2["mase"], 3)) == (18.383, 2.395)
    assert naive2["owa"] == pytest.approx(1.0)
    snaive = score(lambda x: M.seasonal_naive_forecast(x, 48, 24))
    assert (round(snaive["smape"], 3), round(snaive["mase"], 3)) == (13.912, 1.193)
    # Our OWA is 0.62750; M4 publishes 0.627, which is what its rounded sMAPE/MASE give.
    assert snaive["owa"] == pytest.approx(0.627, abs=1e-3)
    naive = score(lambda x: M.naive_forecast(x, 48))
    assert (round(naive["smape"], 3), round(naive["mase"], 3)) == (43.003, 11.608)


def test_fast_average_precision_equals_scikit_learn_with_ties():
    from sklearn.metrics import average_precision_score

    from training.metrics import average_precision

    rng = np.random.default_rng(0)
    for n, levels in ((50, 5), (2000, 40), (5000, None)):
        y = (rng.random(n) < 0.1).astype(int)
        y[0], y[1] = 1, 0
        p = rng.random(n) + 0.3 * y
        if levels:  # calibrated probabilities come in few distinct values: many ties
            p = np.round(p * levels) / levels
        assert average_precision(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert np.isnan(average_precision(np.zeros(5), np.arange(5)))
