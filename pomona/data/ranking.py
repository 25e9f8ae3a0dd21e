"""Search ranking data: graded judgments of (query, product) pairs with the dataset's own
train/test split, and optionally the product catalog. Synthetic rows come from the
marketplace's searches; LETOR-style svmlight files import with their per-pair features."""

from __future__ import annotations

from pomona.data import _marketplace
from pomona.data._world import products_frame
from pomona.schemas import PRODUCT_ID, QUERY_ID, RELEVANCE, SPLIT, TS, USER_ID

TABLES = {"judgments": {QUERY_ID: "int", PRODUCT_ID: "int", TS: "time", RELEVANCE: "int", SPLIT: "str"}}
OPTIONAL_TABLES = {"products": {PRODUCT_ID: "int", TS: "time"}}
# Display positions and the query text are used only through request-time transforms.
NON_FEATURE_COLUMNS = {"judgments": frozenset({USER_ID, "position", "query"})}
IMPORTERS = {"svmlight-ranking": "pomona.data.importers.svmlight:import_svmlight"}


def chunks(scale) -> int:
    return -(-scale.searches // scale.search_block)


def generate(syn, w) -> None:
    """Every search with its shown products and their grades, then the catalog."""
    samplers = syn.shared("samplers", lambda: _marketplace.Samplers(syn.world))
    for chunk in _marketplace.judgments(syn.world, syn.scale, syn.seed, samplers):
        w.append("judgments", chunk, text_columns=("query",))
        syn.tick()
    w.append("products", syn.shared("products", lambda: products_frame(syn.world)), text_columns=("title",))
