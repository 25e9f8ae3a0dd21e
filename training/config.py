"""Typed training configs: one YAML per use case under ``configs/``, unknown keys rejected.

Candidate hyperparameters are checked against the estimator itself (``set_params``), so a
misspelt parameter fails at load time with its name, not at the end of a long job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pomona.config import read_typed
from pomona.errors import PomonaError
from pomona.usecases import check_use_case, get, layer_module


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Promotion(Strict):
    """The gate: champion and challenger are scored on the same newest period (the test part),
    and a paired bootstrap over its units (users, queries, series, transactions) gives a
    confidence interval of the challenger's relative improvement on the primary metric. The
    challenger is promoted only when the interval's lower bound exceeds ``margin`` (relative;
    0.01 = 1% better) and no guard metric worsens by more than its tolerance (absolute)."""

    margin: float = Field(0.01, ge=0.0, le=1.0)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    resamples: int = Field(1000, ge=100, le=100_000)
    guards: dict[str, float] = Field(default_factory=dict)


class Split(Strict):
    """How held-out data is chosen. ``auto`` follows the dataset's reference protocol."""

    kind: Literal["auto", "temporal", "per_user", "official", "rolling_origin"] = "auto"
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)  # temporal: last share of time; per_user: share per user
    test_start: str | None = None  # temporal: ISO date where the test period starts (overrides test_fraction)
    validation_fraction: float = Field(0.2, gt=0.0, lt=1.0)  # last share of the training period
    seed: int = 42  # per_user split; the random share of queries that validates ranking without times
    origins: int = Field(2, ge=2)  # rolling_origin: number of forecast origins
    horizon: int | None = Field(None, ge=1)  # forecasting: steps per origin (default: the dataset's)


class TrainConfig(Strict):
    """One use case's training job. A use case with settings of its own declares a subclass
    as ``Config`` in its training module (``training/<use-case>.py``); its YAML is read into it."""

    use_case: str
    split: Split = Split()
    # name -> hyperparameters; a name that is not an estimator says which with `estimator: <name>`
    candidates: dict[str, dict[str, Any]]
    exclude_features: list[str] = Field(default_factory=list)
    # Register the chosen candidate refit on every row up to the end of the test period
    # (true), or the evaluated twin fit before the test period (false).
    refit: bool = True
    promotion: Promotion = Promotion()

    @model_validator(mode="after")
    def _known(self) -> TrainConfig:
        from models.scoring import build

        check_use_case(self.use_case)
        for name, params in self.candidates.items():
            build(self.use_case, name, params)  # raises ValueError naming the candidate
        if not self.candidates:
            raise ValueError("no candidates")
        return self


def default_config_path(use_case: str) -> Path:
    """The use case's training YAML as its registry entry names it (``configs/<use-case>.yaml``)."""
    return get(use_case).config


def config_model(use_case: str) -> type[TrainConfig]:
    """The use case's config class: its training module's ``Config``, else :class:`TrainConfig`."""
    return getattr(layer_module(use_case, "training"), "Config", TrainConfig)


def load_train_config(use_case: str, path: str | Path | None = None) -> TrainConfig:
    """Read ``path`` (default ``configs/<use-case>.yaml``) into the use case's validated config."""
    path = Path(path) if path else default_config_path(use_case)

    def own_use_case(raw: dict) -> dict:
        raw.setdefault("use_case", use_case)
        if raw["use_case"] != use_case:
            raise PomonaError(f"{path}: use_case is {raw['use_case']!r}, expected {use_case!r}")
        return raw

    return read_typed(path, config_model(use_case), update=own_use_case)
