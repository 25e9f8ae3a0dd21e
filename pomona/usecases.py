"""The registry of use cases: one name each, used verbatim everywhere."""

from __future__ import annotations

from typing import Literal, get_args

from pomona.errors import PomonaError

UseCase = Literal["recommendations", "ranking", "fraud", "forecasting"]
USE_CASES: tuple[str, ...] = get_args(UseCase)


def check_use_case(name: str) -> str:
    """Return ``name`` if it is a known use case, else raise a one-line error."""
    if name not in USE_CASES:
        raise PomonaError(f"unknown use case {name!r}; expected one of: {', '.join(USE_CASES)}")
    return name


def feature_service_name(use_case: str, version: int = 1) -> str:
    """The versioned FeatureService that is the use case's contract, e.g. ``fraud_v1``."""
    return f"{check_use_case(use_case)}_v{version}"


def registered_model_name(use_case: str) -> str:
    """The MLflow registered model name, e.g. ``pomona-fraud``."""
    return f"pomona-{check_use_case(use_case)}"
