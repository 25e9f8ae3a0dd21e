"""Shared building blocks for the per-use-case feature definitions.

Each use case module (``features/<use-case>.py``) exposes ``build(ctx) -> Definitions``:
it writes its derived feature tables under ``$POMONA_HOME/features/<use-case>/`` and
returns the Feast objects (entities, sources, views, on-demand views, the versioned
FeatureService) plus how to build the use case's entity frame for training.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import pandas as pd
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


@dataclass
class Context:
    """What a use case's ``build`` gets: the workspace, the dataset manifest, an output dir."""

    ws: Workspace
    use_case: str
    manifest: Manifest
    stage: Path | None = None  # where derived tables are written; None: they must exist already

    @property
    def out(self) -> Path:
        return self.ws.features_dir(self.use_case)

    def table(self, name: str | None = None, columns: list[str] | None = None) -> pd.DataFrame:
        return load_table(self.ws, self.use_case, name, columns)

    def has(self, table: str) -> bool:
        return table in self.manifest.tables

    def data_path(self, table: str) -> str:
        return str(self.ws.dataset_dir(self.use_case) / self.manifest.tables[table].file)

    def write(self, name: str, df: pd.DataFrame) -> str:
        """Write a derived feature table to the stage; return its final path (a Feast file source)."""
        final = self.out / f"{name}.parquet"
        if self.stage is None:
            if not final.exists():
                raise PomonaError(f"feature tables for {self.use_case} are missing; run 'pomona features apply'")
            return str(final)
        df = df.copy()
        df[TS] = pd.to_datetime(df[TS], utc=True).astype("datetime64[us, UTC]")
        df.to_parquet(self.stage / f"{name}.parquet", index=False)
        return str(final)


@dataclass
class Definitions:
    """Everything one use case registers with Feast, and how to get its training entities."""

    use_case: str
    objects: list[Any]
    service: FeatureService
    entity_frame: Callable[[], pd.DataFrame]  # keys, event_timestamp, labels, request fields
    label_columns: list[str]
    request_fields: list[str] = field(default_factory=list)
    push_source: str | None = None

    @property
    def service_name(self) -> str:
        return self.service.name


def feast_type(series: pd.Series):
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_integer_dtype(series):
        return Int64
    if pd.api.types.is_numeric_dtype(series):
        return Float64
    return String


def fields_for(df: pd.DataFrame, columns: list[str]) -> list[Field]:
    return [Field(name=c, dtype=feast_type(df[c])) for c in columns]


def file_source(name: str, path: str) -> FileSource:
    return FileSource(name=f"{name}_source", path=path, timestamp_field=TS)


def view(name: str, entities: list[Entity], source, schema: list[Field], ttl: timedelta | None,
         description: str) -> FeatureView:
    """A feature view; ``ttl=None`` means values never expire."""
    return FeatureView(name=name, entities=entities, ttl=ttl or timedelta(0), schema=schema, source=source,
                       online=True, description=description, tags={"pomona": "1"})


def attribute_view(ctx: Context, table: str, entity: Entity, name: str, prefix: str = "") -> FeatureView | None:
    """A view of a table's extra columns (numeric and categorical), derived from the manifest.

    This is how an imported dataset's own columns become features without code. ``prefix``
    renames features (``country`` -> ``merchant_country``) where names would collide.
    """
    info = ctx.manifest.tables[table]
    columns = info.numeric_features + info.categorical_features
    if not columns:
        return None
    df = ctx.table(table, columns=columns)
    for col in info.categorical_features:  # stored as text in the online store
        df[col] = df[col].astype(str)
    mapping = {c: f"{prefix}{c}" for c in columns if prefix and not c.startswith(prefix)}
    source = FileSource(name=f"{name}_source", path=ctx.data_path(table), timestamp_field=TS, field_mapping=mapping)
    df = df.rename(columns=mapping)
    return view(name, [entity], source, fields_for(df, [mapping.get(c, c) for c in columns]), None,
                f"{table} attributes of the {ctx.manifest.dataset} dataset")


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
