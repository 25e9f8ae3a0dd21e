"""The SageMaker deployment configuration: ``configs/sagemaker.yaml`` plus command-line
overrides, validated (unknown keys rejected) before anything else runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pomona.config import CONFIG_DIR, read_typed

DEFAULT_PATH = CONFIG_DIR / "sagemaker.yaml"
ROOT = CONFIG_DIR.parent


class SageMakerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    region: str | None = None
    role_arn: str | None = None
    bucket: str | None = None
    prefix: str = Field("pomona", pattern=r"^[A-Za-z0-9!_.*'()/-]{1,200}$")
    instance_type: str = "ml.m5.large"
    instance_count: int = Field(1, ge=1, le=100)
    batch_instance_type: str = "ml.m5.large"
    batch_instance_count: int = Field(1, ge=1, le=100)
    endpoint_name: str | None = None
    image_uri: str | None = None
    store_config: str = "configs/production.yaml"
    environment: dict[str, str] = Field(default_factory=dict)
    wait_minutes: float = Field(30, gt=0, le=24 * 60)

    def resolved_region(self) -> str | None:
        return self.region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")

    def store_config_path(self) -> Path:
        path = Path(self.store_config)
        return path if path.is_absolute() else ROOT / path

    def endpoint(self, use_case: str) -> str:
        return self.endpoint_name or f"pomona-{use_case}"


def load_config(path: str | Path | None = None, **overrides: Any) -> SageMakerConfig:
    """``path`` (default ``configs/sagemaker.yaml``) with ``overrides`` (``None`` values: keep)."""
    path = Path(path) if path else DEFAULT_PATH
    return read_typed(path, SageMakerConfig, update=lambda raw: {**raw, **{k: v for k, v in overrides.items()
                                                                         if v is not None}})
