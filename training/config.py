"""Typed training configs: one YAML per use case under ``configs/``, unknown keys rejected.

Candidate hyperparameters are checked against the estimator itself (``set_params``), so a
misspelt parameter fails at load time with its name, not at the end of a long job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pomona.config import CONFIG_DIR, read_typed
from pomona.errors import PomonaError
from pomona.usecases import check_use_case


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Promotion(_Strict):
    """The gate: a challenger must beat the champion on the primary metric by ``margin``
    (relative; 0.01 = 1% better) and may not worsen a guard metric by more than its tolerance
    (absolute)."""

    margin: float = Field(0.0, ge=0.0, le=1.0)
    guards: dict[str, float] = Field(default_factory=dict)


class Split(_Strict):
    """How held-out data is chosen. ``auto`` follows the dataset's reference protocol."""

    kind: Literal["auto", "temporal", "per_user", "official", "rolling_origin"] = "auto"
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)  # temporal: last share of time; per_user: share per user
    test_start: str | None = None  # temporal: ISO date where the test period starts (overrides test_fraction)
    validation_fraction: float = Field(0.2, gt=0.0, lt=1.0)  # last share of the training period
    seed: int = 42  # per_user split
    origins: int = Field(2, ge=2)  # rolling_origin: number of forecast origins
    horizon: int | None = Field(None, ge=1)  # forecasting: steps per origin (default: the dataset's)


class Costs(_Strict):
    missed_fraud: float = Field(100.0, gt=0)
    false_alarm: float = Field(5.0, gt=0)
    review_fraction: float = Field(0.5, gt=0.0, le=1.0)  # review band starts at threshold * this


class TrainConfig(_Strict):
    """One use case's training job."""

    use_case: str
    split: Split = Split()
    candidates: dict[str, dict[str, Any]]
    exclude_features: list[str] = Field(default_factory=list)
    promotion: Promotion = Promotion()
    costs: Costs = Costs()  # fraud only
    k: int = Field(10, ge=1, le=1000)  # recommendations: list length
    # forecasting: the most steps the registered model forecasts (serving's limit); default and
    # minimum: the evaluation horizon. Conformal intervals are calibrated for every step up to it.
    max_horizon: int | None = Field(None, ge=1, le=10_000)

    @model_validator(mode="after")
    def _known(self) -> "TrainConfig":
        from training.candidates import CANDIDATES

        check_use_case(self.use_case)
        known = CANDIDATES[self.use_case]
        for name, params in self.candidates.items():
            if name not in known:
                raise ValueError(f"unknown candidate {name!r} for {self.use_case}; known: {', '.join(known)}")
            try:
                known[name]().set_params(**params)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"candidate {name!r}: {exc}") from None
        if not self.candidates:
            raise ValueError("no candidates")
        return self


def default_config_path(use_case: str) -> Path:
    return CONFIG_DIR / f"{check_use_case(use_case)}.yaml"


def load_train_config(use_case: str, path: str | Path | None = None) -> TrainConfig:
    """Read ``path`` (default ``configs/<use-case>.yaml``) into a validated :class:`TrainConfig`."""
    path = Path(path) if path else default_config_path(use_case)

    def own_use_case(raw: dict) -> dict:
        raw.setdefault("use_case", use_case)
        if raw["use_case"] != use_case:
            raise PomonaError(f"{path}: use_case is {raw['use_case']!r}, expected {use_case!r}")
        return raw

    return read_typed(path, TrainConfig, update=own_use_case)
