"""Typed infrastructure configuration: where the stores live (YAML under ``configs/``).

Definitions (entities, views, services) stay in code under ``features/``; this file only
says where the registry, online store, offline store and MLflow live, so switching to
Redis or a remote tracking server is a configuration change. Unknown keys are rejected.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from pomona.errors import PomonaError
from pomona.workspace import Workspace, workspace

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "workspace.yaml"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class FeastSettings(BaseModel):
    """Passed to Feast's own ``RepoConfig`` (which validates the store-specific blocks)."""

    model_config = ConfigDict(extra="forbid")
    project: str = "pomona"
    provider: str = "local"
    registry: dict[str, Any]
    online_store: dict[str, Any]
    offline_store: dict[str, Any] = {"type": "duckdb"}
    entity_key_serialization_version: int = 3


class MlflowSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tracking_uri: str
    artifact_location: str


class StoreConfig(BaseModel):
    """The whole infrastructure configuration."""

    model_config = ConfigDict(extra="forbid")
    feast: FeastSettings
    mlflow: MlflowSettings
    # The time online reads measure TTLs against when a request carries none (features/clock.py):
    # the wall clock, or the end of the latest materialization (a world replayed from the past).
    online_clock: Literal["now", "materialized"] = "now"


def _expand(text: str, env: dict[str, str], path: Path) -> str:
    def sub(match: re.Match) -> str:
        name = match.group(1)
        if name not in env:
            raise PomonaError(f"{path}: environment variable {name} is not set")
        return env[name]

    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return _VAR.sub(sub, "\n".join(lines))


M = TypeVar("M", bound=BaseModel)


def read_typed(path: Path, model: type[M], *, expand: Callable[[str], str] | None = None,
               update: Callable[[dict], dict] | None = None) -> M:
    """``path``'s YAML mapping validated as ``model`` (unknown keys rejected by the model); every
    failure is one :class:`PomonaError` line naming the file and the key. ``expand`` rewrites the
    text before parsing (``${VAR}``), ``update`` the mapping before validation (overrides)."""
    if not path.is_file():
        raise PomonaError(f"config file {str(path)!r} does not exist")
    try:
        text = path.read_text()
        raw = yaml.safe_load(expand(text) if expand else text) or {}
    except yaml.YAMLError as exc:
        raise PomonaError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(raw, dict):
        raise PomonaError(f"{path}: expected a mapping at the top level")
    try:
        return model.model_validate(update(raw) if update else raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise PomonaError(f"{path}: {where}: {first['msg'].removeprefix('Value error, ')}") from None


def load_config(path: str | os.PathLike[str] | None = None, ws: Workspace | None = None) -> StoreConfig:
    """Load ``path`` (else ``$POMONA_CONFIG``, else ``configs/workspace.yaml``).

    ``${VAR}`` is replaced from the environment, with ``POMONA_HOME`` set to the workspace.
    """
    ws = ws or workspace()
    path = Path(path or os.environ.get("POMONA_CONFIG") or DEFAULT_CONFIG)
    env = {**os.environ, "POMONA_HOME": str(ws.root)}
    return read_typed(path, StoreConfig, expand=lambda text: _expand(text, env, path))
