"""The Feast adapter: build the store from configuration, apply definitions, materialize,
read point-in-time training frames and online vectors through a FeatureService, and push
fresh rows to the online store.

It knows no use case by name: it asks :mod:`pomona.usecases` for the registered ones and
for each one's features module (``derive``/``define``/``entity_frame``, see
:mod:`features.base`). Calls below Feast's public API live in :mod:`features.feast_internals`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml
from feast import FeatureStore, FeatureView, OnDemandFeatureView, RepoConfig

from features import clock, feast_internals
from features.base import CODE_TAG, Context, Definitions
from pomona.config import load_config
from pomona.data.writer import read_manifest
from pomona.errors import PomonaError
from pomona.schemas import TS
from pomona.usecases import check_use_case, feature_service_name, layer_module, use_cases
from pomona.workspace import Workspace, staged_dir, workspace

for noisy in ("feast", "dask", "distributed"):
    logging.getLogger(noisy).setLevel(logging.ERROR)
warnings.filterwarnings("ignore", module="feast")
warnings.filterwarnings("ignore", message=".*(experimental|deprecated|Deprecat).*")
os.environ.setdefault("FEAST_USAGE", "False")


def feature_store(ws: Workspace | None = None) -> FeatureStore:
    """The workspace's FeatureStore, configured from the store YAML (cached per process)."""
    ws = (ws or workspace()).ensure_writable()
    return _store(ws.root, os.environ.get("POMONA_CONFIG", ""))


