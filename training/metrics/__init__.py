"""Every evaluation metric, one family per module, re-exported here.

Pure numpy/pandas/scikit-learn: no MLflow, no framework adapters (the training jobs log what
these functions return). Each family follows one published convention exactly, so that our
numbers can be compared with the published reference figures in ``shared/data/README.md``:

* :mod:`~training.metrics.topk` - top-k lists: Microsoft Recommenders' ``python_evaluation``;
* :mod:`~training.metrics.relevance` - graded relevance: LightGBM's ``ndcg@k``;
* :mod:`~training.metrics.binary` - probabilities and decisions: scikit-learn plus a cost model;
* :mod:`~training.metrics.forecast` - the M4 competition (sMAPE, MASE, OWA against Naive2).
"""

from __future__ import annotations

from training.metrics.binary import average_precision, binary_metrics, choose_threshold, cost_curve
from training.metrics.forecast import (
                                       forecast_metrics,
                                       mase,
                                       mase_scale,
                                       naive2_forecast,
                                       naive_forecast,
                                       seasonal_naive_forecast,
                                       seasonality_test,
                                       smape,
)
from training.metrics.relevance import ndcg_by_cutoff, ndcg_per_query, relevance_metrics
from training.metrics.topk import ndcg_by_cutoff_recs, recommendation_metrics, user_scores

__all__ = [
    "recommendation_metrics",
    "ndcg_by_cutoff_recs",
    "relevance_metrics",
    "ndcg_per_query",
    "user_scores",
    "ndcg_by_cutoff",
    "binary_metrics",
    "average_precision",
    "choose_threshold",
    "cost_curve",
    "smape",
    "mase",
    "mase_scale",
    "naive_forecast",
    "seasonal_naive_forecast",
    "naive2_forecast",
    "seasonality_test",
    "forecast_metrics",
]
