"""The registry of use cases: the one place that lists them.

A use case is one name and one module per layer (Kedro's pipeline registry, pytest's plugins)::

    data      pomona/data/<name>.py   canonical tables, synthetic generator, importers
    features  features/<name>.py      Feast definitions and the FeatureService <name>_v1
    models    models/<name>.py        candidate estimators and the scorer
    training  training/<name>.py      prepare / fit / evaluate / example, primary metric
    serving   serving/<name>.py       route, request spec, response, handle

plus its training config (``configs/<name>.yaml``). Generic code asks this registry for
:func:`use_cases` or :func:`get` and imports the layer module it needs
(:func:`layer_module`); it never spells a name.

A package outside this repository adds a use case without editing it: it declares a
:class:`UseCase` and either calls :func:`register` or exposes it as an entry point in the
``pomona.use_cases`` group (``returns = "my_pkg.usecase:RETURNS"``), which every process
(CLI, server, Bento, notebook) loads on first use.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from pomona.errors import PomonaError

LAYERS = ("data", "features", "models", "training", "serving")
ENTRY_POINT_GROUP = "pomona.use_cases"
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
_LAYER_PACKAGES = {"data": "pomona.data", "features": "features", "models": "models", "training": "training",
                   "serving": "serving"}


@dataclass(frozen=True)
class UseCase:
    """One use case: its name, its module per layer and its default training config.

    ``modules`` maps each of :data:`LAYERS` to an importable module name; ``config`` is the
    training YAML used when ``pomona train`` is given none.
    """

    name: str
    modules: Mapping[str, str]
    config: Path
    description: str = ""
    owned: tuple[str, ...] = field(default=())  # further modules private to this use case

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or not self.name.islower():
            raise PomonaError(f"use case name {self.name!r} must be a lower-case Python identifier")
        missing = [layer for layer in LAYERS if layer not in self.modules]
        if missing:
            raise PomonaError(f"use case {self.name!r} declares no module for {', '.join(missing)}")

    @property
    def feature_service(self) -> str:
        return feature_service_name(self.name)

    @property
    def registered_model(self) -> str:
        return registered_model_name(self.name)


def builtin(name: str, description: str = "") -> UseCase:
    """A use case laid out in this repository: ``<layer package>.<name>`` and ``configs/<name>.yaml``."""
    return UseCase(name, {layer: f"{pkg}.{name}" for layer, pkg in _LAYER_PACKAGES.items()},
                   CONFIG_DIR / f"{name}.yaml", description)


_BUILTIN = (
    builtin("recommendations", "top-k products per user from past interactions"),
    builtin("ranking", "order a query's products by relevance"),
    builtin("fraud", "the probability that a payment is fraudulent, with a decision"),
    builtin("forecasting", "units sold per series and step, with intervals"),
)
_REGISTRY: dict[str, UseCase] = {}
_LOCK = threading.RLock()
_LOADED = False
_ERROR: PomonaError | None = None  # a plugin that failed to load: every later call says so


def register(use_case: UseCase, *, replace: bool = False) -> UseCase:
    """Add ``use_case`` to the registry (a second one of the same name needs ``replace``)."""
    if not isinstance(use_case, UseCase):
        raise PomonaError(f"register() takes a UseCase, got {type(use_case).__name__}")
    _ensure_loaded()
    with _LOCK:
        if use_case.name in _REGISTRY and not replace and _REGISTRY[use_case.name] != use_case:
            raise PomonaError(f"a use case named {use_case.name!r} is already registered")
        _REGISTRY[use_case.name] = use_case
    return use_case


def unregister(name: str) -> None:
    """Remove a use case added by :func:`register` (tests, notebooks)."""
    _ensure_loaded()
    with _LOCK:
        _REGISTRY.pop(name, None)


def _ensure_loaded() -> None:
    """The built-in use cases, then those of installed packages' entry points (once)."""
    global _LOADED, _ERROR
    if _ERROR is not None:
        raise _ERROR
    if _LOADED:
        return
    with _LOCK:
        if _LOADED:
            return
        for uc in _BUILTIN:
            _REGISTRY[uc.name] = uc
        _LOADED = True  # a plugin that calls register() while it loads finds the built-ins
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                obj = ep.load()
            except Exception as exc:  # a broken plugin must say which one, in one line
                _ERROR = PomonaError(f"use case plugin {ep.name!r} ({ep.value}) failed to load: "
                                     f"{type(exc).__name__}: {exc}")
                raise _ERROR from None
            uc = obj() if callable(obj) else obj
            if not isinstance(uc, UseCase) or uc.name != ep.name:
                _ERROR = PomonaError(f"entry point {ep.name!r} ({ep.value}) must name a UseCase called {ep.name!r}")
                raise _ERROR
            _REGISTRY[uc.name] = uc


def use_cases() -> tuple[str, ...]:
    """The names of every registered use case, built-ins first."""
    _ensure_loaded()
    return tuple(_REGISTRY)


def get(name: str) -> UseCase:
    """The registered use case ``name``, else a one-line error listing the known ones."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise PomonaError(f"unknown use case {name!r}; expected one of: {', '.join(_REGISTRY)}") from None


def check_use_case(name: str) -> str:
    """Return ``name`` if it is a registered use case, else raise a one-line error."""
    return get(name).name


def layer_module(name: str, layer: str) -> ModuleType:
    """The module that implements ``layer`` for use case ``name`` (imported on first use)."""
    if layer not in LAYERS:
        raise PomonaError(f"unknown layer {layer!r}; expected one of: {', '.join(LAYERS)}")
    return importlib.import_module(get(name).modules[layer])


def feature_service_name(use_case: str, version: int = 1) -> str:
    """The versioned FeatureService that is the use case's contract, e.g. ``<name>_v1``."""
    return f"{check_use_case(use_case)}_v{version}"


def registered_model_name(use_case: str) -> str:
    """The MLflow registered model name, ``pomona-<name>``."""
    return f"pomona-{check_use_case(use_case)}"


def __getattr__(attr: str):
    if attr == "USE_CASES":  # the registered names at the time of asking (plugins included)
        return use_cases()
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = ["ENTRY_POINT_GROUP", "LAYERS", "UseCase", "builtin", "check_use_case", "feature_service_name", "get",
           "layer_module", "register", "registered_model_name", "unregister", "use_cases"]
