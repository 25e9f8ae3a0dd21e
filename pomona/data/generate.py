"""The synthetic marketplace: one coherent year (2025, UTC) of data for every use case.

The same users (user_id 1..N, also the payment account_id) and products (product_id 1..M)
appear in every use case; latent taste, quality and drifting popularity drive browsing,
search relevance, spending and demand. See ``docs/data.md`` for every table and pattern.

Each registered use case's data module writes its own tables from the shared world
(``generate(syn, writer)``); this module builds the world once, hands it to each in turn and
shows one progress bar. Deterministic per seed: each use case and each chunk draws from its
own child generator (``SeedSequence(seed, spawn_key=(part, chunk))``), so a (scale, seed) pair
always gives the same tables.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from pomona.data._world import SCALES, Scale, World, build_world, get_scale
from pomona.data.writer import DatasetWriter
from pomona.errors import PomonaError
from pomona.schemas import Manifest
from pomona.usecases import layer_module, use_cases
from pomona.workspace import Workspace

__all__ = ["generate", "SCALES", "Synthetic"]


@dataclass
class Synthetic:
    """What a data module's ``generate(syn, writer)`` draws from: the world, its scale and seed,
    objects shared between use cases (built once, by whoever asks first) and the progress tick."""

    world: World
    scale: Scale
    seed: int
    tick: Callable[[], Any] = lambda: None
    _shared: dict[str, Any] = field(default_factory=dict)

    def shared(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self._shared:
            self._shared[key] = make()
        return self._shared[key]


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
    modules = {uc: layer_module(uc, "data") for uc in use_cases()}
    modules = {uc: m for uc, m in modules.items() if hasattr(m, "generate")}  # imported-only use cases
    if not force:
        taken = [uc for uc in modules if (ws.dataset_dir(uc) / "manifest.json").exists()]
        if taken:
            raise PomonaError(f"the workspace {ws.root} already holds data for {', '.join(taken)}; "
                              f"pass --force to replace it")
    source = {"scale": scale, "seed": str(seed)}
    total = 2 + sum(m.chunks(sc) if hasattr(m, "chunks") else 1 for m in modules.values())
    bar = tqdm(total=total, desc=f"pomona data generate ({scale})", unit="chunk",
               disable=not progress or not sys.stderr.isatty())
    out: dict[str, Manifest] = {}
    try:
        syn = Synthetic(build_world(sc, seed), sc, seed, tick=lambda: bar.update(1))
        bar.update(1)
        for uc, mod in modules.items():
            with DatasetWriter(ws, uc, "synthetic", source=source, force=force,
                               **getattr(mod, "SYNTHETIC", {})) as w:
                mod.generate(syn, w)
            if not hasattr(mod, "chunks"):
                bar.update(1)
            out[uc] = Manifest.read(ws.dataset_dir(uc))
        bar.update(1)
    finally:
        bar.close()
    return out
