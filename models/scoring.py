"""The one scoring path: a fitted model bundle and a feature frame in, predictions out.

The MLflow pyfunc, the BentoML services, the SageMaker handler and batch scoring all call
:func:`score`, so a feature frame gets the same answer everywhere. The frame is what the
feature store returns for the use case's FeatureService (training frame rows or online
vectors); columns a model does not use are ignored. The use case's models module
(``models/<use-case>.py``) holds its scorer, ``score(bundle, frame, params)``, and its
candidate estimators (``CANDIDATES``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pomona.usecases import layer_module


@dataclass
class ModelBundle:
    """A fitted estimator with what scoring needs to know about it (pickled as one object)."""

    use_case: str
    estimator: Any
    feature_service: str
    fingerprint: str
    dataset: str
    params: dict[str, Any] = field(default_factory=dict)  # threshold, review_threshold, k, horizon...


def score(bundle: ModelBundle, frame: pd.DataFrame, **params) -> pd.DataFrame:
    """Predictions for ``frame``; the output columns depend on the use case (see its scorer)."""
    return layer_module(bundle.use_case, "models").score(bundle, frame, {**bundle.params, **params})


def candidates(use_case: str) -> dict[str, type]:
    """Candidate name (as configs spell it) -> estimator class, for ``use_case``."""
    return dict(layer_module(use_case, "models").CANDIDATES)


def build(use_case: str, name: str, params: dict[str, Any] | None = None):
    """The unfitted estimator a config's candidate entry describes: ``name`` is a key of
    ``CANDIDATES``, or any label when ``params`` name the estimator with ``estimator:`` (so one
    estimator can take part with several settings, e.g. two combinations). The other params are
    set on it; an unknown name or parameter raises ``ValueError``."""
    params = dict(params or {})
    kind = params.pop("estimator", name)
    known = candidates(use_case)
    if kind not in known:
        raise ValueError(f"unknown candidate {kind!r} for {use_case}; known: {', '.join(known)}")
    try:
        return known[kind]().set_params(**params)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"candidate {name!r}: {exc}") from None


def requirements(use_case: str) -> tuple[str, ...]:
    """Libraries a logged model of ``use_case`` needs beyond the common ones."""
    return tuple(getattr(layer_module(use_case, "models"), "REQUIREMENTS", ()))
