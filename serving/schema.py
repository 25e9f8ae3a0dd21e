"""Request models derived from a FeatureService's request schema (``features.request_schema``),
so an imported dataset's keys and request fields need no hand-written model.

Each endpoint module states only what is particular to its endpoint: a *base* model with the
fields every workspace's request has (``k``, ``product_ids``, ``horizon``...), the schema
fields it handles itself (``skip``), which schema fields must be sent, and tighter rules for
fields it knows (``amount >= 0``). :func:`request_model` adds one field per remaining schema
entry, typed from its Feast type with bounds that keep any JSON value from reaching the
model as something it cannot take (a 2**70 integer, a 1 MB string, NaN).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Optional

from pydantic import BaseModel, Field, create_model

from pomona.workspace import Workspace

Finite = Annotated[float, Field(allow_inf_nan=False)]
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
Text = Annotated[str, Field(max_length=1000)]
# Feast type names (as ``request_schema`` spells them) -> the JSON-facing Python type.
FEAST_TYPES: dict[str, Any] = {
    "Int64": Int64, "Int32": Annotated[int, Field(ge=-(2**31), le=2**31 - 1)], "Float64": Finite,
    "Float32": Finite, "String": Text, "Bool": bool, "UnixTimestamp": datetime,
}


def python_type(feast_type: str) -> Any:
    """The pydantic annotation for a Feast type name (unknown types: bounded text)."""
    return FEAST_TYPES.get(feast_type, Text)


def derive_model(name: str, schema: dict[str, str], base: type[BaseModel] = BaseModel, *,
                 skip: tuple[str, ...] = (), required: tuple[str, ...] = (),
                 rules: dict[str, Any] | None = None) -> type[BaseModel]:
    """A pydantic model named ``name`` with ``base``'s fields plus one per ``schema`` entry
    (``{field: Feast type}``) that ``base`` lacks and ``skip`` does not name. ``rules`` gives
    a field a tighter annotation than its Feast type's. Fields in ``required`` must be sent;
    the others are optional (``None``: the store's default, a missing value for the model)."""
    rules = rules or {}
    fields: dict[str, Any] = {}
    for col, feast_type in schema.items():
        if col in skip or col in base.model_fields:
            continue
        typ = rules.get(col, python_type(feast_type))
        fields[col] = (typ, ...) if col in required else (Optional[typ], None)
    return create_model(name, __base__=base, **fields)


@dataclass(frozen=True, eq=False)  # hashed by identity: one spec per endpoint
class RequestSpec:
    """What an endpoint adds to the derivation: ``base`` fields, the schema fields it handles
    itself (``skip``), ``required(schema)`` (the fields a request must send), ``rules`` and the
    schema of the synthetic marketplace (``fallback``), used when no feature registry exists yet
    (importing the service to render its OpenAPI document before ``pomona features apply``)."""

    use_case: str
    name: str
    base: type[BaseModel]
    fallback: dict[str, str]
    skip: tuple[str, ...] = ()
    required: Callable[[dict[str, str]], tuple[str, ...]] = lambda schema: ()
    rules: dict[str, Any] = field(default_factory=dict)
    extend: Callable[[type[BaseModel], dict[str, str], Workspace], type[BaseModel]] | None = None


def request_model(spec: RequestSpec, ws: Workspace) -> type[BaseModel]:
    """The request model of ``spec``'s endpoint for the workspace's dataset."""
    return _request_model(spec, str(ws.root), os.environ.get("POMONA_CONFIG", ""))


@lru_cache(maxsize=32)
def _request_model(spec: RequestSpec, root: str, config: str) -> type[BaseModel]:
    from pathlib import Path

    import features  # Feast: imported where a model is derived

    ws = Workspace(Path(root))
    try:
        schema = features.request_schema(spec.use_case, ws)
    except Exception:  # no registry yet: the synthetic marketplace's schema
        schema = dict(spec.fallback)
    model = derive_model(spec.name, schema, spec.base, skip=spec.skip, required=spec.required(schema),
                         rules=spec.rules)
    return spec.extend(model, schema, ws) if spec.extend else model
