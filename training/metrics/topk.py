"""Top-k list metrics: Microsoft Recommenders' ``python_evaluation`` (binary relevance, top-k)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


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


def user_scores(recommended, relevant, k: int) -> tuple[list, np.ndarray]:
    """The evaluated users (sorted) and their (precision, recall, ndcg, average precision) at
    k, one row each: the units of a paired comparison; the column means are the metrics."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    users = sorted(u for u, items in relevant.items() if len(items) > 0)
    if not users:
        raise ValueError("no user has a relevant item: nothing to evaluate")
    scores = np.zeros((len(users), 4))  # (n_users, 4)
    for i, user in enumerate(users):
        recs = recommended.get(user)
        if recs is not None:
            scores[i] = _user_scores(list(recs), set(relevant[user]), k)
    return users, scores


def _mean_user_scores(recommended, relevant, k: int) -> np.ndarray:
    """Mean over evaluated users of (precision, recall, ndcg, average precision) at k."""
    return user_scores(recommended, relevant, k)[1].mean(axis=0)


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
