"""Shared building blocks for the per-use-case feature definitions.

A features module (``features/<use-case>.py``, or a plugin's module found through
:func:`pomona.usecases.layer_module`) reads as a Feast repository plus the code that feeds it,
kept apart:

* ``derive(ctx) -> None`` computes every derived feature table from the canonical data and
  writes it with :meth:`Context.write` (pure pandas, no Feast objects);
* ``define(ctx) -> Definitions`` declares the Feast objects: entities, sources, feature views,
  on-demand views, push sources and the versioned FeatureService. It reads only the dataset
  manifest and the *schemas* of the data and derived parquet files (:meth:`Context.data_fields`,
  :meth:`Context.derived_fields`...), never the rows, so definitions are cheap to rebuild;
* ``entity_frame(ctx) -> DataFrame`` is the use case's training entities (keys,
  ``event_timestamp``, labels, request fields), read from its canonical table.

``features.store.definitions(use_case, write=True)`` runs ``derive`` into a staging folder,
then ``define`` against it, and swaps the folder in atomically; ``write=False`` runs
``define`` alone against the tables already in ``$POMONA_HOME/features/<use-case>/``.
Beside the tables, :meth:`Context.record_code` records a hash of the code that derived them
(:func:`code_hash`); the FeatureService carries it, so the fingerprint covers it.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import sys
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource, ValueType
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64, Int64, String

from pomona import schemas
from pomona.data.writer import load_table
from pomona.errors import PomonaError
from pomona.schemas import TS, Manifest
from pomona.usecases import feature_service_name
from pomona.workspace import Workspace

# Entities shared by the use cases (join keys are canonical column names).
user = Entity(name="user", join_keys=[schemas.USER_ID], value_type=ValueType.INT64, description="A marketplace user (shopper).")
product = Entity(name="product", join_keys=[schemas.PRODUCT_ID], value_type=ValueType.INT64, description="A listed product.")
query = Entity(name="query", join_keys=[schemas.QUERY_ID], value_type=ValueType.INT64, description="One search (query text + results shown).")
account = Entity(name="account", join_keys=[schemas.ACCOUNT_ID], value_type=ValueType.INT64, description="A payment account (a user's card).")
merchant = Entity(name="merchant", join_keys=[schemas.MERCHANT_ID], value_type=ValueType.INT64, description="A merchant taking payments.")
store = Entity(name="store", join_keys=[schemas.STORE_ID], value_type=ValueType.INT64,
               description="A physical or online store that sells products.")
series = Entity(name="series", join_keys=[schemas.SERIES_ID], value_type=ValueType.STRING, description="One demand series (store x product).")

# Parquet schema metadata key under which Context.write records each column's Feast type,
# as derived from the in-memory frame (so that define() gets exactly those types back).
FEAST_TYPES_KEY = b"pomona.feast_types"
# Beside the derived tables: the hash of the code that derived them; on the FeatureService: a tag.
CODE_FILE, CODE_TAG = "derived_by.json", "pomona.code"
_TYPES_BY_NAME = {str(t): t for t in (Int64, Float64, String)}


@dataclass
class Context:
    """What a features module's ``derive``, ``define`` and ``entity_frame`` get: the
    workspace, the dataset manifest and where derived tables are written and read.

    ``stage`` is the staging folder ``derive`` writes to and ``define`` reads schemas from
    (it replaces :attr:`out` once both succeed); ``None`` when the tables are already in
    place (``define`` then reads :attr:`out`, and ``derive`` cannot run).
    """

    ws: Workspace
    use_case: str
    manifest: Manifest
    stage: Path | None = None

    @property
    def out(self) -> Path:
        """The derived tables' final folder (what Feast file sources point at)."""
        return self.ws.features_dir(self.use_case)

    # ---------------------------------------------------------------- canonical data

    def table(self, name: str | None = None, columns: list[str] | None = None) -> pd.DataFrame:
        return load_table(self.ws, self.use_case, name, columns)

    def has(self, table: str) -> bool:
        return table in self.manifest.tables

    def data_path(self, table: str) -> str:
        return str(self.ws.dataset_dir(self.use_case) / self.manifest.tables[table].file)

    def data_columns(self, table: str) -> list[str]:
        """A canonical table's column names, from its parquet schema."""
        return pq.read_schema(self.data_path(table)).names

    def data_fields(self, table: str, columns: Iterable[str], **kwargs) -> list[Field]:
        """Feast fields of a canonical table's ``columns``, typed from its parquet schema as
        :func:`fields_for` types the table read with pandas (see :func:`parquet_fields`)."""
        return parquet_fields(self.data_path(table), columns, **kwargs)

    # ---------------------------------------------------------------- derived tables

    def write(self, name: str, df: pd.DataFrame) -> str:
        """Write a derived feature table to the stage (``derive`` only); return its final path.

        Each column's Feast type, as :func:`feast_type` derives it from ``df``, is recorded in
        the parquet schema's metadata, for ``define`` to read back.
        """
        if self.stage is None:
            raise PomonaError(f"derived tables of {self.use_case} are written through a staging folder "
                              "(features.store.definitions(..., write=True))")
        recorded = {str(c): str(feast_type(df[c])) for c in df.columns if c != TS}
        df = df.copy()
        df[TS] = pd.to_datetime(df[TS], utc=True).astype("datetime64[us, UTC]")
        table = pa.Table.from_pandas(df, preserve_index=False)  # what DataFrame.to_parquet writes
        metadata = {**(table.schema.metadata or {}), FEAST_TYPES_KEY: json.dumps(recorded).encode()}
        pq.write_table(table.replace_schema_metadata(metadata), self.stage / f"{name}.parquet", compression="snappy")
        return self.derived_path(name)

    def derived_path(self, name: str) -> str:
        """The final path of derived table ``name`` (a Feast file source's path)."""
        return str(self.out / f"{name}.parquet")

    def derived(self, name: str) -> bool:
        """Whether ``derive`` wrote table ``name`` (it may skip one the data cannot feed)."""
        return self._derived_file(name).exists()

    def derived_columns(self, name: str, exclude: Iterable[str] = (TS,)) -> list[str]:
        """Derived table ``name``'s columns in order, less ``exclude`` (keys, ``event_timestamp``)."""
        skip = set(exclude)
        return [c for c in pq.read_schema(self._existing(name)).names if c not in skip]

    def derived_fields(self, name: str, columns: Iterable[str]) -> list[Field]:
        """Feast fields of derived table ``name``'s ``columns``, as typed when it was written."""
        return parquet_fields(self._existing(name), columns)

    def record_code(self, module: types.ModuleType) -> str:
        """Record, beside the staged tables, :func:`code_hash` of ``module`` (the features
        module whose ``derive`` just wrote them); return it."""
        if self.stage is None:
            raise PomonaError(f"the code hash of {self.use_case} is recorded with its staged tables")
        digest = code_hash(module)
        (self.stage / CODE_FILE).write_text(json.dumps({"code": digest}))
        return digest

    def recorded_code(self) -> str | None:
        """The code hash recorded when the tables in place were derived (``None`` where they
        were derived before it was recorded)."""
        path = (self.stage if self.stage is not None else self.out) / CODE_FILE
        return json.loads(path.read_text())["code"] if path.exists() else None

    def _derived_file(self, name: str) -> Path:
        folder = self.stage if self.stage is not None else self.out
        if not folder.is_dir():
            raise PomonaError(f"feature tables for {self.use_case} are missing; run 'pomona features apply'")
        return folder / f"{name}.parquet"

    def _existing(self, name: str) -> Path:
        path = self._derived_file(name)
        if not path.exists():
            raise PomonaError(f"feature tables for {self.use_case} are missing; run 'pomona features apply'")
        return path


