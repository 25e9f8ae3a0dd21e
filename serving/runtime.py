"""The champion a service answers with, and the guarded way it reads the online store.

:class:`Champion` loads ``models:/pomona-<use-case>@champion``, refuses a model whose
FeatureService or fingerprint differs from the live feature store, and polls the alias
(every ``POMONA_RELOAD_SECONDS``, default 10) to swap in a new version atomically: a request
takes :attr:`Champion.current` once and keeps that :class:`Loaded` for its whole life, so
requests in flight finish on the version they started with.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import features
from features.store import reset_cache
from models.scoring import ModelBundle
from pomona.errors import PomonaError
from pomona.usecases import check_use_case, feature_service_name, registered_model_name
from pomona.workspace import Workspace
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


def check_contract(bundle: ModelBundle, use_case: str, ws: Workspace, version: str) -> None:
    """Raise a one-line :class:`PomonaError` unless ``bundle`` was trained on the live
    FeatureService with the same definitions (fingerprint)."""
    expected = feature_service_name(use_case)
    if bundle.use_case != use_case:
        raise PomonaError(f"model {registered_model_name(use_case)} v{version} is a {bundle.use_case} model")
    if bundle.feature_service != expected:
        raise PomonaError(f"{use_case} champion v{version} was trained on FeatureService "
                          f"{bundle.feature_service!r}, but serving reads {expected!r}")
    live = features.fingerprint(features.feature_store(ws), use_case)
    if bundle.fingerprint != live:
        raise PomonaError(f"{use_case} champion v{version} was trained on {expected} with fingerprint "
                          f"{bundle.fingerprint}, but the feature store has {live}; re-apply the definitions "
                          f"it was trained on or train and promote a new model")


def load_version(use_case: str, ws: Workspace, version: str | None = None) -> Loaded:
    """Load the champion (or ``version``) of ``use_case`` and check its feature contract."""
    from training import pyfunc, registry, tracking  # MLflow: imported only where models load

    client = tracking.connect(ws)
    if version is None:
        mv = registry.champion_version(client, use_case)
        if mv is None:
            raise PomonaError(f"{use_case} has no champion in the registry; run 'pomona train {use_case}' first")
        version = str(mv.version)
    name = registered_model_name(use_case)
    try:
        bundle = pyfunc.load_bundle(f"models:/{name}/{version}")
    except Exception as exc:  # MLflow raises many kinds (missing artifacts, unpickling)
        raise PomonaError(f"cannot load {name} v{version}: {str(exc).splitlines()[0]}") from None
    check_contract(bundle, use_case, ws, version)
    prepare = getattr(importlib.import_module(f"serving.{use_case}"), "prepare", None)
    state = prepare(bundle, ws) if prepare else {}
    return Loaded(use_case, version, bundle, state)


def champion_alias_version(use_case: str, ws: Workspace) -> str | None:
    from training import registry, tracking

    mv = registry.champion_version(tracking.connect(ws), use_case)
    return str(mv.version) if mv is not None else None


class Champion:
    """The version of one use case that answers now; swapped atomically on alias moves."""

    def __init__(self, use_case: str, ws: Workspace, interval: float | None = None):
        self.use_case = check_use_case(use_case)
        self.ws = ws
        self.interval = interval if interval is not None else reload_seconds()
        self._current: Loaded | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

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

    def start(self) -> "Champion":
        """Poll the alias in a daemon thread every ``interval`` seconds."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._poll, name=f"reload-{self.use_case}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            self.refresh()


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
