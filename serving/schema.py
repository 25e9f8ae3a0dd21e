"""Request models derived from a FeatureService's request schema (``features.request_schema``),
so an imported dataset's keys and request fields need no hand-written model."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Optional

from pydantic import BaseModel, Field, create_model

# Feast type names (as ``request_schema`` spells them) -> the JSON-facing Python type.
FEAST_TYPES: dict[str, Any] = {
    "Int64": int, "Int32": int, "Float64": float, "Float32": float, "String": str, "Bool": bool,
    "UnixTimestamp": datetime,
}
Finite = Annotated[float, Field(allow_inf_nan=False)]


def python_type(feast_type: str) -> Any:
    """The pydantic annotation for a Feast type name (floats must be finite; unknown: str)."""
    py = FEAST_TYPES.get(feast_type, str)
    return Finite if py is float else py


def derive_model(name: str, schema: dict[str, str], base: type[BaseModel] = BaseModel, *,
                 skip: tuple[str, ...] = (), required: tuple[str, ...] = ()) -> type[BaseModel]:
    """A pydantic model named ``name`` with ``base``'s fields plus one per ``schema`` entry
    (``{field: Feast type}``) that ``base`` lacks and ``skip`` does not name. Fields in
    ``required`` must be sent; the others are optional (``None``: the store's default)."""
    fields: dict[str, Any] = {}
    for col, feast_type in schema.items():
        if col in skip or col in base.model_fields:
            continue
        typ = python_type(feast_type)
        fields[col] = (typ, ...) if col in required else (Optional[typ], None)
    return create_model(name, __base__=base, **fields)
