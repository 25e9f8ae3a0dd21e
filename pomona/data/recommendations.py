"""Recommendations data: interactions of users with products (implicit weights or ratings),
with optional user and product attribute tables. Synthetic rows come from the marketplace's
browsing sessions; MovieLens 100K imports as it is published."""

from __future__ import annotations

from pomona.data import _marketplace
from pomona.data._world import products_frame, users_frame
from pomona.schemas import EVENT_TYPE, PRODUCT_ID, TS, USER_ID, WEIGHT

TABLES = {
    "interactions": {USER_ID: "int", PRODUCT_ID: "int", TS: "time", EVENT_TYPE: "str", WEIGHT: "float"},
    "users": {USER_ID: "int", TS: "time"},
    "products": {PRODUCT_ID: "int", TS: "time"},
}
OPTIONAL_TABLES: dict = {}
NON_FEATURE_COLUMNS = {"interactions": frozenset({"session_id"})}
IMPORTERS = {"movielens-100k": "pomona.data.importers.movielens:import_movielens"}


def chunks(scale) -> int:
    return -(-scale.users // scale.user_block)


def generate(syn, w) -> None:
    """Browsing sessions of every user, then the user and product tables."""
    samplers = syn.shared("samplers", lambda: _marketplace.Samplers(syn.world))
    for chunk in _marketplace.interactions(syn.world, syn.scale, syn.seed, samplers):
        w.append("interactions", chunk)
        syn.tick()
    w.append("users", users_frame(syn.world))
    w.append("products", syn.shared("products", lambda: products_frame(syn.world)), text_columns=("title",))
