"""Recommendations data: interactions of users with products (implicit weights or ratings),
with optional user and product attribute tables. Synthetic rows come from the marketplace's
browsing sessions, each with one intent; MovieLens 100K imports as it is published."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from pomona.data import _marketplace
from pomona.data._world import (
    HOUR_SHOPPING,
    YEAR,
    World,
    month_of,
    pick_rows,
    products_frame,
    rng_for,
    to_utc,
    users_frame,
    with_rhythm,
)
from pomona.schemas import EVENT_TYPE, PRODUCT_ID, TS, USER_ID, WEIGHT

TABLES = {
    "interactions": {USER_ID: "int", PRODUCT_ID: "int", TS: "time", EVENT_TYPE: "str", WEIGHT: "float"},
    "users": {USER_ID: "int", TS: "time"},
    "products": {PRODUCT_ID: "int", TS: "time"},
}
OPTIONAL_TABLES: dict = {}
NON_FEATURE_COLUMNS = {"interactions": frozenset({"session_id"})}
IMPORTERS = {"movielens-100k": "pomona.data.importers.movielens:import_movielens"}
# A session has one intent, and every view of it comes from that group: one of the user's
# favourite brands, a category drawn from the user's taste, or what is popular this month.
INTENT_P = (0.25, 0.50, 0.25)


def chunks(scale) -> int:
    return -(-scale.users // scale.user_block)


def generate(syn, w) -> None:
    """Browsing sessions of every user, then the user and product tables."""
    samplers = syn.shared("samplers", lambda: _marketplace.Samplers(syn.world))
    for chunk in interactions(syn.world, syn.scale, syn.seed, samplers):
        w.append("interactions", chunk)
        syn.tick()
    w.append("users", users_frame(syn.world))
    w.append("products", syn.shared("products", lambda: products_frame(syn.world)), text_columns=("title",))


def interactions(w: World, scale, seed: int, samplers: _marketplace.Samplers) -> Iterator[pd.DataFrame]:
    """Chunks of interactions, one per block of users (their own generator per chunk)."""
    next_session = 1
    rate = _marketplace.sessions_per_user(scale)
    for chunk, lo in enumerate(range(0, w.n_users, scale.user_block)):
        rng = rng_for(seed, 1, chunk)
        users = np.arange(lo, min(lo + scale.user_block, w.n_users))
        span = np.maximum(YEAR - 4 * 3600 - w.start[users], 0)
        n_sess = rng.poisson(w.activity[users] * rate * span / YEAR)
        s_user = np.repeat(users, n_sess)
        s_start = w.start[s_user] + (rng.random(len(s_user)) * np.repeat(span, n_sess)).astype(np.int64)
        s_start = with_rhythm(rng, s_start, w.start[s_user], HOUR_SHOPPING)
        s_start = np.minimum(s_start, YEAR - 4 * 3600)
        s_id = next_session + np.arange(len(s_user), dtype=np.int64)
        next_session += len(s_user)
        # the session's intent: kind 0 a favourite brand, 1 a category of the user's taste, 3 popular now
        kind = rng.choice(np.array([0, 1, 3]), size=len(s_user), p=INTENT_P)
        group = np.where(kind == 0, w.fav_brands[s_user, rng.integers(0, 3, len(s_user))],
                         pick_rows(np.cumsum(w.cat_pref[s_user], axis=1), rng.random(len(s_user))))
        # views: 1 + Poisson(4) per session, 10 s + Exp(60 s) apart, drawn from the intent's group
        n_views = 1 + rng.poisson(_marketplace.VIEWS_PER_SESSION - 1, len(s_user))
        v_sess = np.repeat(np.arange(len(s_user)), n_views)
        v_user = s_user[v_sess]
        cs = np.cumsum(10 + rng.exponential(60, len(v_sess)).astype(np.int64))
        first = np.cumsum(n_views) - n_views
        v_time = s_start[v_sess] + cs - np.repeat(cs[first], n_views)  # 0 for a session's first view
        v_prod = samplers.draw(rng, kind[v_sess], group[v_sess], month_of(v_time))
        yield _with_carts(rng, w, v_user, v_prod, v_time, v_sess, s_id)


def _with_carts(rng: np.random.Generator, w: World, v_user, v_prod, v_time, v_sess, s_id) -> pd.DataFrame:
    """The views, the add-to-cart rows some of them lead to and the purchases of some carts."""
    aff = w.affinity(v_user, v_prod)
    rel_price = np.log(w.price[v_prod] / np.median(w.price))
    p_cart = _marketplace._sigmoid(-3.0 + 0.6 * aff + 1.0 * (w.quality[v_prod] - 3.6) - 0.15 * rel_price)
    cart = rng.random(len(v_prod)) < p_cart
    p_buy = _marketplace._sigmoid(-0.4 + 0.8 * (w.quality[v_prod] - 3.6) + 0.3 * aff)
    buy = cart & (rng.random(len(v_prod)) < p_buy)
    c_time = v_time[cart] + rng.integers(5, 120, cart.sum())
    b_time = v_time[buy] + 120 + rng.integers(30, 900, buy.sum())
    parts = [(v_user, v_prod, v_time, v_sess, 0), (v_user[cart], v_prod[cart], c_time, v_sess[cart], 1),
             (v_user[buy], v_prod[buy], b_time, v_sess[buy], 2)]
    user, prod, t, sess = (np.concatenate([p[i] for p in parts]) for i in range(4))
    etype = np.concatenate([np.full(len(p[0]), p[4]) for p in parts])
    order = np.lexsort((etype, t, user))
    return pd.DataFrame({
        USER_ID: user[order] + 1,
        PRODUCT_ID: prod[order] + 1,
        TS: to_utc(t[order]),
        EVENT_TYPE: _marketplace.EVENT_TYPES[etype[order]],
        WEIGHT: _marketplace.EVENT_WEIGHTS[etype[order]],
        "session_id": s_id[sess[order]],
    })