@lru_cache(maxsize=8)
def _store(root: Path, config_path: str) -> FeatureStore:
    ws = Workspace(root)
    cfg = load_config(config_path or None, ws).feast
    ws.feast_dir.mkdir(parents=True, exist_ok=True)
    settings = cfg.model_dump()
    # A feature_store.yaml beside the registry lets `feast ui` / `feast` commands open it too.
    (ws.feast_dir / "feature_store.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    try:
        config = RepoConfig(repo_path=ws.feast_dir, **settings)
        return FeatureStore(config=config)
    except Exception as exc:  # Feast raises pydantic/ValueError/custom errors for bad store config
        raise PomonaError(f"feature store configuration is invalid: {str(exc).splitlines()[0]}") from None


def reset_cache() -> None:
    _store.cache_clear()


def use_case_module(use_case: str):
    """The use case's features module (``derive``, ``define``, ``entity_frame``), from the registry."""
    return layer_module(check_use_case(use_case), "features")


def available_use_cases(ws: Workspace) -> list[str]:
    """The registered use cases that have a dataset in ``ws``."""
    return [uc for uc in use_cases() if (ws.dataset_dir(uc) / "manifest.json").exists()]


def definitions(use_case: str, ws: Workspace | None = None, *, write: bool = False) -> Definitions:
    """The use case's Feast objects for the workspace's dataset.

    With ``write=True`` the module's ``derive`` (re)computes the derived feature tables into
    a staging folder, ``define`` declares the objects against it, and the folder replaces the
    old tables atomically. With ``write=False`` only ``define`` runs, against the tables in
    place: it reads the manifest and parquet schemas, no rows, and recomputes nothing.
    """
    ws = ws or workspace()
    manifest = read_manifest(ws, use_case)
    module = use_case_module(use_case)
    if not write:
        ctx = Context(ws, use_case, manifest)
        return _tagged(module.define(ctx), ctx.recorded_code())
    with staged_dir(ws.features_dir(use_case)) as stage:
        ctx = Context(ws, use_case, manifest, stage)
        module.derive(ctx)
        code = ctx.record_code(module)
        defs = module.define(ctx)
    ctx.stage = None  # the staged tables are now in place
    return _tagged(defs, code)


def _tagged(defs: Definitions, code: str | None) -> Definitions:
    """The FeatureService with the hash of the code that derived its tables (see :func:`fingerprint`)."""
    if code:
        defs.service.tags[CODE_TAG] = code
    return defs


def entity_frame(use_case: str, ws: Workspace | None = None) -> pd.DataFrame:
    """The use case's training entities (keys, ``event_timestamp``, labels, request fields),
    read from its canonical table without rebuilding any feature table."""
    ws = ws or workspace()
    return use_case_module(use_case).entity_frame(Context(ws, use_case, read_manifest(ws, use_case)))


def apply(ws: Workspace | None = None, use_cases: list[str] | None = None) -> dict[str, Definitions]:
    """Build derived tables and register every use case's definitions; remove stale objects."""
    ws = ws or workspace()
    wanted = use_cases or available_use_cases(ws)
    if not wanted:
        raise PomonaError(f"no data in {ws.data}; run 'pomona data generate' or 'pomona data import' first")
    defs = {uc: definitions(uc, ws, write=True) for uc in wanted}
    store = feature_store(ws)
    objects = [o for d in defs.values() for o in d.objects]
    unique = {(type(o).__name__, o.name): o for o in objects}
    keep_services = {d.service_name for d in defs.values()}
    keep_views = {o.name for o in unique.values() if isinstance(o, (FeatureView, OnDemandFeatureView))}
    stale = []
    touched = {f"{uc}_" for uc in wanted}
    for fs in store.list_feature_services():
        if fs.name not in keep_services and any(fs.name.startswith(p) for p in touched):
            stale.append(fs)
    for fv in [*store.list_feature_views(), *store.list_on_demand_feature_views()]:
        if fv.name not in keep_views and any(fv.name.startswith(p) for p in touched):
            stale.append(fv)
    store.apply(list(unique.values()), objects_to_delete=stale, partial=False)
    return defs


def _ts_range(path: str) -> tuple[datetime, datetime] | None:
    col = pq.read_table(path, columns=[TS])[TS]
    if len(col) == 0:
        return None
    mm = pc.min_max(col)
    return mm["min"].as_py(), mm["max"].as_py()


def materialize(ws: Workspace | None = None, start: datetime | None = None, end: datetime | None = None,
                use_cases: list[str] | None = None) -> dict:
    """Load the latest feature values in ``[start, end]`` into the online store.

    Defaults cover all the data, per use case: ``start`` is its earliest feature timestamp
    and ``end`` its latest (plus a second), so the online store equals the offline store at
    the end of each use case's data. Each view starts at ``max(start, end - ttl)``: a value
    already expired at ``end`` is not served online either. ``skipped`` says why nothing was
    written for a use case (a FeatureService of request features only has no view to load);
    it is an error when no use case asked for was applied.
    """
    ws = ws or workspace()
    store = feature_store(ws)
    wanted = use_cases or available_use_cases(ws)
    services = {fs.name for fs in store.list_feature_services()}
    applied = [uc for uc in wanted if feature_service_name(uc) in services]
    if not applied or (use_cases and len(applied) < len(wanted)):
        missing = f" (not applied: {', '.join(sorted(set(wanted) - set(applied)))})" if applied else ""
        raise PomonaError(f"nothing to materialize; run 'pomona features apply' first{missing}")
    rows, done, spans = 0, [], {}
    skipped = {uc: "not applied; run 'pomona features apply'" for uc in wanted if uc not in applied}
    for uc in applied:
        views = [fv for fv in store.list_feature_views() if fv.name.startswith(f"{uc}_")]
        ranges = [r for r in (_ts_range(fv.batch_source.path) for fv in views) if r]
        if not ranges:
            skipped[uc] = (f"{feature_service_name(uc)} has no feature view to load (its features come with "
                           "the request)" if not views else "its feature tables have no rows")
            continue
        uc_start = start or min(r[0] for r in ranges)
        uc_end = end or (max(r[1] for r in ranges) + timedelta(seconds=1))
        if uc_start >= uc_end:
            raise PomonaError(f"--start {uc_start} is not before --end {uc_end}")
        for fv in views:
            lo = max(uc_start, uc_end - fv.ttl) if fv.ttl else uc_start
            ts = pq.read_table(fv.batch_source.path, columns=[TS]).column(TS)
            rows += int(pc.sum(pc.and_(pc.greater_equal(ts, lo), pc.less_equal(ts, uc_end))).as_py() or 0)
            store.materialize(start_date=lo, end_date=uc_end, feature_views=[fv.name])
            done.append(fv.name)
        spans[uc] = (uc_start, uc_end)
    return {"views": done, "spans": spans, "start": min((s for s, _ in spans.values()), default=None),
            "end": max((e for _, e in spans.values()), default=None), "source_rows": rows, "skipped": skipped}


def training_frame(use_case: str, entity_df: pd.DataFrame | None = None, ws: Workspace | None = None,
                   *, full_feature_names: bool = False) -> pd.DataFrame:
    """Point-in-time-correct features of the use case's FeatureService for ``entity_df``.

    ``entity_df`` has the entity keys, ``event_timestamp`` and any request fields; by
    default it is the use case's own labelled frame (every interaction, judgment,
    transaction or demand row). No feature value stamped after a row's time, or older
    than its view's TTL, reaches that row.
    """
    ws = ws or workspace()
    store = feature_store(ws)
    svc = _service(store, use_case)
    if entity_df is None:
        entity_df = entity_frame(use_case, ws)
    if TS not in entity_df.columns:
        raise PomonaError(f"entity frame needs an {TS!r} column")
    entity_df = entity_df.copy()
    entity_df[TS] = pd.to_datetime(entity_df[TS], utc=True).astype("datetime64[us, UTC]")
    job = store.get_historical_features(entity_df=entity_df, features=svc, full_feature_names=full_feature_names)
    frame = job.to_df()
    # Keep the entity columns and the service's features, once each: Feast also returns the
    # inputs of on-demand views, and request fields passed through appear twice.
    frame = frame.loc[:, ~frame.columns.duplicated()]
    wanted = list(dict.fromkeys([*entity_df.columns, *feature_names(svc, full_feature_names)]))
    return frame[[c for c in wanted if c in frame.columns]]


def online_features(use_case: str, entity_rows: list[dict] | pd.DataFrame, ws: Workspace | None = None,
                    *, full_feature_names: bool = False, at=None) -> pd.DataFrame:
    """Online feature vectors of the use case's FeatureService for ``entity_rows``, as the
    offline point-in-time join gives them at each row's read time: a value older than its
    view's TTL then is missing (Feast's own online read ignores TTLs, feast-dev/feast#6821).
    The read time is ``at`` (a time, or one per row; naive is UTC), by default the row's own
    time where the features module reads one from it (``entity_time(row)``), else the store's
    clock (:mod:`features.clock`: now, or the end of the latest materialization)."""
    store = feature_store(ws)
    svc = _service(store, use_case)
    rows = entity_rows.to_dict("records") if isinstance(entity_rows, pd.DataFrame) else list(entity_rows)
    needed = request_schema(use_case, ws)
    for i, row in enumerate(rows):
        missing = [k for k in needed if k not in row]
        if missing:
            raise PomonaError(f"entity row {i} lacks {', '.join(missing)} (needed by {svc.name}: "
                              f"{', '.join(needed)})")
    ws, config_path = ws or workspace(), os.environ.get("POMONA_CONFIG", "")
    times = clock.read_times(rows, at, getattr(use_case_module(use_case), "entity_time", None),
                             lambda: clock.store_now(store, svc, ws, config_path, _registry_stamp(store)))
    resp = feast_internals.read_online(store, svc, rows, full_feature_names, times)
    return pd.DataFrame(resp)  # to_dict + DataFrame: ~1.5 ms less than to_df per call


def request_schema(use_case: str, ws: Workspace | None = None) -> dict[str, str]:
    """What a caller must send to get the use case's features: entity join keys and the
    request fields of its on-demand views, with their Feast types (``Int64``, ``String``...).

    Serving derives its request model from this, so an imported dataset's keys and fields
    need no hand-written schema.
    """
    store = feature_store(ws)
    key = (id(store), use_case, _registry_stamp(store))
    if key not in _SCHEMAS:
        _SCHEMAS.clear() if len(_SCHEMAS) > 64 else None
        _SCHEMAS[key] = _request_schema(store, use_case)
    return _SCHEMAS[key]


_SCHEMAS: dict[tuple, dict[str, str]] = {}


def entity_row(use_case: str, row: dict, ws: Workspace | None = None) -> dict:
    """An online entity row from a canonical row (a row of the use case's main table): the
    keys and request fields its FeatureService asks for, as plain Python values. A use case
    whose request fields are derived from the row (a time in unix seconds, say) says how in
    its features module's ``entity_row(row)``."""
    derive = getattr(use_case_module(use_case), "entity_row", None)
    full = {**row, **(derive(row) if derive else {})}
    needed = request_schema(use_case, ws)
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in full.items() if k in needed}


