"""One estimator (scikit-learn contract) and the scorer every consumer calls."""

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

FEATURES = ["user_orders_90d", "user_returns_90d", "user_return_rate_90d", "log_price"]


class ReturnsLogistic(ClassifierMixin, BaseEstimator):
    def __init__(self, C: float = 1.0):
        self.C = C

    def fit(self, X: pd.DataFrame, y):
        self.model_ = LogisticRegression(C=self.C, max_iter=500).fit(self._matrix(X), np.asarray(y))
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(self._matrix(X))

    @staticmethod
    def _matrix(X: pd.DataFrame) -> np.ndarray:
        return X.reindex(columns=FEATURES).astype("float64").fillna(0.0).to_numpy()


CANDIDATES = {"logistic": ReturnsLogistic}


def score(bundle, frame: pd.DataFrame, params: dict) -> pd.DataFrame:
    """``return_probability`` per order row."""
    return pd.DataFrame({"return_probability": bundle.estimator.predict_proba(frame)[:, 1]}, index=frame.index)
