"""Fraud classifiers on a feature frame: one-hot logistic regression and calibrated LightGBM.

Both models take the fraud feature frame (``features/fraud.py``) or an imported dataset's
frame as it comes: ids and bookkeeping columns are ignored, numeric columns may hold NaN,
categorical columns (object/category/string) may hold ``None`` and values never seen at fit.

The decision threshold ``threshold_`` is part of the fitted model. It is 0.5 after ``fit``;
the training job chooses it on a validation period by minimising a configurable cost
(e.g. ``cost_fn * missed_fraud + cost_fp * false_alarms``) and stores it with the model
through :meth:`set_threshold`, so serving and batch scoring apply the same cut.
"""

from __future__ import annotations

import numbers

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from pomona.data.fraud import IS_FRAUD
from pomona.schemas import ACCOUNT_ID, MERCHANT_ID, SPLIT, TRANSACTION_ID, TS

__all__ = ["LGBMFraud", "LogisticFraud", "NON_FEATURES", "select_features"]

# Ids, the label, request fields used only by transforms, and label-derived diagnostics.
NON_FEATURES = frozenset({TRANSACTION_ID, ACCOUNT_ID, MERCHANT_ID, TS, IS_FRAUD, "device_id", "txn_unix",
                          "last_txn_unix", "primary_device", "fraud_pattern", SPLIT})
MISSING = "__missing__"  # the category that stands for a missing categorical value


def _is_categorical(s: pd.Series) -> bool:
    return (isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(s)
            or pd.api.types.is_string_dtype(s))


def _is_usable(s: pd.Series) -> bool:
    return pd.api.types.is_bool_dtype(s) or _is_categorical(s) or (
        pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_datetime64_any_dtype(s)
        and not pd.api.types.is_timedelta64_dtype(s))


def select_features(X: pd.DataFrame, features: list[str] | None) -> tuple[list[str], list[str]]:
    """The feature columns and which of them are categorical.

    ``features=None`` takes every numeric, bool, object, string or category column except
    :data:`NON_FEATURES`; bool columns are numeric (0/1).
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"fraud models need a pandas DataFrame, got {type(X).__name__}")
    if features is None:
        cols = [c for c in X.columns if c not in NON_FEATURES and _is_usable(X[c])]
    else:
        missing = [c for c in features if c not in X.columns]
        if missing:
            raise ValueError(f"feature columns missing from X: {missing}")
        cols = list(features)
    if not cols:
        raise ValueError("no usable feature columns in X")
    return cols, [c for c in cols if _is_categorical(X[c])]


def _as_float(X) -> np.ndarray:
    """Numeric block -> float64 (nullable ints/bools with pd.NA become NaN)."""
    return pd.DataFrame(X).apply(pd.to_numeric, errors="coerce").astype("float64").to_numpy()


def _as_strings(X) -> np.ndarray:
    """Categorical block -> object array of strings, missing values as :data:`MISSING`."""
    df = pd.DataFrame(X).astype(object)
    return df.where(df.notna(), MISSING).astype(str).to_numpy(dtype=object)


class _FraudClassifier(ClassifierMixin, BaseEstimator):
    """What both fraud models share: feature selection, classes, the decision threshold."""

    def _check_y(self, X: pd.DataFrame, y) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must be 1-d with one label per row of X ({len(X)}), got shape {y.shape}")
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError(f"fraud models need two classes in y, got {self.classes_.tolist()}")
        return (y == self.classes_[1]).astype("int64")

    def _select(self, X: pd.DataFrame) -> None:
        self.features_in_, self.categorical_features_ = select_features(X, self.features)
        self.n_features_in_ = len(self.features_in_)
        self.threshold_ = 0.5

    def _columns(self, X: pd.DataFrame, select: bool = True) -> pd.DataFrame:
        """X's feature columns (``select=False``: X itself, once checked; no copy)."""
        check_is_fitted(self)
        missing = [c for c in self.features_in_ if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks the feature columns the model was fit on: {missing}")
        return X[self.features_in_] if select else X

    def set_threshold(self, threshold: float):
        """Store the decision threshold chosen on a validation period; returns self."""
        check_is_fitted(self)
        if not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        self.threshold_ = float(threshold)
        return self

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        return self.predict_proba(X)[:, 1]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Class labels: the positive class where P(fraud) >= ``threshold_``."""
        proba = self.predict_proba(X)[:, 1]
        return self.classes_[(proba >= self.threshold_).astype("int64")]


class LogisticFraud(_FraudClassifier):
    """One-hot logistic regression (a scikit-learn Pipeline stored as ``pipeline_``).

    Numeric columns: median imputation with missing-indicators, then standard scaling.
    No log transform: the fraud frame already carries ``log_amount`` next to ``amount``,
    and on the vehicle-insurance data a signed log1p changed nothing measurable.
    Categorical columns: missing -> its own category, one-hot with categories rarer than
    ``min_frequency`` pooled; unseen categories fall into that pool (or all-zeros).

    ``C=0.1`` was chosen on validation only (``benchmarks/tune_defaults.py vehicle``: the last
    20% of 1994-1995 validates, 1996 is never read): PR-AUC 0.144 against 0.137 for C=1.
    """

    def __init__(self, features: list[str] | None = None, C: float = 0.1, class_weight="balanced",
                 max_iter: int = 1000, min_frequency: int = 20):
        self.features = features
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.min_frequency = min_frequency

    def fit(self, X: pd.DataFrame, y=None):
        """Fit on X's feature columns and labels y (0/1); returns self."""
        if y is None:
            y = X[IS_FRAUD]
        self._select(X)
        target = self._check_y(X, y)
        numeric = [c for c in self.features_in_ if c not in self.categorical_features_]
        blocks = []
        if numeric:
            blocks.append(("numeric", make_pipeline(
                FunctionTransformer(_as_float, feature_names_out="one-to-one"),
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                StandardScaler()), numeric))
        if self.categorical_features_:
            blocks.append(("categorical", make_pipeline(
                FunctionTransformer(_as_strings, feature_names_out="one-to-one"),
                SimpleImputer(strategy="constant", fill_value=MISSING),
                OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=self.min_frequency,
                              sparse_output=True)), self.categorical_features_))
        self.pipeline_ = Pipeline([
            ("columns", ColumnTransformer(blocks)),
            ("model", LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter)),
        ])
        self.pipeline_.fit(X[self.features_in_], target)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """P(class) per row, shape (n, 2); column 1 is fraud."""
        X = self._columns(X)
        return self.pipeline_.predict_proba(X)


