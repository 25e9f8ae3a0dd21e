"""The synthetic marketplace: one coherent year (2025, UTC) of data for all four use cases.

The same users (user_id 1..N, also the fraud account_id) and products (product_id 1..M) appear
in every use case; latent taste, quality and drifting popularity drive browsing, search
relevance, spending and demand. See ``docs/data.md`` for every table and pattern.

Deterministic per seed: each use case and each chunk draws from its own child generator
(``SeedSequence(seed, spawn_key=(part, chunk))``), so a (scale, seed) pair always gives the
same tables.
"""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

from pomona.data import _demand, _fraud, _marketplace
from pomona.data._world import SCALES, build_world, get_scale, products_frame, users_frame
from pomona.data.writer import DatasetWriter
from pomona.errors import PomonaError
from pomona.schemas import Manifest
from pomona.usecases import USE_CASES
from pomona.workspace import Workspace

__all__ = ["generate", "SCALES"]


def generate(ws: Workspace, scale: str = "small", seed: int = 0, force: bool = False,
             progress: bool = True) -> dict[str, Manifest]:
    """Write the synthetic marketplace for every use case and return their manifests.

    Parameters
    ----------
    ws : the workspace to write into.
    scale : "small" (seconds, for tests), "medium" (~10x) or "large" (millions of rows, chunked).
    seed : the same seed gives identical tables.
    force : replace data already present; without it, any existing use case data is an error
        raised before anything is written.
    progress : show a tqdm bar (only on a terminal).
    """
    sc = get_scale(scale)
    seed = int(seed)
    ws.ensure_writable()
    if not force:
        taken = [uc for uc in USE_CASES if (ws.dataset_dir(uc) / "manifest.json").exists()]
        if taken:
            raise PomonaError(f"the workspace {ws.root} already holds data for {', '.join(taken)}; "
                              f"pass --force to replace it")
    source = {"scale": scale, "seed": str(seed)}
    n_user_blocks = -(-sc.users // sc.user_block)
    total = 2 * n_user_blocks + -(-sc.searches // sc.search_block) + -(-sc.stores // sc.store_block) + 2
    bar = tqdm(total=total, desc=f"pomona data generate ({scale})", unit="chunk",
               disable=not progress or not sys.stderr.isatty())
    out: dict[str, Manifest] = {}
    try:
        world = build_world(sc, seed)
        products = products_frame(world)
        samplers = _marketplace.Samplers(world)
        bar.update(1)
        with DatasetWriter(ws, "recommendations", "synthetic", source=source, force=force) as w:
            for chunk in _marketplace.interactions(world, sc, seed, samplers):
                w.append("interactions", chunk)
                bar.update(1)
            w.append("users", users_frame(world))
            w.append("products", products, text_columns=("title",))
        out["recommendations"] = _manifest(ws, "recommendations")
        with DatasetWriter(ws, "ranking", "synthetic", source=source, force=force) as w:
            for chunk in _marketplace.judgments(world, sc, seed, samplers):
                w.append("judgments", chunk, text_columns=("query",))
                bar.update(1)
            w.append("products", products, text_columns=("title",))
        out["ranking"] = _manifest(ws, "ranking")
        merchants = _fraud.Merchants(sc, seed)
        with DatasetWriter(ws, "fraud", "synthetic", source=source, force=force) as w:
            for chunk in _fraud.transactions(world, merchants, sc, seed, on_block=lambda: bar.update(1)):
                w.append("transactions", chunk)
            w.append("merchants", merchants.frame())
        out["fraud"] = _manifest(ws, "fraud")
        with DatasetWriter(ws, "forecasting", "synthetic", source=source, force=force, frequency="D",
                           season_length=7, horizon=_demand.HORIZON) as w:
            for chunk in _demand.demand(world, sc, seed):
                w.append("demand", chunk)
                bar.update(1)
        out["forecasting"] = _manifest(ws, "forecasting")
        bar.update(1)
    finally:
        bar.close()
    return out


def _manifest(ws: Workspace, use_case: str) -> Manifest:
    return Manifest.read(ws.dataset_dir(use_case))
