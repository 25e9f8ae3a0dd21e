"""Every evaluation metric of the four use cases, in one tested module.

Pure numpy/pandas/scikit-learn: no MLflow, no framework adapters (the training jobs log what
these functions return). Each family follows one published convention exactly, so that our
numbers can be compared with the published reference figures in ``shared/data/README.md``:

* recommendations: Microsoft Recommenders' ``python_evaluation`` (binary relevance, top-k);
* ranking: LightGBM's ``ndcg@k`` (gain ``2^rel - 1``, all-zero queries score 1);
* fraud: scikit-learn's ``average_precision_score`` / ``roc_auc_score`` plus a cost model;
* forecasting: the M4 competition (sMAPE, MASE, OWA against Naive2), reproducing the M4
  benchmark R code (``Benchmarks and Evaluation.R``) including its seasonality test.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

__all__ = [
    "recommendation_metrics",
    "ndcg_by_cutoff_recs",
    "ranking_metrics",
    "ndcg_by_cutoff",
    "fraud_metrics",
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


# --------------------------------------------------------------------------- recommendations


def _user_scores(recommended_k: Sequence, rel: set, k: int) -> tuple[float, float, float, float]:
    """(precision, recall, ndcg, average precision) of one user's top-k list, binary relevance."""
    # Recommenders ranks the items of a list once each (``rank("first")``): a repeated item is
    # counted at its first position only.
    seen: set = set()
    hit_ranks = []
    for rank, item in enumerate(recommended_k[:k], start=1):
        if item in seen:
            continue
        seen.add(item)
        if item in rel:
            hit_ranks.append(rank)
    hits = len(hit_ranks)
    if hits == 0:
        return 0.0, 0.0, 0.0, 0.0
    ranks = np.asarray(hit_ranks, dtype=float)
    dcg = float(np.sum(1.0 / np.log2(ranks + 1.0)))
    idcg = float(np.sum(1.0 / np.log2(np.arange(1, min(k, len(rel)) + 1) + 1.0)))
    ap = float(np.sum(np.arange(1, hits + 1) / ranks)) / len(rel)
    return hits / k, hits / len(rel), dcg / idcg, ap


def _mean_user_scores(recommended, relevant, k: int) -> np.ndarray:
    """Mean over evaluated users of (precision, recall, ndcg, average precision) at k."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    users = [u for u, items in relevant.items() if len(items) > 0]
    if not users:
        raise ValueError("no user has a relevant item: nothing to evaluate")
    scores = np.zeros((len(users), 4))  # (n_users, 4)
    for i, user in enumerate(users):
        recs = recommended.get(user)
        if recs is not None:
            scores[i] = _user_scores(list(recs), set(relevant[user]), k)
    return scores.mean(axis=0)


def recommendation_metrics(
    recommended: Mapping[int, Sequence[int]],
    relevant: Mapping[int, set[int]],
    k: int = 10,
    n_items: int | None = None,
) -> dict[str, float]:
    """Top-k recommendation metrics, as Microsoft Recommenders' ``python_evaluation``.

    Parameters
    ----------
    recommended
        user -> ranked list of recommended items (best first); only the first ``k`` count.
    relevant
        user -> set of held-out relevant items. The users evaluated are exactly the users in
        ``relevant`` with at least one item; a user missing from ``recommended`` scores 0 on
        every accuracy metric (Recommenders would drop such a user; we count the miss).
    k
        The cutoff; it names the keys (``ndcg_at_{k}``...).
    n_items
        Catalog size for ``coverage``; ``None`` uses the distinct items in
        ``recommended`` (top-k) and ``relevant``.

    Returns
    -------
    dict
        ``ndcg_at_k`` (DCG/IDCG with DCG = sum over hits of 1/log2(rank+1) and IDCG over
        min(k, |relevant|) hits), ``precision_at_k`` (hits/k), ``recall_at_k``
        (hits/|relevant|), ``map_at_k`` (sum over hit ranks r of hits-so-far/r, divided by
        |relevant|: Recommenders' ``map``, called ``map_at_k`` before v1.2 and reported as "MAP"
        in their README table; their newer ``map_at_k`` divides by min(k, |relevant|)), each
        averaged over users, and ``coverage`` = distinct recommended items (top-k) / n_items.
    """
    precision, recall, ndcg, map_k = _mean_user_scores(recommended, relevant, k)

    recommended_items = {item for recs in recommended.values() for item in list(recs)[:k]}
    if n_items is None:
        n_items = len(recommended_items | {item for items in relevant.values() for item in items})
    coverage = len(recommended_items) / n_items if n_items > 0 else float("nan")
    return {
        f"ndcg_at_{k}": float(ndcg),
        f"precision_at_{k}": float(precision),
        f"recall_at_{k}": float(recall),
        f"map_at_{k}": float(map_k),
        "coverage": float(coverage),
    }


def ndcg_by_cutoff_recs(
    recommended: Mapping[int, Sequence[int]],
    relevant: Mapping[int, set[int]],
    cutoffs: Sequence[int] = (1, 3, 5, 10, 20),
) -> dict[int, float]:
    """Recommendation nDCG@k for each cutoff (for plots); same convention as above."""
    return {int(c): float(_mean_user_scores(recommended, relevant, int(c))[2]) for c in cutoffs}


# ----------------------------------------------------------------------------------- ranking


def _query_groups(query_ids, relevance, scores) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split per-document arrays into per-query (labels, scores), keeping document order."""
    qid = np.asarray(query_ids)
    rel = np.asarray(relevance, dtype=float)
    sc = np.asarray(scores, dtype=float)
    if not (qid.shape == rel.shape == sc.shape) or qid.ndim != 1:
        raise ValueError(
            f"query_ids, relevance and scores must be 1-d and of one length, got shapes "
            f"{qid.shape}, {rel.shape}, {sc.shape}"
        )
    if qid.size == 0:
        raise ValueError("no documents to evaluate")
    _, first, inverse = np.unique(qid, return_index=True, return_inverse=True)
    order = np.argsort(inverse, kind="stable")  # documents grouped, original order within
    bounds = np.cumsum(np.bincount(inverse))[:-1]
    groups = zip(np.split(rel[order], bounds), np.split(sc[order], bounds))
    # Queries in order of first appearance (np.unique sorts them by id).
    return [g for _, g in sorted(zip(first, groups), key=lambda t: t[0])]