def _registry_stamp(store: FeatureStore) -> float:
    """Changes when the registry file is rewritten (by this or another process); 0.0 for a
    remote registry. Reads the public ``config.registry.path``."""
    path = store.config.registry.path
    try:
        return os.stat(path).st_mtime_ns if "://" not in str(path) else 0.0
    except OSError:
        return 0.0


def push(push_source: str, row: dict, ws: Workspace | None = None) -> None:
    """Write one row to the online store of every feature view fed by ``push_source``.

    ``row`` holds the entity key(s), ``event_timestamp`` (a tz-aware UTC ``pd.Timestamp``)
    and the feature values. The result is what ``feature_store(ws).push(push_source,
    DataFrame([row]), to=PushMode.ONLINE)`` writes, without Feast's per-call registry work
    (see :mod:`features.feast_internals`; Feast's own push is used where it does more, e.g.
    a FeatureService that precomputes vectors). Raises what the online store raises.
    """
    store = feature_store(ws)
    feast_internals.push_row(store, push_source, row, _registry_stamp(store))


def _request_schema(store: FeatureStore, use_case: str) -> dict[str, str]:
    svc = _service(store, use_case)
    out: dict[str, str] = {}
    for proj in svc.feature_view_projections:
        try:
            fv = store.get_feature_view(proj.name, allow_registry_cache=True)
        except Exception:  # an on-demand view: its request sources and source views' keys
            odfv = store.get_on_demand_feature_view(proj.name, allow_registry_cache=True)
            for src in odfv.source_feature_view_projections.values():
                for col in store.get_feature_view(src.name, allow_registry_cache=True).entity_columns:
                    out.setdefault(col.name, str(col.dtype))
            for req in odfv.source_request_sources.values():
                for f in req.schema:
                    out.setdefault(f.name, str(f.dtype))
            continue
        for col in fv.entity_columns:
            out.setdefault(col.name, str(col.dtype))
    return out


