"""Canonical column names, and the checks that hold a use case's tables to its schema.

Data enters the platform only through the generator or an importer, both of which write
these tables; features, training, serving and scoring read them without column arguments.
Each use case's data module (``pomona/data/<use-case>.py``) declares its tables. Each table has required columns with fixed dtypes; any further column is an *extra*
feature column (numeric or categorical) recorded in the dataset's manifest.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from pomona.errors import PomonaError

# Column names shared across use cases.
TS = "event_timestamp"  # Feast's reserved event time column; tz-aware UTC everywhere
USER_ID = "user_id"
PRODUCT_ID = "product_id"
QUERY_ID = "query_id"
ACCOUNT_ID = "account_id"
MERCHANT_ID = "merchant_id"
TRANSACTION_ID = "transaction_id"
STORE_ID = "store_id"
SERIES_ID = "series_id"
SPLIT = "split"  # "train" / "test" where a dataset fixes its own evaluation period

# Labels.
WEIGHT = "weight"  # recommendations: implicit strength (1 view, 2 cart, 4 purchase) or rating
EVENT_TYPE = "event_type"
RELEVANCE = "relevance"  # graded 0..4
Y = "y"  # a series' value

Kind = Literal["int", "float", "str", "time", "label01"]


def _data(use_case: str):
    from pomona.usecases import layer_module

    return layer_module(use_case, "data")


def tables(use_case: str, *, optional: bool = True) -> dict[str, dict[str, Kind]]:
    """Table -> required column -> kind, as the use case's data module declares them
    (``TABLES``, the first being its main table, then ``OPTIONAL_TABLES``)."""
    mod = _data(use_case)
    return {**mod.TABLES, **(getattr(mod, "OPTIONAL_TABLES", {}) if optional else {})}


def main_table(use_case: str) -> str:
    return next(iter(_data(use_case).TABLES))


def non_feature_columns(use_case: str, table: str) -> frozenset[str]:
    """Columns a dataset may carry that are never model features: ids, display positions,
    free text (used only through request-time transforms), diagnostics derived from the label."""
    return getattr(_data(use_case), "NON_FEATURE_COLUMNS", {}).get(table, frozenset())


class TableInfo(BaseModel):
    """One table of a dataset: its file, row count and extra feature columns."""

    model_config = ConfigDict(extra="forbid")
    file: str
    rows: int
    numeric_features: list[str] = Field(default_factory=list)
    categorical_features: list[str] = Field(default_factory=list)
    text_columns: list[str] = Field(default_factory=list)


class Manifest(BaseModel):
    """What a ``data/<use-case>/`` folder holds and where it came from."""

    model_config = ConfigDict(extra="forbid")
    use_case: str
    dataset: str  # "synthetic" or an importer name such as "movielens-100k"
    source: dict[str, str] = Field(default_factory=dict)  # seed/scale or path/md5
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())
    tables: dict[str, TableInfo]
    # Time series: frequency ("D", "h", ...), season length and official horizon.
    frequency: str | None = None
    season_length: int | None = None
    horizon: int | None = None

    @property
    def synthetic(self) -> bool:
        return self.dataset == "synthetic"

    def write(self, folder: Path) -> None:
        (folder / "manifest.json").write_text(self.model_dump_json(indent=2))

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / "manifest.json"
        if not path.exists():
            raise PomonaError(
                f"no data for {folder.name!r} in {folder.parent.parent}; run "
                f"'pomona data generate' or 'pomona data import'"
            )
        return cls.model_validate(json.loads(path.read_text()))


def _coerce(df: pd.DataFrame, col: str, kind: Kind, where: str) -> pd.Series:
    s = df[col]
    try:
        if kind == "time":
            if pd.api.types.is_numeric_dtype(s):
                raise ValueError("numbers are not timestamps")
            out = pd.to_datetime(s, utc=True, errors="raise")
            if out.isna().any():
                raise ValueError("missing timestamps")
            return out.astype("datetime64[us, UTC]")
        if kind == "str":
            if s.isna().any():
                raise ValueError("missing values")
            return s.astype(str)
        num = pd.to_numeric(s, errors="raise")
        if num.isna().any() or not np.isfinite(num.to_numpy(dtype="float64")).all():
            raise ValueError("missing or infinite values")
        if kind == "float":
            return num.astype("float64")
        if (num != np.round(num)).any():
            raise ValueError("non-integer values")
        num = num.astype("int64")
        if kind == "label01" and not num.isin([0, 1]).all():
            raise ValueError("labels must be 0 or 1")
        return num
    except (ValueError, TypeError, OverflowError) as exc:
        bad = _first_bad(s, kind)
        hint = f" (first bad value {bad!r})" if bad is not None else ""
        raise PomonaError(f"{where}: column {col!r} must be {_KIND_WORDS[kind]}: {exc}{hint}") from None


_KIND_WORDS = {"int": "integers", "float": "numbers", "str": "text", "time": "timestamps",
               "label01": "0/1 labels"}


def _first_bad(s: pd.Series, kind: Kind):
    if kind == "time":
        parsed = pd.to_datetime(s, utc=True, errors="coerce")
    elif kind == "str":
        parsed = s.where(s.notna())
    else:
        parsed = pd.to_numeric(s, errors="coerce")
    bad = s[parsed.isna()]
    return None if bad.empty else bad.iloc[0]


def conform(df: pd.DataFrame, use_case: str, table: str, where: str) -> pd.DataFrame:
    """Check and coerce ``df`` to the canonical schema of ``use_case``/``table``.

    Raises :class:`PomonaError` naming the missing column or the first bad value.
    Columns beyond the required ones are kept as they are.
    """
    spec = tables(use_case)[table]
    if df.empty:
        raise PomonaError(f"{where}: no rows")
    missing = [c for c in spec if c not in df.columns]
    if missing:
        raise PomonaError(f"{where}: missing column(s) {', '.join(missing)} (have: {', '.join(map(str, df.columns[:12]))})")
    out = df.copy()
    for col, kind in spec.items():
        out[col] = _coerce(out, col, kind, where)
    return out


def feature_columns(df: pd.DataFrame, use_case: str, table: str) -> tuple[list[str], list[str]]:
    """Split the non-required columns of a table into (numeric, categorical) feature names."""
    spec = tables(use_case)[table]
    skip = non_feature_columns(use_case, table)
    numeric, categorical = [], []
    for col in df.columns:
        if col in spec or col in skip:
            continue
        (numeric if pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col])
         else categorical).append(col)
    return numeric, categorical