def _ranked_labels(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Labels in ranked order: descending score, ties kept in input order.

    This is LightGBM's ``std::stable_sort`` with ``score[a] > score[b]`` (dcg_calculator.cpp),
    so tied scores rank the earlier document first, exactly as LightGBM's own eval does.
    """
    return labels[np.argsort(-scores, kind="stable")]


def _ndcg_lightgbm(labels: np.ndarray, ranked: np.ndarray, k: int) -> float:
    """LightGBM's NDCG@k of one query: gain 2^rel - 1, discount 1/log2(rank+1), 1 if IDCG = 0."""
    ideal = np.sort(labels)[::-1][:k]
    discount = 1.0 / np.log2(np.arange(2, len(ideal) + 2))
    idcg = float(np.sum((2.0**ideal - 1.0) * discount))
    if idcg <= 0.0:
        return 1.0
    dcg = float(np.sum((2.0 ** ranked[:k] - 1.0) * discount))
    return dcg / idcg


def ndcg_by_cutoff(
    query_ids, relevance, scores, cutoffs: Sequence[int] = tuple(range(1, 11))
) -> dict[int, float]:
    """Mean over queries of LightGBM's NDCG@k, for each cutoff k.

    Parameters
    ----------
    query_ids, relevance, scores
        One entry per document (n_docs,); the documents of a query need not be contiguous.
        Relevance is graded (0, 1, 2, ...).
    """
    groups = _query_groups(query_ids, relevance, scores)
    ranked = [(labels, _ranked_labels(labels, sc)) for labels, sc in groups]
    return {
        int(k): float(np.mean([_ndcg_lightgbm(labels, r, int(k)) for labels, r in ranked]))
        for k in cutoffs
    }


def ranking_metrics(query_ids, relevance, scores) -> dict[str, float]:
    """Learning-to-rank metrics, mean over queries.

    NDCG follows LightGBM's convention exactly (see :func:`ndcg_by_cutoff`); a query whose
    labels are all 0 scores 1 (as in LightGBM), ties in score rank the earlier document first.
    ``mrr`` is the reciprocal rank of the first document with relevance > 0 over the whole
    ranking; a query with no relevant document contributes 0 (it is kept in the mean, so MRR
    is not inflated by dropping hopeless queries).

    Returns
    -------
    dict
        ``ndcg_at_10`` (primary), ``ndcg_at_1``, ``ndcg_at_3``, ``ndcg_at_5``, ``mrr``.
    """
    groups = _query_groups(query_ids, relevance, scores)
    ndcg = {k: [] for k in (1, 3, 5, 10)}
    rr = []
    for labels, sc in groups:
        ranked = _ranked_labels(labels, sc)
        for k in ndcg:
            ndcg[k].append(_ndcg_lightgbm(labels, ranked, k))
        hits = np.flatnonzero(ranked > 0)
        rr.append(1.0 / (hits[0] + 1) if hits.size else 0.0)
    out = {f"ndcg_at_{k}": float(np.mean(ndcg[k])) for k in (10, 1, 3, 5)}
    out["mrr"] = float(np.mean(rr))
    return out


# ------------------------------------------------------------------------------------- fraud


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
            f"y_true contains only one class ({sorted(values)}): fraud metrics and thresholds "
            "need both fraud (1) and non-fraud (0) examples"
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


def fraud_metrics(y_true, proba, threshold: float, cost_fn: float, cost_fp: float) -> dict[str, float]:
    """Fraud-detection metrics of scores ``proba`` (higher = more likely fraud).

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


# ------------------------------------------------------------------------------- forecasting


def smape(y, f) -> float:
    """M4 sMAPE in percent: mean(200*|y-f| / (|y|+|f|)); a point with y = f = 0 counts 0."""
    y, f = np.asarray(y, dtype=float), np.asarray(f, dtype=float)
    if y.shape != f.shape:
        raise ValueError(f"actuals and forecasts differ in shape: {y.shape} vs {f.shape}")
    num = 200.0 * np.abs(y - f)
    den = np.abs(y) + np.abs(f)
    return float(np.mean(np.divide(num, den, out=np.zeros_like(num), where=den > 0)))


def mase_scale(insample, m: int) -> float:
    """M4 MASE scale: in-sample mean |x_t - x_{t-m}|; NaN when the series has <= m points."""
    x = np.asarray(insample, dtype=float)
    if x.size <= m:
        return float("nan")
    return float(np.mean(np.abs(x[m:] - x[:-m])))


def mase(y, f, insample, m: int) -> float:
    """M4 MASE: mean |y-f| over the horizon divided by :func:`mase_scale` (NaN or inf when
    the scale is undefined or zero)."""
    y, f = np.asarray(y, dtype=float), np.asarray(f, dtype=float)
    if y.shape != f.shape:
        raise ValueError(f"actuals and forecasts differ in shape: {y.shape} vs {f.shape}")
    scale = mase_scale(insample, m)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.mean(np.abs(y - f)) / np.float64(scale))


def naive_forecast(insample, h: int) -> np.ndarray:
    """Naive (Naive1): the last observation repeated ``h`` times."""
    x = np.asarray(insample, dtype=float)
    return np.full(h, x[-1])


def seasonal_naive_forecast(insample, h: int, m: int) -> np.ndarray:
    """Seasonal naive (M4 ``naive_seasonal``): the last season repeated; naive when m <= 1."""
    x = np.asarray(insample, dtype=float)
    if m <= 1:
        return naive_forecast(x, h)
    return np.resize(x[-m:], h)


def _acf(x: np.ndarray, nlags: int) -> np.ndarray:
    """Sample autocorrelations at lags 1..nlags, as R's ``acf`` (demeaned, denominator n)."""
    d = x - x.mean()
    c0 = float(d @ d)
    return np.array([float(d[k:] @ d[:-k]) / c0 for k in range(1, nlags + 1)])


def seasonality_test(insample, m: int) -> bool:
    """The M4 90% seasonality test (``SeasonalityTest`` in the M4 benchmark R code).

    Seasonal when ``|acf_m| > 1.645 * sqrt((1 + 2*sum_{k<m} acf_k^2) / n)``. Applied only if
    ``m > 1`` and ``n >= 3m``. Like the reference, which calls R's ``acf`` with its default
    ``lag.max = floor(10*log10(n))``, lag m is unavailable when m exceeds that bound and the
    series is then treated as not seasonal (R's NA -> FALSE).
    """
    x = np.asarray(insample, dtype=float)
    n = x.size
    if m <= 1 or n < 3 * m:
        return False
    lag_max = min(int(math.floor(10 * math.log10(n))), n - 1)
    if m > lag_max or np.all(x == x[0]):
        return False
    acf = _acf(x, m)
    limit = 1.645 * math.sqrt((1.0 + 2.0 * float(np.sum(acf[:-1] ** 2))) / n)
    return bool(abs(acf[-1]) > limit)


def _seasonal_indices(x: np.ndarray, m: int) -> np.ndarray:
    """Multiplicative seasonal figure (m,) of R's ``decompose``: centered moving average trend,
    x/trend averaged per season position (NaNs ignored), normalised to mean 1. Position 0 is
    the first observation."""
    if m % 2 == 0:
        weights = np.r_[0.5, np.ones(m - 1), 0.5] / m
    else:
        weights = np.ones(m) / m
    half = len(weights) // 2
    trend = np.full(x.size, np.nan)
    trend[half : x.size - half] = np.convolve(x, weights, mode="valid")
    with np.errstate(divide="ignore", invalid="ignore"):  # zero trend (intermittent series): NaN, ignored
        ratio = x / trend
    figure = np.array([np.nanmean(ratio[i::m]) for i in range(m)])
    return figure / figure.mean()


def naive2_forecast(insample, h: int, m: int) -> np.ndarray:
    """M4 Naive2: naive forecast of the seasonally adjusted series, reseasonalised.

    When :func:`seasonality_test` finds seasonality, the series is divided by the classical
    multiplicative seasonal indices, the last adjusted value is repeated and multiplied by the
    indices of the forecast positions; otherwise this is the naive forecast.
    """
    x = np.asarray(insample, dtype=float)
    if not seasonality_test(x, m):
        return naive_forecast(x, h)
    figure = _seasonal_indices(x, m)
    n = x.size
    adjusted_last = x[-1] / figure[(n - 1) % m]
    return adjusted_last * figure[(n + np.arange(h)) % m]


def forecast_metrics(
    actuals: Mapping[object, np.ndarray],
    forecasts: Mapping[object, np.ndarray],
    insample: Mapping[object, np.ndarray],
    m: int,
    lower: Mapping[object, np.ndarray] | None = None,
    upper: Mapping[object, np.ndarray] | None = None,
) -> dict[str, float]:
    """M4 metrics over a set of series (keys: series ids; values: 1-d arrays).

    ``mase`` and ``smape`` are means over series of the per-series M4 values; ``owa`` is
    ``0.5*(sMAPE/sMAPE_Naive2 + MASE/MASE_Naive2)`` on those means, with Naive2 computed from
    the same ``insample`` over the same horizons; ``wape`` is ``sum|y-f| / sum|y|`` over all
    points; ``coverage_90`` the share of actuals inside ``[lower, upper]`` (NaN without
    intervals). A series whose MASE scale is undefined (<= m in-sample points) or zero has no
    MASE (M4 has no such series); it is left out of both MASE means and counted in
    ``n_series_skipped_mase``; it still counts in sMAPE and WAPE.
    """
    ids = list(actuals)
    if not ids:
        raise ValueError("no series to evaluate")
    missing = [i for i in ids if i not in forecasts or i not in insample]
    if missing:
        raise ValueError(f"series without a forecast or in-sample history: {missing[:5]}")
    smapes, smapes_n2, mases, mases_n2 = [], [], [], []
    abs_err = abs_y = 0.0
    for sid in ids:
        y = np.asarray(actuals[sid], dtype=float)
        f = np.asarray(forecasts[sid], dtype=float)
        x = np.asarray(insample[sid], dtype=float)
        n2 = naive2_forecast(x, y.size, m)
        smapes.append(smape(y, f))
        smapes_n2.append(smape(y, n2))
        scale = mase_scale(x, m)
        if np.isfinite(scale) and scale > 0:
            mases.append(np.mean(np.abs(y - f)) / scale)
            mases_n2.append(np.mean(np.abs(y - n2)) / scale)
        abs_err += float(np.sum(np.abs(y - f)))
        abs_y += float(np.sum(np.abs(y)))

    s, s2 = float(np.mean(smapes)), float(np.mean(smapes_n2))
    ms = float(np.mean(mases)) if mases else float("nan")
    ms2 = float(np.mean(mases_n2)) if mases_n2 else float("nan")
    owa = 0.5 * (s / s2 + ms / ms2) if s2 > 0 and ms2 > 0 else float("nan")

    coverage = float("nan")
    if lower is not None and upper is not None:
        inside = [
            (np.asarray(lower[i], dtype=float) <= np.asarray(actuals[i], dtype=float))
            & (np.asarray(actuals[i], dtype=float) <= np.asarray(upper[i], dtype=float))
            for i in ids
        ]
        coverage = float(np.mean(np.concatenate(inside)))
    return {
        "mase": ms,
        "smape": s,
        "owa": float(owa),
        "wape": abs_err / abs_y if abs_y > 0 else float("nan"),
        "coverage_90": coverage,
        "n_series_skipped_mase": len(ids) - len(mases),
    }