def service_views(use_case: str, ws: Workspace | None = None) -> dict[str, list[str]]:
    """The use case's FeatureService as ``{view name: [feature names]}``, in order."""
    svc = _service(feature_store(ws), use_case)
    return {p.name: [f.name for f in p.features] for p in svc.feature_view_projections}


def join_keys(ws: Workspace | None = None) -> set[str]:
    """The join keys of every registered entity (the columns that identify an entity row)."""
    return {e.join_key for e in feature_store(ws).list_entities()}


def feature_names(svc, full: bool = False) -> list[str]:
    """The model-facing feature names of a FeatureService, in order."""
    return [f"{p.name_to_use()}__{f.name}" if full else f.name for p in svc.feature_view_projections
            for f in p.features]


def _service(store: FeatureStore, use_case: str):
    """The use case's FeatureService object, rebuilt only when the registry changes (Feast
    rebuilds it from protobuf on every lookup, which costs milliseconds)."""
    name = feature_service_name(use_case)
    key = (id(store), name, _registry_stamp(store))
    svc = _SERVICES.get(key)
    if svc is None:
        try:
            svc = store.get_feature_service(name, allow_cache=True)
        except Exception:
            raise PomonaError(f"feature service {name!r} is not registered; run 'pomona features apply'") from None
        if len(_SERVICES) > 64:
            _SERVICES.clear()
        _SERVICES[key] = svc
    return svc


_SERVICES: dict[tuple, object] = {}


def fingerprint(store: FeatureStore, use_case: str) -> str:
    """A short hash of the FeatureService's definitions (names, keys, types, TTLs, transforms)
    and of the code that derived its tables: the hash recorded when ``derive`` wrote the tables
    in place and carried by the service in the registry (:func:`definitions`), not one of the
    code importable now. It describes what the store serves, reads the same in every process
    that reads the registry (a Bento or SageMaker container has no derived tables), and a code
    edit changes it once ``apply`` recomputes the tables. An older registry has none."""
    svc = _service(store, use_case)
    parts = []
    for proj in svc.feature_view_projections:
        name = proj.name
        try:
            fv = store.get_feature_view(name)
            parts.append({"view": name, "keys": sorted(fv.join_keys), "ttl": fv.ttl.total_seconds() if fv.ttl else 0,
                          "features": [(f.name, str(f.dtype)) for f in proj.features]})
        except Exception:
            odfv = store.get_on_demand_feature_view(name)
            parts.append({"view": name, "features": [(f.name, str(f.dtype)) for f in proj.features],
                          "sources": sorted(odfv.source_feature_view_projections) + sorted(odfv.source_request_sources),
                          "udf": odfv.feature_transformation.udf_string if hasattr(odfv.feature_transformation,
                                                                                   "udf_string") else ""})
    code = {"code": svc.tags[CODE_TAG]} if CODE_TAG in svc.tags else {}
    blob = json.dumps({"service": svc.name, "parts": parts, **code}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def describe(ws: Workspace | None = None) -> list[dict]:
    """Every registered view and service with its features (for ``pomona features list``)."""
    store = feature_store(ws)
    out = []
    for fv in sorted(store.list_feature_views(), key=lambda v: v.name):
        intervals = getattr(fv, "materialization_intervals", None) or []
        out.append({"kind": "view", "name": fv.name, "entities": sorted(fv.join_keys),
                    "ttl": str(fv.ttl) if fv.ttl else "none", "features": [f.name for f in fv.features],
                    "materialized_until": max(end for _, end in intervals).isoformat() if intervals else None})
    for odfv in sorted(store.list_on_demand_feature_views(), key=lambda v: v.name):
        out.append({"kind": "on-demand view", "name": odfv.name, "features": [f.name for f in odfv.features],
                    "request_fields": sorted(f.name for r in odfv.source_request_sources.values() for f in r.schema)})
    for svc in sorted(store.list_feature_services(), key=lambda s: s.name):
        uc = svc.name.rsplit("_v", 1)[0]
        out.append({"kind": "service", "name": svc.name, "fingerprint": fingerprint(store, uc),
                    "features": [f"{p.name}:{f.name}" for p in svc.feature_view_projections for f in p.features]})
    return out
