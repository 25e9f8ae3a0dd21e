"""Shared fixtures: every test runs in its own temporary ``$POMONA_HOME``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("POMONA_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh, empty workspace; ``$POMONA_HOME`` points at it for the test."""
    path = tmp_path / "pomona-home"
    monkeypatch.setenv("POMONA_HOME", str(path))
    return path


@pytest.fixture
def ws(home):
    from pomona.workspace import workspace

    return workspace(home)


def shared(relative: str) -> Path:
    """A path in ``../shared/data``; skips the test with a reason when it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real dataset not available at {path}")
    return path
