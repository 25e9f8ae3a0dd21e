"""The workspace: every piece of state lives under one folder, ``$POMONA_HOME``.

Layout::

    $POMONA_HOME/
      data/<use-case>/        canonical tables (parquet) and manifest.json of one dataset
      features/<use-case>/    feature tables derived from the data (Feast file sources)
      feast/                  registry.db, online.db and a generated feature_store.yaml
      mlflow.db, mlartifacts/ MLflow tracking store and artifacts

Writes that replace a folder go through :func:`staged_dir`, so a failure leaves the
previous content untouched and no half-written folder behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pomona.errors import PomonaError

DEFAULT_HOME = ".pomona"


@dataclass(frozen=True)
class Workspace:
    """Paths of one workspace. Build it with :func:`workspace`."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    def dataset_dir(self, use_case: str) -> Path:
        return self.data / use_case

    def features_dir(self, use_case: str) -> Path:
        return self.root / "features" / use_case

    @property
    def feast_dir(self) -> Path:
        return self.root / "feast"

    @property
    def mlflow_uri(self) -> str:
        return f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def artifacts_dir(self) -> Path:
        return self.root / "mlartifacts"

    def ensure_writable(self) -> Workspace:
        """Create the root if needed and prove it is writable, or raise one clear error."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-probe-{uuid.uuid4().hex}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise PomonaError(
                f"POMONA_HOME {str(self.root)!r} is not writable ({exc.strerror or exc})"
            ) from None
        return self


def workspace(home: str | os.PathLike[str] | None = None) -> Workspace:
    """The workspace at ``home``, else ``$POMONA_HOME``, else ``./.pomona`` (absolute)."""
    raw = home if home is not None else os.environ.get("POMONA_HOME") or DEFAULT_HOME
    return Workspace(Path(raw).expanduser().resolve())


@contextlib.contextmanager
def staged_dir(target: Path) -> Iterator[Path]:
    """Yield a fresh staging folder beside ``target``; on success it replaces ``target``.

    On any exception the staging folder is removed and ``target`` is left as it was.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = target.parent / f".{target.name}.staging-{uuid.uuid4().hex[:8]}"
    stage.mkdir()
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    if target.exists():
        target.rename(old)
    stage.rename(target)
    shutil.rmtree(old, ignore_errors=True)
