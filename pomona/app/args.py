"""What the CLI's commands share: argument types (the registered use cases among them), the
workspace and JSON output."""

from __future__ import annotations

import json
from enum import Enum

import typer

from pomona.errors import PomonaError
from pomona.usecases import use_cases

try:
    REGISTERED = use_cases()
    REGISTRY_ERROR: PomonaError | None = None
except PomonaError as exc:  # a broken plugin: `main` reports it as one line
    REGISTERED, REGISTRY_ERROR = (), exc


class Scale(str, Enum):
    small = "small"
    medium = "medium"
    large = "large"


# The registered use cases (plugins included), as the choices of every USE_CASE argument.
UseCaseArg = Enum("UseCaseArg", {name: name for name in REGISTERED} or {"none": "none"}, type=str)
ALL = "all"


class Frequency(str, Enum):
    hourly = "hourly"
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"
    quarterly = "quarterly"
    yearly = "yearly"


def _ws():
    from pomona.workspace import workspace

    return workspace()


def _echo_json(obj) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))
