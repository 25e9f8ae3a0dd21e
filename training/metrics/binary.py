"""Binary decisions on probabilities: scikit-learn's ``average_precision_score`` /
``roc_auc_score`` plus a cost model that chooses the threshold."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve


def _binary(y_true, proba) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    p = np.asarray(proba, dtype=float)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"y_true and proba must be 1-d and of one length, got {y.shape}, {p.shape}")
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise ValueError(f"y_true must hold 0/1 labels, got values {sorted(values)[:5]}")
    if len(values) < 2:
        raise ValueError(
            f"y_true contains only one class ({sorted(values)}): binary metrics and thresholds "
            "need both positive (1) and negative (0) examples"
        )
    return y.astype(int), p


def _counts(y: np.ndarray, p: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false negatives, false positives) when flagging ``p >= t`` for each threshold t."""
    pos = np.sort(p[y == 1])
    neg = np.sort(p[y == 0])
    tp = pos.size - np.searchsorted(pos, thresholds, side="left")
    fp = neg.size - np.searchsorted(neg, thresholds, side="left")
    return pos.size - tp, fp


def cost_curve(y_true, proba, cost_fn: float, cost_fp: float) -> tuple[np.ndarray, np.ndarray]:
    """Expected cost per transaction for every candidate threshold (for plots).

    Candidates are the unique probabilities plus one just above ``max(1, max proba)``, which
    flags nothing. A transaction is flagged when ``proba >= threshold``.

    Returns
    -------
    thresholds, costs
        Ascending thresholds (n_candidates,) and ``(cost_fn*FN + cost_fp*FP) / n`` at each.
    """
    y, p = _binary(y_true, proba)
    flag_nothing = np.nextafter(max(1.0, float(p.max())), np.inf)
    thresholds = np.append(np.unique(p), flag_nothing)
    fn, fp = _counts(y, p, thresholds)
    return thresholds, (cost_fn * fn + cost_fp * fp) / y.size


def choose_threshold(y_true, proba, cost_fn: float, cost_fp: float) -> float:
    """The threshold minimising expected cost; among equal costs, the highest (fewest flags)."""
    thresholds, costs = cost_curve(y_true, proba, cost_fn, cost_fp)
    best = np.flatnonzero(costs == costs.min())[-1]
    return float(thresholds[best])


def average_precision(y_true, proba) -> float:
    """scikit-learn's ``average_precision_score`` (ties grouped by distinct score), in a tenth of
    its time: the promotion gate computes it a thousand times per bootstrap. NaN for one class."""
    y, p = np.asarray(y_true, dtype=float), np.asarray(proba, dtype=float)
    order = np.argsort(-p, kind="mergesort")
    y, p = y[order], p[order]
    last = np.r_[np.flatnonzero(np.diff(p)), len(p) - 1]  # the last row of each distinct score
    tps = np.cumsum(y)[last]
    if len(y) == 0 or tps[-1] == 0 or tps[-1] == len(y):
        return float("nan")
    precision, recall = tps / (last + 1), tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def binary_metrics(y_true, proba, threshold: float, cost_fn: float, cost_fp: float) -> dict[str, float]:
    """Detection metrics of scores ``proba`` (higher = more likely positive, e.g. a fraud).

    Returns
    -------
    dict
        ``pr_auc`` (average precision), ``roc_auc``, ``recall_at_1pct_fpr`` (highest TPR on the
        ROC curve with FPR <= 1%), and at ``threshold`` (flag when ``proba >= threshold``):
        ``precision`` (0 when nothing is flagged), ``recall`` and ``expected_cost`` =
        ``(cost_fn*FN + cost_fp*FP) / n``.
    """
    y, p = _binary(y_true, proba)
    fpr, tpr, _ = roc_curve(y, p, drop_intermediate=False)
    flagged = p >= threshold
    tp = int(np.sum(flagged & (y == 1)))
    fp = int(np.sum(flagged & (y == 0)))
    fn = int(np.sum(~flagged & (y == 1)))
    return {
        "pr_auc": float(average_precision_score(y, p)),
        "roc_auc": float(roc_auc_score(y, p)),
        "recall_at_1pct_fpr": float(tpr[fpr <= 0.01].max()),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn),
        "expected_cost": (cost_fn * fn + cost_fp * fp) / y.size,
    }