@dataclass
class Definitions:
    """Everything one use case registers with Feast, and how to get its training entities."""

    use_case: str
    objects: list[Any]
    service: FeatureService
    entity_frame: Callable[[], pd.DataFrame]  # keys, event_timestamp, labels, request fields

    @property
    def service_name(self) -> str:
        return self.service.name


def code_hash(module: types.ModuleType) -> str:
    """A hash of the code that derives a use case's tables: ``module``'s source and that of
    each module it draws on from the ``features`` package or its own top-level package (for
    the built-ins :mod:`features.base` and :mod:`features.tables`: windows, label delays and
    builders alike). Sources are compared as syntax trees without docstrings, so comments,
    docstrings and layout do not count; ``module``'s own name does not either. The same code
    gives the same hash in every process."""
    roots = {"features", module.__name__.split(".")[0]}
    used = {v if isinstance(v, types.ModuleType) else sys.modules.get(getattr(v, "__module__", None) or "")
            for v in vars(module).values() if isinstance(v, (types.ModuleType, type, types.FunctionType))}
    deps = sorted(m.__name__ for m in used if m is not None and m is not module and getattr(m, "__file__", None)
                  and m.__name__.split(".")[0] in roots and m.__name__ not in ("features.store", "features.feast_internals"))
    digest = hashlib.sha256(_code_tree(module).encode())
    for name in deps:
        digest.update(f"\n{name}\n{_code_tree(sys.modules[name])}".encode())
    return digest.hexdigest()[:16]


