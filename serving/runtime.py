"""The champion a service answers with, and the guarded way it reads the online store.

:class:`Champion` loads ``models:/pomona-<use-case>@champion`` (through
``training.registry.load_model``, the one loader, which refuses a model whose FeatureService or
fingerprint differs from the live feature store), and polls the alias
(every ``POMONA_RELOAD_SECONDS``, default 10) to swap in a new version atomically: a request
takes :attr:`Champion.current` once and keeps that :class:`Loaded` for its whole life, so
requests in flight finish on the version they started with.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from features.store import reset_cache
from models.scoring import ModelBundle
from pomona.errors import PomonaError
from pomona.usecases import check_use_case, layer_module
from pomona.workspace import Workspace
from serving import packaged
from serving.errors import NotReady, RequestError, StoreUnavailable

log = logging.getLogger("pomona.serving")
DEFAULT_RELOAD_SECONDS = 10.0
T = TypeVar("T")


def reload_seconds() -> float:
    """The alias poll interval: ``$POMONA_RELOAD_SECONDS`` (seconds, > 0) or 10."""
    raw = os.environ.get("POMONA_RELOAD_SECONDS", "")
    try:
        value = float(raw) if raw else DEFAULT_RELOAD_SECONDS
    except ValueError:
        raise PomonaError(f"POMONA_RELOAD_SECONDS must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise PomonaError(f"POMONA_RELOAD_SECONDS must be positive, got {raw!r}")
    return value


@dataclass(frozen=True)
class Loaded:
    """One loaded model version; ``state`` is what the use case's ``prepare`` derived from it
    (e.g. the forecaster's future calendar values), built once per version."""

    use_case: str
    version: str
    bundle: ModelBundle
    state: dict[str, Any] = field(default_factory=dict)


def load_version(use_case: str, ws: Workspace, version: str | None = None) -> Loaded:
    """Load the champion (or ``version``) of ``use_case``, its feature contract checked, with the
    state its serving module's ``prepare`` derives. Inside a Bento or a SageMaker model (a
    packaged manifest is present, :mod:`serving.packaged`) the packaged model answers; else the
    MLflow registry."""
    from training import registry  # the one loader of registered models (MLflow stays in training)

    entry = packaged.entry(use_case)
    if entry is not None:
        model = registry.load_model(use_case, ws, entry["version"], path=packaged.model_dir(entry))
    else:
        model = registry.load_model(use_case, ws, version)
    prepare = getattr(layer_module(use_case, "serving"), "prepare", None)
    state = prepare(model.bundle, ws) if prepare else {}
    return Loaded(use_case, model.version, model.bundle, state)


def champion_alias_version(use_case: str, ws: Workspace) -> str | None:
    """The version the champion alias names now (a packaged model: always its own version, so a
    Bento or SageMaker model never hot-reloads: it is immutable)."""
    entry = packaged.entry(use_case)
    if entry is not None:
        return entry["version"]
    from training import registry, tracking

    mv = registry.champion_version(tracking.connect(ws), use_case)
    return str(mv.version) if mv is not None else None


class Champion:
    """The version of one use case that answers now; swapped atomically on alias moves."""

    def __init__(self, use_case: str, ws: Workspace, interval: float | None = None, loaded: Loaded | None = None):
        self.use_case = check_use_case(use_case)
        self.ws = ws
        self.interval = interval if interval is not None else reload_seconds()
        self._current: Loaded | None = loaded
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    @classmethod
    def fixed(cls, loaded: Loaded, ws: Workspace) -> Champion:
        """A champion that always answers with ``loaded`` (never started, so it never polls: a
        SageMaker model is immutable; deploy a new one to change it)."""
        return cls(loaded.use_case, ws, interval=1.0, loaded=loaded)

    @property
    def current(self) -> Loaded:
        loaded = self._current  # one read: a request keeps this object even if a swap follows
        if loaded is None:
            raise NotReady(f"the {self.use_case} champion is not loaded yet")
        return loaded

    @property
    def ready(self) -> bool:
        return self._current is not None

    def load(self) -> Loaded:
        """Load the champion now (raises :class:`PomonaError` with a one-line reason)."""
        self._current = load_version(self.use_case, self.ws)
        log.info("serving %s v%s", self.use_case, self._current.version)
        return self._current

    def refresh(self) -> bool:
        """Swap in the alias's version if it moved; keep the current one if the new one fails
        to load or breaks the feature contract. True when a swap happened."""
        try:
            version = champion_alias_version(self.use_case, self.ws)
            if version is None or (self._current is not None and version == self._current.version):
                return False
            new = load_version(self.use_case, self.ws, version)
        except Exception as exc:  # keep serving the loaded version; report why
            self.last_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.error("not reloading %s: %s", self.use_case, self.last_error)
            return False
        old, self._current, self.last_error = self._current, new, None
        log.info("%s champion reloaded: v%s -> v%s", self.use_case, old.version if old else None, new.version)
        return True

    def start(self) -> Champion:
        """Poll the alias in a daemon thread every ``interval`` seconds."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._poll, name=f"reload-{self.use_case}", daemon=True)
            self._thread.start()
        return self

    def _poll(self) -> None:
        while True:
            time.sleep(self.interval)
            self.refresh()


def single_threaded(*boosters) -> None:
    """Make each LightGBM booster predict on one thread (results unchanged).

    A request scores one to a few hundred rows: on the 2 shared cores serving runs on, OpenMP's
    thread team costs far more than it saves (a 100-row predict: 4-8 ms with the default team
    under load, ~0.1 ms on one thread), and concurrent requests already use the cores. Applied
    to the serving process's own copy of a model version, in a serving module's ``prepare``."""
    import lightgbm as lgb

    for booster in boosters:
        if isinstance(booster, lgb.Booster) and "predict" not in vars(booster):
            booster.predict = functools.partial(lgb.Booster.predict, booster, num_threads=1)


def online(call: Callable[[], T]) -> T:
    """Run an online-store read or write; a failure becomes :class:`StoreUnavailable` (503)
    and drops the cached store so that the next request reconnects (self-recovery)."""
    try:
        return call()
    except (RequestError, StoreUnavailable):
        raise
    except Exception as exc:  # sqlite3/redis/OS errors, a registry gone: the store cannot answer
        reset_cache()
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StoreUnavailable(f"{type(exc).__name__}: {reason}") from None
