"""Learning-to-rank models: the strongest single feature, and LambdaMART (LightGBM).

Both follow the scikit-learn estimator contract. ``fit(X, y)`` takes one row per
(query, product) with ``query_id``, feature columns and graded relevance ``y``; rows may
come in any order (they are sorted by ``query_id`` stably inside). ``predict(X)`` returns
one score per row, higher is better, independent of row order.

Features: ``features=None`` takes every numeric (incl. bool) or categorical (object /
category dtype) column except ids, text and labels (``_NON_FEATURES``). Categorical
columns become pandas ``category`` with the categories seen at fit (``categories_``), so a
value unseen at fit becomes NaN at predict.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype, is_object_dtype
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from pomona.schemas import PRODUCT_ID, QUERY_ID, RELEVANCE, SPLIT, TS, USER_ID

__all__ = ["StrongestFeature", "LambdaMART"]

_NON_FEATURES = frozenset({QUERY_ID, PRODUCT_ID, USER_ID, TS, SPLIT, "query", "title", RELEVANCE})


def _is_categorical(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.CategoricalDtype) or is_object_dtype(s.dtype) or pd.api.types.is_string_dtype(s.dtype)


def _group_codes(query_ids) -> tuple[np.ndarray, np.ndarray]:
    """Stable order that sorts rows by query id, and each row's query code (0..n_queries-1)."""
    codes, _ = pd.factorize(np.asarray(query_ids), sort=True)
    if (codes < 0).any():
        raise ValueError(f"{QUERY_ID} must not be null")
    return np.argsort(codes, kind="stable"), codes


def _mean_ndcg(y: np.ndarray, score: np.ndarray, codes: np.ndarray, k: int = 10) -> float:
    """Mean NDCG@k over queries, LightGBM's convention.

    Gain ``2**rel - 1``, discount ``1 / log2(position + 1)``, ties in ``score`` keep row
    order, a query without any relevant row scores 1. ``codes`` is each row's query code.
    """
    y = np.asarray(y, dtype=np.float64)
    score = np.where(np.isnan(score), -np.inf, np.asarray(score, dtype=np.float64))
    n_q = int(codes.max()) + 1
    starts = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=n_q))[:-1]])

    def dcg(order: np.ndarray) -> np.ndarray:
        c = codes[order]
        pos = np.arange(len(order)) - starts[c]  # 0-based position within the query
        top = pos < k
        gain = (2.0 ** y[order] - 1.0) / np.log2(pos + 2.0)
        return np.bincount(c[top], weights=gain[top], minlength=n_q)

    # np.lexsort is stable: the last key is primary.
    actual = dcg(np.lexsort((-score, codes)))
    ideal = dcg(np.lexsort((-y, codes)))
    safe = np.where(ideal > 0, ideal, 1.0)
    return float(np.where(ideal > 0, actual / safe, 1.0).mean())