class LGBMFraud(_FraudClassifier):
    """Gradient-boosted trees with class-imbalance handling and calibrated probabilities.

    ``fit`` trains the booster on the first ``1 - calibration_fraction`` of the rows *in
    the order given* and the calibrator on the rest: the training job passes rows sorted
    by time, so the calibrator learns from the most recent period, as a temporal protocol
    needs. ``calibration="isotonic"`` maps scores through a step function; to keep the
    booster's ranking (a step function ties many rows, which lowers PR-AUC) a monotone
    tie-breaker of weight 1e-6 is mixed in. ``"sigmoid"`` is Platt scaling on the raw
    margin; ``None`` uses the booster on all rows without calibration.

    ``scale_pos_weight``: None (no re-weighting; calibration takes care of probabilities),
    ``"auto"`` (negatives / positives) or a number. Categorical columns become pandas
    ``category`` with the categories seen at fit (``categories_``); others map to missing.

    Defaults were chosen on validation only (``benchmarks/tune_defaults.py vehicle``: fit on
    1994 to mid-1995, PR-AUC on the last 20% of 1994-1995, mean of 3 seeds; 1996 is never
    read): 7 leaves beat 15 and 31 at 150, 300 and 600 trees (300 trees: 0.169 / 0.161 /
    0.158) and at least 50 rows per leaf beat 100 everywhere; the number of trees hardly
    mattered. The same defaults serve every dataset.
    """

    TIE_BREAK = 1e-6

    def __init__(self, features: list[str] | None = None, n_estimators: int = 300, learning_rate: float = 0.03,
                 num_leaves: int = 7, min_child_samples: int = 50, subsample: float = 1.0,
                 colsample_bytree: float = 0.8, reg_lambda: float = 5.0, cat_smooth: float = 20.0,
                 scale_pos_weight=None, calibration: str | None = "isotonic", calibration_fraction: float = 0.2,
                 random_state: int = 0, n_jobs: int | None = None):
        self.features = features
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.cat_smooth = cat_smooth
        self.scale_pos_weight = scale_pos_weight
        self.calibration = calibration
        self.calibration_fraction = calibration_fraction
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """Numeric columns as float64 (NaN for missing); categoricals as ``str(value)`` coded
        against ``categories_`` (missing and unseen values: missing)."""
        cols = self._encoded(X)
        return pd.DataFrame({c: pd.Categorical.from_codes(v, dtype=pd.CategoricalDtype(
            pd.Index(self.categories_[c], dtype=object))) if c in self.categories_ else v
            for c, v in cols.items()}, index=X.index)

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        """:meth:`_frame` as the float matrix LightGBM's pandas path builds from it
        (categories as codes, missing as NaN), without that path's per-call checks."""
        out = np.empty((len(X), len(self.features_in_)), dtype=np.float64, order="F")  # column writes contiguous
        for j, (c, v) in enumerate(self._encoded(X).items()):
            out[:, j] = np.where(v < 0, np.nan, v) if c in self.categories_ else v
        return out

    def _encoded(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """Per feature: float64 values, or a categorical's int codes in ``categories_`` (-1:
        missing or unseen). Vectorised: ``str`` of each distinct value only (``factorize``),
        one index lookup per column."""
        out = {}
        for c in self.features_in_:
            s = X[c]
            if c in self.categories_:
                values = s.to_numpy(dtype=object)
                seen, uniques = pd.factorize(values)  # missing values: -1
                if len({type(v) for v in uniques}) > 1:  # mixed types: factorize merges 1, 1.0 and True
                    uniques = np.array([str(v) for v in values], dtype=object)
                    seen = np.where(pd.isna(values), -1, np.arange(len(values)))
                cats = pd.Index(self.categories_[c], dtype=object)
                mapped = np.append(cats.get_indexer([str(v) for v in uniques]), -1)  # unseen: -1
                out[c] = mapped[seen]  # seen == -1 picks the appended -1
            elif isinstance(s.dtype, np.dtype) and s.dtype.kind in "fiub":
                out[c] = s.to_numpy(dtype="float64")
            else:
                out[c] = pd.to_numeric(s, errors="coerce").astype("float64").to_numpy()
        return out

    def _params(self, target: np.ndarray) -> dict:
        spw = self.scale_pos_weight
        if spw is None:
            spw = 1.0
        elif spw == "auto":
            spw = (target == 0).sum() / max((target == 1).sum(), 1)
        elif not isinstance(spw, numbers.Real):
            raise ValueError(f"scale_pos_weight must be None, 'auto' or a number, got {spw!r}")
        return dict(objective="binary", learning_rate=self.learning_rate, num_leaves=self.num_leaves,
                    min_child_samples=self.min_child_samples, bagging_fraction=self.subsample,
                    bagging_freq=1 if self.subsample < 1 else 0, feature_fraction=self.colsample_bytree,
                    lambda_l2=self.reg_lambda, cat_smooth=self.cat_smooth, cat_l2=self.cat_smooth / 2,
                    scale_pos_weight=float(spw), seed=self.random_state, deterministic=True,
                    force_row_wise=True, num_threads=self.n_jobs or 0, verbose=-1)

    def fit(self, X: pd.DataFrame, y=None):
        """Fit the booster on the earlier rows and the calibrator on the latest; returns self."""
        if self.calibration not in ("isotonic", "sigmoid", None):
            raise ValueError(f"calibration must be 'isotonic', 'sigmoid' or None, got {self.calibration!r}")
        if y is None:
            y = X[IS_FRAUD]
        self._select(X)
        target = self._check_y(X, y)
        self.categories_ = {}
        for c in self.categorical_features_:
            seen = X[c].dropna().astype(str).unique()
            self.categories_[c] = sorted(seen.tolist())
        frame = self._frame(X)
        n_cal = int(round(self.calibration_fraction * len(X))) if self.calibration else 0
        n_fit = len(X) - n_cal
        if self.calibration and (n_cal == 0 or len(np.unique(target[n_fit:])) < 2
                                 or len(np.unique(target[:n_fit])) < 2):
            raise ValueError("calibration needs both classes among the first and the last "
                             f"{self.calibration_fraction:.0%} of the rows; pass more data or calibration=None")
        train = lgb.Dataset(frame.iloc[:n_fit], target[:n_fit], categorical_feature=self.categorical_features_,
                            free_raw_data=True)
        self.booster_ = lgb.train(self._params(target[:n_fit]), train, num_boost_round=self.n_estimators)
        self.feature_importances_ = pd.Series(self.booster_.feature_importance("gain"),
                                              index=self.features_in_, name="gain")
        self.calibrator_ = None
        if self.calibration:
            margin = self.booster_.predict(frame.iloc[n_fit:], raw_score=True)
            if self.calibration == "isotonic":
                self.calibrator_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
                self.calibrator_.fit(margin, target[n_fit:])
            else:
                self.calibrator_ = LogisticRegression(C=1e6).fit(margin.reshape(-1, 1), target[n_fit:])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated P(class) per row, shape (n, 2); column 1 is fraud."""
        matrix = self._matrix(self._columns(X, select=False))  # first: raises NotFittedError before fit
        margin = self.booster_.predict(matrix, raw_score=True)
        raw = 1.0 / (1.0 + np.exp(-margin))
        if self.calibrator_ is None:
            p = raw
        elif isinstance(self.calibrator_, IsotonicRegression):
            p = (1 - self.TIE_BREAK) * self.calibrator_.predict(margin) + self.TIE_BREAK * raw
        else:
            p = self.calibrator_.predict_proba(margin.reshape(-1, 1))[:, 1]
        return np.column_stack([1.0 - p, p])


# Candidates a training config may name, and the one scorer every consumer calls.
CANDIDATES = {"logistic": LogisticFraud, "lightgbm": LGBMFraud}
DECISIONS = ("approve", "review", "decline")


def score(bundle, frame: pd.DataFrame, p: dict) -> pd.DataFrame:
    """``fraud_probability`` and ``decision``: decline at or above the threshold chosen on the
    validation period, review from ``review_threshold``, approve below."""
    proba = bundle.estimator.predict_proba(frame)[:, 1]
    threshold, review = float(p["threshold"]), float(p["review_threshold"])
    decision = np.where(proba >= threshold, "decline", np.where(proba >= review, "review", "approve"))
    return pd.DataFrame({"fraud_probability": proba, "decision": decision, "threshold": threshold},
                        index=frame.index)
