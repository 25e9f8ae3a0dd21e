"""Graded-relevance metrics of ranked lists: LightGBM's ``ndcg@k`` (gain ``2^rel - 1``, all-zero
queries score 1) and MRR."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


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


def ndcg_per_query(query_ids, relevance, scores, k: int = 10) -> pd.DataFrame:
    """LightGBM's NDCG@k of each query (the units of a paired comparison), sorted by query id:
    columns ``query_id`` and ``ndcg_at_<k>``; their mean is :func:`relevance_metrics`' figure."""
    qid = np.asarray(query_ids)
    groups = _query_groups(qid, relevance, scores)
    _, first = np.unique(qid, return_index=True)
    ids = qid[np.sort(first)]  # order of first appearance, as the groups
    values = [_ndcg_lightgbm(labels, _ranked_labels(labels, sc), k) for labels, sc in groups]
    out = pd.DataFrame({"query_id": ids, f"ndcg_at_{k}": values})
    return out.sort_values("query_id", kind="stable").reset_index(drop=True)


def relevance_metrics(query_ids, relevance, scores) -> dict[str, float]:
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
