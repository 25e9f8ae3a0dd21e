"""The one scoring path: a fitted model bundle and a feature frame in, predictions out.

The MLflow pyfunc, the BentoML services, the SageMaker handler and batch scoring all call
:func:`score`, so a feature frame gets the same answer everywhere. The frame is what the
feature store returns for the use case's FeatureService (training frame rows or online
vectors); columns a model does not use are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

DECISIONS = ("approve", "review", "decline")


@dataclass
class ModelBundle:
    """A fitted estimator with what scoring needs to know about it (pickled as one object)."""

    use_case: str
    estimator: Any
    feature_service: str
    fingerprint: str
    dataset: str
    params: dict[str, Any] = field(default_factory=dict)  # threshold, review_threshold, k, horizon...


def score(bundle: ModelBundle, frame: pd.DataFrame, **params) -> pd.DataFrame:
    """Predictions for ``frame``; the output columns depend on the use case (see each helper)."""
    return _SCORERS[bundle.use_case](bundle, frame, {**bundle.params, **params})


def _fraud(bundle: ModelBundle, frame: pd.DataFrame, p: dict) -> pd.DataFrame:
    """``fraud_probability`` and ``decision``: decline at or above the threshold chosen on the
    validation period, review from ``review_threshold``, approve below."""
    proba = bundle.estimator.predict_proba(frame)[:, 1]
    threshold, review = float(p["threshold"]), float(p["review_threshold"])
    decision = np.where(proba >= threshold, "decline", np.where(proba >= review, "review", "approve"))
    return pd.DataFrame({"fraud_probability": proba, "decision": decision, "threshold": threshold},
                        index=frame.index)


def _ranking(bundle: ModelBundle, frame: pd.DataFrame, p: dict) -> pd.DataFrame:
    """``score`` per (query, product) row; higher ranks first."""
    return pd.DataFrame({"score": np.asarray(bundle.estimator.predict(frame), dtype="float64")}, index=frame.index)


def _recommendations(bundle: ModelBundle, frame: pd.DataFrame, p: dict) -> pd.DataFrame:
    """Top ``k`` products per ``user_id`` row (long format: user_id, product_id, score, rank,
    cold_start), the user's own past items excluded; unknown users get the popular items."""
    k = int(p.get("k", 10))
    users = pd.unique(frame["user_id"].to_numpy())
    return bundle.estimator.recommend(users, k=k, exclude_seen=True).reset_index(drop=True)


def _forecasting(bundle: ModelBundle, frame: pd.DataFrame, p: dict) -> pd.DataFrame:
    """``horizon`` steps ahead for each ``series_id`` row (long format: series_id,
    event_timestamp, yhat, yhat_lower, yhat_upper). Future exogenous values, where the model
    uses them, come as extra rows of ``frame`` with ``event_timestamp``."""
    est = bundle.estimator
    horizon = int(p.get("horizon") or est.max_horizon_)
    series = pd.unique(frame["series_id"].astype(str).to_numpy())
    future = frame if getattr(est, "exog_", None) else None
    return est.predict(horizon, X_future=future, series=series).reset_index(drop=True)


_SCORERS = {"fraud": _fraud, "ranking": _ranking, "recommendations": _recommendations, "forecasting": _forecasting}
