"""When an online read happens: the time a value's age is measured against its view's TTL.

A request that carries its own time (a fraud transaction, through the features module's
``entity_time(row)``) is read at that time. Otherwise the read time is the store's clock,
``online_clock`` in the store configuration:

* ``now`` (the default, and production's): the wall clock. A value older than its view's TTL
  is missing online, exactly as the offline point-in-time join at that time would give it.
* ``materialized``: the end of the latest materialization of the use case's views, the time
  the online store represents. For a world replayed from the past (the synthetic marketplace
  ends in 2025, an imported dataset years ago), whose every value is older than its TTL by the
  wall clock, reads then equal the offline join at the end of the data. The embedded default
  and the Redis profile use it; a store that is materialized continuously should use ``now``.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path

import pandas as pd
from feast import FeatureStore

from pomona.config import load_config
from pomona.errors import PomonaError
from pomona.workspace import Workspace

_MATERIALIZED: dict[tuple, pd.Timestamp | None] = {}


@lru_cache(maxsize=8)
def _mode(root: Path, config_path: str) -> str:
    return load_config(config_path or None, Workspace(root)).online_clock


def store_now(store: FeatureStore, svc, ws: Workspace, config_path: str, stamp: float) -> pd.Timestamp:
    """The store's clock for ``svc``'s views (see the module docstring); ``stamp`` is the
    registry's change stamp, so a new materialization moves it."""
    if _mode(ws.root, config_path) == "now":
        return pd.Timestamp.now("UTC")
    key = (id(store), svc.name, stamp)
    if key not in _MATERIALIZED:
        views = {fv.name: fv for fv in store.list_feature_views(allow_cache=True)}
        ends = [end for proj in svc.feature_view_projections if proj.name in views
                for _, end in (getattr(views[proj.name], "materialization_intervals", None) or [])]
        if len(_MATERIALIZED) > 64:
            _MATERIALIZED.clear()
        _MATERIALIZED[key] = pd.Timestamp(max(ends)).tz_convert("UTC") if ends else None
    return _MATERIALIZED[key] if _MATERIALIZED[key] is not None else pd.Timestamp.now("UTC")


def read_times(rows: list[dict], at, entity_time, now) -> list[int]:
    """Each row's read time in unix microseconds: ``at`` (one time, or one per row; naive is
    UTC), else the row's own time (``entity_time(row)``), else ``now()``."""
    if at is None:
        own = [entity_time(row) if entity_time else None for row in rows]
        fallback = now() if any(t is None for t in own) else None  # the store's clock, read once
        at = [fallback if t is None else t for t in own]
    times = [at] * len(rows) if isinstance(at, (str, datetime)) else list(at)
    if len(times) != len(rows):
        raise PomonaError(f"at has {len(times)} times for {len(rows)} entity rows")
    return [(t.tz_localize("UTC") if t.tzinfo is None else t).value // 1_000 for t in map(pd.Timestamp, times)]