def _code_tree(module: types.ModuleType) -> str:
    tree = ast.parse(Path(module.__file__).read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def feast_type(series):
    """The Feast type of a pandas column (a Series or a dtype): integers and booleans are
    ``Int64``, other numbers ``Float64``, anything else ``String``."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_integer_dtype(series):
        return Int64
    if pd.api.types.is_numeric_dtype(series):
        return Float64
    return String


def fields_for(df: pd.DataFrame, columns: list[str]) -> list[Field]:
    return [Field(name=c, dtype=feast_type(df[c])) for c in columns]


def parquet_fields(path: str | Path, columns: Iterable[str], *, rename: Mapping[str, str] | None = None,
                   text: Iterable[str] = ()) -> list[Field]:
    """Feast fields of a parquet file's ``columns``, from its schema and footer alone.

    The types are those :func:`fields_for` gives the file's frame: the ones recorded by
    :meth:`Context.write` where present, else the dtypes ``pandas.read_parquet`` would give
    (which depend on the Arrow type, the pandas metadata and, for integer and boolean
    columns, whether there are nulls: read from the footer's statistics). ``text`` columns
    are served as text (``String``) whatever their type; ``rename`` maps column names to
    feature names.
    """
    columns = list(columns)
    rename = rename or {}
    text = set(text)
    pf = pq.ParquetFile(path)
    recorded = json.loads((pf.schema_arrow.metadata or {}).get(FEAST_TYPES_KEY, b"{}"))
    typed = {c: _TYPES_BY_NAME[recorded[c]] for c in columns if c in recorded}
    rest = [c for c in dict.fromkeys(columns) if c not in typed and c not in text]
    if rest:
        typed.update({c: feast_type(dtype) for c, dtype in _pandas_dtypes(pf, rest, Path(path).name).items()})
    return [Field(name=rename.get(c, c), dtype=String if c in text else typed[c]) for c in columns]


def _pandas_dtypes(pf: pq.ParquetFile, columns: list[str], label: str) -> dict[str, Any]:
    """The dtypes ``pandas.read_parquet(path, columns=columns)`` gives, without reading rows:
    pandas reads an empty (or, where the file has nulls, an all-null) table of the same
    schema and metadata."""
    schema = pf.schema_arrow
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise PomonaError(f"{label} has no column(s) {', '.join(missing)}")
    sub = pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)
    with_nulls = {c for c in columns if _may_hold_nulls(schema.field(c).type) and _has_nulls(pf, c)}
    out = {}
    for rows in (0, 1):
        wanted = [c for c in columns if (c in with_nulls) == bool(rows)]
        if not wanted:
            continue
        table = pa.Table.from_arrays([pa.nulls(rows, sub.field(c).type) for c in columns], schema=sub)
        buf = io.BytesIO()
        pq.write_table(table, buf)
        buf.seek(0)
        frame = pd.read_parquet(buf, columns=wanted)
        out.update({c: frame[c].dtype for c in wanted})
    return out


def _may_hold_nulls(arrow_type: pa.DataType) -> bool:
    """Types whose pandas dtype changes with nulls (int64 -> float64, bool -> object)."""
    return pa.types.is_integer(arrow_type) or pa.types.is_boolean(arrow_type)


def _has_nulls(pf: pq.ParquetFile, column: str) -> bool:
    """Whether ``column`` holds a null, from the row groups' statistics (read if absent)."""
    meta = pf.metadata
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        chunk = next((group.column(j) for j in range(group.num_columns)
                      if group.column(j).path_in_schema == column), None)
        stats = chunk.statistics if chunk is not None else None
        if stats is None or not stats.has_null_count:
            return pf.read(columns=[column]).column(column).null_count > 0
        if stats.null_count > 0:
            return True
    return False


def file_source(name: str, path: str) -> FileSource:
    return FileSource(name=f"{name}_source", path=path, timestamp_field=TS)


def view(name: str, entities: list[Entity], source, schema: list[Field], ttl: timedelta | None,
         description: str) -> FeatureView:
    """A feature view; ``ttl=None`` means values never expire."""
    return FeatureView(name=name, entities=entities, ttl=ttl or timedelta(0), schema=schema, source=source,
                       online=True, description=description, tags={"pomona": "1"})


def attribute_view(ctx: Context, table: str, entity: Entity, name: str, prefix: str = "") -> FeatureView | None:
    """A view of a table's extra columns (numeric and categorical), derived from the manifest
    and the table's schema.

    This is how an imported dataset's own columns become features without code. Categorical
    columns are served as text. ``prefix`` renames features (``country`` -> ``merchant_country``)
    where names would collide.
    """
    info = ctx.manifest.tables[table]
    columns = info.numeric_features + info.categorical_features
    if not columns:
        return None
    mapping = {c: f"{prefix}{c}" for c in columns if prefix and not c.startswith(prefix)}
    source = FileSource(name=f"{name}_source", path=ctx.data_path(table), timestamp_field=TS, field_mapping=mapping)
    schema = ctx.data_fields(table, columns, rename=mapping, text=info.categorical_features)
    return view(name, [entity], source, schema, None, f"{table} attributes of the {ctx.manifest.dataset} dataset")


def push_source(name: str, batch: FileSource) -> PushSource:
    return PushSource(name=name, batch_source=batch)


def service(use_case: str, features: list, description: str) -> FeatureService:
    return FeatureService(name=feature_service_name(use_case), features=features, description=description,
                          tags={"use_case": use_case})


def on_demand_view(udf, *, name: str, sources: list, schema: list[Field], description: str, mode: str = "pandas"):
    """An on-demand feature view over ``udf``, a top-level function of a features module.

    Feast's decorator re-labels the function it wraps as ``__main__`` (so it pickles by
    value); wrapping a fresh copy keeps the module's own function intact, so definitions
    can be built more than once per process.
    """
    fresh = types.FunctionType(udf.__code__, udf.__globals__, udf.__name__, udf.__defaults__, udf.__closure__)
    fresh.__doc__ = udf.__doc__
    return on_demand_feature_view(sources=sources, schema=schema, mode=mode, name=name,
                                  description=description)(fresh)
