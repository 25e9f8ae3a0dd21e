"""Browsing sessions (recommendations/interactions) and searches (ranking/judgments)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from pomona import schemas
from pomona.data._world import (
    ADJECTIVES,
    BRANDS,
    COLORS,
    DAY,
    HOUR_SHOPPING,
    NOUNS,
    YEAR,
    GroupSampler,
    Scale,
    World,
    month_of,
    pick_rows,
    rng_for,
    to_utc,
    with_rhythm,
)

VIEWS_PER_SESSION = 5.0  # 1 + Poisson(4)
ROWS_PER_VIEW = 1.12  # views plus the add-to-cart and purchase rows they lead to (measured)
SOURCE_P = (0.25, 0.45, 0.30)  # a view comes from a favourite brand / a preferred category / what is popular now
EVENT_TYPES = np.array(["view", "add_to_cart", "purchase"])
EVENT_WEIGHTS = np.array([1.0, 2.0, 4.0])
TEST_FROM = 304 * DAY  # ranking: searches from 2025-11-01 on are the test split
# relevance = number of thresholds the latent utility passes: 0 no click, 1 click, 2 long dwell,
# 3 add to cart, 4 purchase
GRADE_THRESHOLDS = np.array([2.0, 2.9, 3.6, 4.3])


class Samplers:
    """Per-month product samplers: overall, by category, by brand and by query noun."""

    def __init__(self, w: World):
        self.all, self.cat, self.brand, self.noun = [], [], [], []
        zeros = np.zeros(w.n_products, dtype=np.int64)
        for m in range(12):
            wt = w.month_weights(m)
            self.all.append(GroupSampler(zeros, wt, 1))
            self.cat.append(GroupSampler(w.category, wt, w.cat_pref.shape[1]))
            self.brand.append(GroupSampler(w.brand, wt, len(BRANDS)))
            self.noun.append(GroupSampler(w.noun, wt, len(NOUNS)))

    def draw(self, rng: np.random.Generator, kind: np.ndarray, groups: np.ndarray, months: np.ndarray) -> np.ndarray:
        """Product index per row: kind 0 brand group, 1 category group, 2 noun group, 3 overall."""
        out = np.full(len(kind), -1, dtype=np.int64)
        u = rng.random(len(kind))
        for m in np.unique(months):
            for k, samplers in enumerate((self.brand, self.cat, self.noun)):
                sel = (months == m) & (kind == k)
                if sel.any():
                    out[sel] = samplers[m].sample(groups[sel], u[sel])
            sel = (months == m) & (out < 0)
            if sel.any():
                out[sel] = self.all[m].sample(np.zeros(sel.sum(), dtype=np.int64), u[sel])
        return out


def sessions_per_user(scale: Scale) -> float:
    return scale.interactions / (scale.users * VIEWS_PER_SESSION * ROWS_PER_VIEW * 0.86)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def judgments(w: World, scale: Scale, seed: int, samplers: Samplers) -> Iterator[pd.DataFrame]:
    """Chunks of judged search results; query ids increase with time."""
    rng = rng_for(seed, 2, 0)
    n = scale.searches
    user = rng.choice(w.n_users, size=n, p=w.activity / w.activity.sum())
    t = w.start[user] + (rng.random(n) * np.maximum(YEAR - 3600 - w.start[user], 0)).astype(np.int64)
    t = with_rhythm(rng, t, w.start[user], HOUR_SHOPPING)
    order = np.argsort(t, kind="stable")
    user, t = user[order], t[order]
    # the query: a noun from a preferred category, sometimes a favourite brand, an adjective, a colour
    cat = pick_rows(np.cumsum(w.cat_pref[user], axis=1), rng.random(n))
    q_noun = cat * 3 + rng.integers(0, 3, n)
    q_brand = np.where(rng.random(n) < 0.35, w.fav_brands[user, rng.integers(0, 3, n)], -1)
    q_adj = np.where(rng.random(n) < 0.3, rng.integers(0, len(ADJECTIVES), n), -1)
    q_color = np.where(rng.random(n) < 0.3, rng.integers(0, len(COLORS), n), -1)
    text = np.array([" ".join(x for x in (BRANDS[b] if b >= 0 else "", ADJECTIVES[a] if a >= 0 else "",
                                           NOUNS[o], COLORS[c] if c >= 0 else "") if x)
                     for b, a, o, c in zip(q_brand, q_adj, q_noun, q_color)], dtype=object)
    n_terms = 1 + (q_brand >= 0) + (q_adj >= 0) + (q_color >= 0)
    shown = rng.integers(10, 21, n)
    for chunk, lo in enumerate(range(0, n, scale.search_block)):
        crng = rng_for(seed, 2, chunk + 1)
        q = np.arange(lo, min(lo + scale.search_block, n))
        r_q = np.repeat(q, 2 * shown[q])  # draw twice as many, keep the first `shown` distinct products
        r_user, r_month = user[r_q], month_of(t[r_q])
        kind = crng.choice(3, size=len(r_q), p=(0.15, 0.0, 0.85))  # 0 brand-matching, 2 noun-matching
        kind = np.where(crng.random(len(r_q)) < 0.4, 3, kind)  # 40% other popular products
        kind = np.where((kind == 0) & (q_brand[r_q] < 0), 2, kind)
        groups = np.where(kind == 0, np.maximum(q_brand[r_q], 0), q_noun[r_q])
        prod = samplers.draw(crng, kind, groups, r_month)
        pairs = pd.DataFrame({"q": r_q, "p": prod}).drop_duplicates()
        keep = np.zeros(len(r_q), dtype=bool)
        keep[pairs.index[pairs.groupby("q").cumcount().to_numpy() < shown[pairs["q"].to_numpy()]]] = True
        r_q, r_user, r_month, prod = r_q[keep], r_user[keep], r_month[keep], prod[keep]
        match = ((w.noun[prod] == q_noun[r_q]).astype(float) + (w.brand[prod] == q_brand[r_q])
                 + (w.adjective[prod] == q_adj[r_q]) + (w.color[prod] == q_color[r_q])) / n_terms[r_q]
        pop = w.logpop[r_month, prod]
        # an older ranker chose the shown order: partly match and popularity, mostly noise
        legacy = match + 0.3 * pop + crng.normal(0, 1.0, len(prod))
        position = _rank_within(r_q, -legacy)
        utility = (3.0 * match + 0.8 * (w.quality[prod] - 3.6) + 0.3 * pop + 0.25 * w.affinity(r_user, prod)
                   - 0.03 * (position - 1) + crng.logistic(0, 0.5, len(prod)))
        relevance = np.searchsorted(GRADE_THRESHOLDS, utility, side="right")
        yield pd.DataFrame({
            schemas.QUERY_ID: r_q + 1,
            schemas.PRODUCT_ID: prod + 1,
            schemas.TS: to_utc(t[r_q]),
            schemas.RELEVANCE: relevance.astype("int64"),
            schemas.SPLIT: np.where(t[r_q] < TEST_FROM, "train", "test"),
            "query": text[r_q],
            schemas.USER_ID: r_user + 1,
            "position": position,
        })


def _rank_within(groups: np.ndarray, score: np.ndarray) -> np.ndarray:
    """1-based rank of ``score`` (ascending) within each group; ``groups`` sorted."""
    order = np.lexsort((score, groups))
    g = groups[order]
    first = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
    counts = np.diff(np.r_[first, len(g)])
    ranks = np.arange(len(g)) - np.repeat(first, counts) + 1
    out = np.empty(len(g), dtype=np.int64)
    out[order] = ranks
    return out