def _float_matrix(frame: pd.DataFrame) -> np.ndarray:
    """Columns as float64 (categoricals: codes, -1 -> NaN), C order, one row per frame row."""
    out = np.empty((len(frame), frame.shape[1]), dtype=np.float64)
    for j, c in enumerate(frame.columns):
        s = frame[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy()
            out[:, j] = np.where(codes < 0, np.nan, codes)
        else:
            out[:, j] = s.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


class _Ranker(BaseEstimator):
    """Feature selection, categorical handling and query grouping shared by the rankers."""

    def _select(self, X: pd.DataFrame) -> None:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"X must be a pandas DataFrame with {QUERY_ID!r} and feature columns")
        if QUERY_ID not in X.columns:
            raise ValueError(f"X lacks the {QUERY_ID!r} column")
        if self.features is None:
            feats = [c for c in X.columns if c not in _NON_FEATURES
                     and (is_numeric_dtype(X[c]) or is_bool_dtype(X[c]) or _is_categorical(X[c]))]
        else:
            feats = list(self.features)
            missing = [c for c in feats if c not in X.columns]
            if missing:
                raise ValueError(f"X lacks feature columns {missing}")
        if not feats:
            raise ValueError("no feature columns in X")
        self.features_in_ = feats
        self.categories_ = {
            c: (X[c].cat.categories if isinstance(X[c].dtype, pd.CategoricalDtype)
                else pd.Index(pd.unique(X[c].dropna())).sort_values())
            for c in feats if _is_categorical(X[c])
        }

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """The feature columns of X, categoricals with the categories fixed at fit."""
        missing = [c for c in self.features_in_ if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks feature columns {missing} seen at fit")
        out = X[self.features_in_].copy()
        for c, cats in self.categories_.items():
            out[c] = pd.Categorical(out[c], categories=cats)  # unseen -> NaN
        for c in out.columns:
            if is_bool_dtype(out[c]):
                out[c] = out[c].astype(np.float64)
        return out

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        """:meth:`_frame` as the float matrix LightGBM's pandas path would build from it
        (categoricals as their codes, missing as NaN), without that path's per-call checks."""
        return _float_matrix(self._frame(X))

    def _grouped(self, X: pd.DataFrame, y) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Features, labels and LightGBM group sizes with rows sorted by query id (stably)."""
        y = np.asarray(y)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
        order, codes = _group_codes(X[QUERY_ID])
        frame = self._frame(X).iloc[order].reset_index(drop=True)
        sizes = np.bincount(codes)
        return frame, y[order], sizes


class StrongestFeature(_Ranker):
    """Ranks by the single numeric feature (and sign) with the best training NDCG@10.

    A baseline any learned ranker must beat. NaN scores rank last.

    Learned attributes: ``feature_`` (column name), ``sign_`` (+1 or -1), ``ndcg_`` (its
    training NDCG@10), ``feature_scores_`` (pd.Series of the best NDCG@10 of every feature,
    over both signs), ``features_in_``, ``categories_``.
    """

    def __init__(self, features: list[str] | None = None):
        self.features = features

    def fit(self, X: pd.DataFrame, y) -> StrongestFeature:
        self._select(X)
        y = np.asarray(y, dtype=np.float64)
        _, codes = _group_codes(X[QUERY_ID])
        frame = self._frame(X)
        numeric = [c for c in self.features_in_ if c not in self.categories_]
        if not numeric:
            raise ValueError("StrongestFeature needs at least one numeric feature")
        best, scores = (None, 0, -np.inf), {}
        for c in numeric:
            x = frame[c].to_numpy(dtype=np.float64, na_value=np.nan)
            for sign in (1, -1):
                s = _mean_ndcg(y, sign * x, codes, k=10)
                scores[c] = max(scores.get(c, -np.inf), s)
                if s > best[2]:
                    best = (c, sign, s)
        self.feature_, self.sign_, self.ndcg_ = best
        self.feature_scores_ = pd.Series(scores, name="ndcg@10").sort_values(ascending=False)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "feature_")
        x = self.sign_ * pd.to_numeric(X[self.feature_]).to_numpy(dtype=np.float64, na_value=np.nan)
        return np.where(np.isnan(x), -np.inf, x)


class LambdaMART(_Ranker):
    """Gradient-boosted trees with the LambdaRank objective (LightGBM), grouped by query.

    Defaults were chosen on validation only (``benchmarks/tune_defaults.py letor``: LightGBM's
    LETOR sample, rank.train alone, a seeded random 20% of its queries validate; rank.test is
    never read): lr 0.05 beat 0.1 and leaves of at least 30 rows beat 50 at 100, 300 and 600
    trees; 300 trees give validation NDCG@10 0.786 (mean of 3 carves), 100 trees 0.792 and 600
    0.785, differences far below the spread between carves (0.75-0.82), against 0.775 for
    LightGBM's own ``train.conf`` (100 trees, lr 0.1, 31 leaves, min 50 rows per leaf). For
    information, scored once on rank.test: 0.760 (mean of seeds 0-2) against 0.732 for
    ``train.conf``; see ``benchmarks/check_ranking_letor.py``. The same defaults serve every
    dataset.

    Parameters
    ----------
    features : feature columns; None = every numeric / categorical non-id column
    n_estimators, learning_rate, num_leaves, min_child_samples : LightGBM's
        num_iterations, learning_rate, num_leaves, min_data_in_leaf
    subsample : bagging_fraction (bagging every iteration when < 1)
    colsample_bytree : feature_fraction
    reg_lambda : lambda_l2
    min_child_weight : min_sum_hessian_in_leaf
    lambdarank_truncation_level : pairs are formed only with rows ranked above this
    label_gain : gain of each relevance grade; None = LightGBM's ``2**i - 1``
    early_stopping_rounds : stop when the first ``eval_at`` NDCG of ``eval_set`` stalls
        (needs ``fit(..., eval_set=(X_val, y_val))``)
    random_state : seed of bagging and feature sampling (deterministic training)
    eval_at : NDCG cut-offs evaluated on ``eval_set``
    num_threads : LightGBM threads; 0 = OpenMP default

    Learned attributes: ``booster_`` (lightgbm.Booster), ``feature_importances_``
    (pd.Series of total gain by feature), ``best_iteration_`` (trees used by predict),
    ``evals_result_`` (metric history on ``eval_set``), ``features_in_``, ``categories_``.
    """

    def __init__(self, features: list[str] | None = None, n_estimators: int = 300,
                 learning_rate: float = 0.05, num_leaves: int = 31, min_child_samples: int = 30,
                 subsample: float = 0.8, colsample_bytree: float = 0.8, reg_lambda: float = 0.0,
                 min_child_weight: float = 5.0, lambdarank_truncation_level: int = 30,
                 label_gain: list[float] | None = None, early_stopping_rounds: int | None = None,
                 random_state: int | None = 0, eval_at: tuple[int, ...] = (10,), num_threads: int = 0):
        self.features = features
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.min_child_weight = min_child_weight
        self.lambdarank_truncation_level = lambdarank_truncation_level
        self.label_gain = label_gain
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state
        self.eval_at = eval_at
        self.num_threads = num_threads

    def _params(self) -> dict:
        params = {
            "objective": "lambdarank",
            "metric": "ndcg",
            "eval_at": list(self.eval_at),
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "min_sum_hessian_in_leaf": self.min_child_weight,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1.0 else 0,
            "feature_fraction": self.colsample_bytree,
            "lambda_l2": self.reg_lambda,
            "lambdarank_truncation_level": self.lambdarank_truncation_level,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.num_threads,
            "verbose": -1,
        }
        if self.label_gain is not None:
            params["label_gain"] = list(self.label_gain)
        if self.random_state is not None:
            params["seed"] = int(self.random_state)
        return params

    def fit(self, X: pd.DataFrame, y, eval_set: tuple[pd.DataFrame, object] | None = None) -> LambdaMART:
        import lightgbm as lgb

        if self.early_stopping_rounds and eval_set is None:
            raise ValueError("early_stopping_rounds needs fit(X, y, eval_set=(X_val, y_val))")
        self._select(X)
        frame, labels, sizes = self._grouped(X, y)
        train = lgb.Dataset(frame, labels, group=sizes, categorical_feature="auto", free_raw_data=False)
        valid_sets, callbacks, evals = [], [], {}
        if eval_set is not None:
            vf, vl, vs = self._grouped(*eval_set)
            valid_sets = [lgb.Dataset(vf, vl, group=vs, reference=train)]
            callbacks.append(lgb.record_evaluation(evals))
            if self.early_stopping_rounds:
                callbacks.append(lgb.early_stopping(self.early_stopping_rounds, first_metric_only=True,
                                                    verbose=False))
        booster = lgb.train(self._params(), train, num_boost_round=self.n_estimators,
                            valid_sets=valid_sets, valid_names=["valid"][:len(valid_sets)],
                            callbacks=callbacks)
        self.booster_ = booster
        self.best_iteration_ = booster.best_iteration if booster.best_iteration > 0 else booster.current_iteration()
        self.evals_result_ = evals
        self.feature_importances_ = pd.Series(
            booster.feature_importance(importance_type="gain", iteration=self.best_iteration_),
            index=self.features_in_, name="gain")
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "booster_")
        return self.booster_.predict(self._matrix(X), num_iteration=self.best_iteration_)


# Candidates a training config may name, and the one scorer every consumer calls.
CANDIDATES = {"strongest_feature": StrongestFeature, "lambdamart": LambdaMART}


def score(bundle, frame: pd.DataFrame, p: dict) -> pd.DataFrame:
    """``score`` per (query, product) row; higher ranks first."""
    return pd.DataFrame({"score": np.asarray(bundle.estimator.predict(frame), dtype="float64")}, index=frame.index)
