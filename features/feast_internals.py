"""The one place where Pomona uses Feast's private or internal APIs, written against Feast 0.67.0.

Everything else in Pomona goes through Feast's public API (``FeatureStore``, its
definitions, ``get_online_features``, ``push``...). The calls here reach below it, each for
a measured reason; when Feast is upgraded, re-check this module against the new version
(``pip show feast``) and change the version above:

* ``FeatureStore._fvs_for_push_source_or_raise(name, allow_cache)`` (private): the views a
  push source feeds. ``FeatureStore.push`` resolves them on every call by deserialising
  every view and service of the registry (with typeguard checks: ~40-100 ms a request under
  load) and, since it refreshes the registry cache, also voids Feast's cache of the next
  online read's request context. :func:`push_targets` resolves them once per registry version.
* ``Provider.online_write_batch(config, view, rows, progress)`` (the provider interface,
  not ``FeatureStore`` API) and the row format it takes, built with
  ``feast.type_map.python_values_to_proto_values`` and the ``EntityKey`` protobuf
  (internal modules): the write ``push(to=ONLINE)`` ends in (through ``ingest_df``, which
  builds the same rows through a pyarrow table: ~2 ms a push). :func:`rows_for_view`
  builds the one row from the Python values directly.
* ``SqliteOnlineStore._conn`` / ``_get_conn(config)`` (private): the online store's SQLite
  connection, switched to WAL mode with ``synchronous=NORMAL`` by :func:`fast_commits`: a
  commit then appends to the log instead of fsyncing the database and its rollback
  journal (~15-20 ms a push, which alone capped a worker near 60 pushes a second).
* ``feast.utils._prepare_entities_to_read_from_online_store``,
  ``OnlineStore._read_features_per_fv`` / ``_build_feature_types``,
  ``feast.utils._augment_response_with_on_demand_transforms`` and ``_drop_unneeded_columns``
  (private): the steps of ``OnlineStore.get_online_features``, which :func:`read_online` runs
  itself so that it can drop values older than their view's TTL *between* the read and the
  on-demand transforms: Feast's online read ignores TTLs (feast-dev/feast#6821), so a dormant
  key read stale values online but nulls offline, and a transform computed on them.

Where Feast's own path does more than the write (a FeatureService that precomputes vectors
from a pushed view, a vector-indexed view), :func:`push_row` falls back to
``FeatureStore.push``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import timedelta

import pandas as pd
from feast import FeatureStore

from pomona.schemas import TS

FEAST_VERSION = "0.67.0"  # the version this module was written and checked against

_PUSH_TARGETS: dict[tuple, tuple[list, bool]] = {}


def push_row(store: FeatureStore, push_source: str, row: dict, registry_version: Hashable) -> None:
    """Write ``row`` (entity key, ``event_timestamp`` as a tz-aware UTC Timestamp, feature
    values) to the online store of every view fed by ``push_source``: what
    ``store.push(push_source, DataFrame([row]), to=PushMode.ONLINE)`` writes, without its
    per-call registry work. ``registry_version`` changes when the registry does (it keys the
    cache of :func:`push_targets`)."""
    from feast.data_source import PushMode

    views, precomputed = push_targets(store, push_source, registry_version)
    if precomputed or not views:  # Feast's own path (it also recomputes precomputed vectors / raises)
        df = pd.DataFrame([row])
        df[TS] = df[TS].astype("datetime64[us, UTC]")
        store.push(push_source, df, to=PushMode.ONLINE)
        return
    provider = store.provider  # what the private FeatureStore._get_provider() returns
    fast_commits(provider)
    for fv in views:
        provider.online_write_batch(provider.repo_config, fv, rows_for_view(fv, row), progress=None)


def rows_for_view(fv, row: dict) -> list[tuple]:
    """``row`` as the one row ``online_write_batch`` takes for ``fv``: what ``ingest_df``
    builds through a pyarrow table (~2 ms a push), built from the Python values directly
    with Feast's own value conversion (entity key in the view's join-key order, event time as
    naive UTC, no created time)."""
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
    from feast.type_map import python_values_to_proto_values

    def proto(field):
        return python_values_to_proto_values([row.get(field.name)], field.dtype.to_value_type())[0]

    keys = list(fv.entity_columns)
    key = EntityKeyProto(join_keys=[k.name for k in keys], entity_values=[proto(k) for k in keys])
    when = pd.Timestamp(row[TS]).tz_convert("UTC").tz_localize(None).to_pydatetime()
    return [(key, {f.name: proto(f) for f in fv.features}, when, None)]


def fast_commits(provider) -> None:
    """On the SQLite online store, commit pushes in WAL mode with ``synchronous=NORMAL``: a
    commit then appends to the log instead of fsyncing the database and its rollback journal
    (~15-20 ms a push on this disk, which alone capped a worker near 60 pushing requests a
    second). Readers in other processes see each commit at once, as before; a commit survives
    a process crash, and only an OS crash or power loss can drop the latest pushes (which the
    serving layer's state, rebuilt from the offline data on restart, does not keep either).
    Other online stores are left as they are."""
    store = getattr(provider, "online_store", None)
    if type(store).__name__ != "SqliteOnlineStore" or getattr(store, "_pomona_wal", None) is store._conn:
        return
    conn = store._get_conn(provider.repo_config)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    store._pomona_wal = conn


def push_targets(store: FeatureStore, push_source: str, registry_version: Hashable) -> tuple[list, bool]:
    """The feature views fed by ``push_source``, and whether a FeatureService precomputes
    vectors from any of them, resolved once per registry version.

    ``FeatureStore.push`` finds these on every call by deserialising every view and service
    from the registry (with typeguard checks: ~40-100 ms a request under load) and, since it
    refreshes the registry cache, also voids Feast's cache of the next online read's request
    context. The write itself is the same: ``online_write_batch`` per view with the rows that
    ``ingest_df`` (what ``push(to=ONLINE)`` ends in) would build (:func:`rows_for_view`; a
    non-vector view, nothing to transform on write). A vector-indexed view yields no
    targets (the caller then takes Feast's own path)."""
    key = (id(store), push_source, registry_version)
    if key not in _PUSH_TARGETS:
        views = store._fvs_for_push_source_or_raise(push_source, True)
        names = {fv.name for fv in views}
        precomputed = any(getattr(svc, "precompute_online", False)
                          and any(p.name in names for p in svc.feature_view_projections)
                          for svc in store.registry.list_feature_services(store.project))
        vector = any(getattr(f, "vector_index", False) for fv in views for f in fv.features)
        if len(_PUSH_TARGETS) > 16:
            _PUSH_TARGETS.clear()
        _PUSH_TARGETS[key] = ([] if vector else list(views), precomputed)
    return _PUSH_TARGETS[key]


def read_online(store: FeatureStore, service, rows: list[dict], full_feature_names: bool,
                at_us: Sequence[int]) -> dict[str, list]:
    """``store.get_online_features(service, rows, full_feature_names).to_dict()``, except that a
    value older than its view's TTL at its row's read time (``at_us``: unix microseconds, one
    per row) is missing, as the offline point-in-time join has it: kept iff ``event_timestamp +
    ttl >= at`` (a TTL of 0 never expires). Expired values are nulled (status
    ``OUTSIDE_MAX_AGE``) before the on-demand transforms run, so a transform sees what it sees
    offline. An online store that replaces Feast's read path, or a FeatureService that
    precomputes vectors, is read through Feast's own ``get_online_features`` (no TTL)."""
    from feast import utils
    from feast.infra.online_stores.online_store import OnlineStore
    from feast.online_response import OnlineResponse

    online = getattr(store.provider, "online_store", None)
    if (getattr(service, "precompute_online", False) or online is None
            or type(online).get_online_features is not OnlineStore.get_online_features):
        return store.get_online_features(features=service, entity_rows=rows,
                                         full_feature_names=full_feature_names).to_dict()
    columns = {k: [row[k] for row in rows] for k in rows[0]}
    (join_key_values, grouped_refs, entity_map, odfvs, feature_refs, wanted,
     response) = utils._prepare_entities_to_read_from_online_store(
        registry=store.registry, project=store.project, features=service, entity_values=columns,
        full_feature_names=full_feature_names, native_entity_values=True)
    ttls = {(f"{fv.projection.name_to_use()}__{name}" if full_feature_names else name): fv.ttl
            for fv, names in grouped_refs for name in names if fv.ttl}
    first = len(response.results)  # the join keys and request fields come first
    online._read_features_per_fv(store.config, grouped_refs, join_key_values, entity_map, response,
                                 full_feature_names, False)
    expire(response, first, ttls, at_us)
    feature_types = online._build_feature_types(grouped_refs)
    if odfvs:
        utils._augment_response_with_on_demand_transforms(response, feature_refs, odfvs, full_feature_names,
                                                          feature_types=feature_types)
    utils._drop_unneeded_columns(response, wanted)
    return OnlineResponse(response, feature_types=feature_types).to_dict()


def expire(response, first: int, ttls: dict[str, timedelta], at_us: Sequence[int]) -> None:
    """Null, in a ``GetOnlineFeaturesResponse``, each present value of the feature vectors from
    index ``first`` on whose event time is older than ``at_us[row] - ttls[feature name]``."""
    from feast.protos.feast.serving.ServingService_pb2 import FieldStatus

    names = response.metadata.feature_names.val
    for k in range(first, len(response.results)):
        ttl = ttls.get(names[k])
        if ttl is None:
            continue
        ttl_us = ttl // timedelta(microseconds=1)
        vector = response.results[k]
        for i, ts in enumerate(vector.event_timestamps):
            if (vector.statuses[i] == FieldStatus.PRESENT
                    and ts.seconds * 1_000_000 + ts.nanos // 1_000 < at_us[i] - ttl_us):
                vector.values[i].Clear()
                vector.statuses[i] = FieldStatus.OUTSIDE_MAX_AGE


__all__ = ["FEAST_VERSION", "expire", "fast_commits", "push_row", "push_targets", "read_online", "rows_for_view"]
