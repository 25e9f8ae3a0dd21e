"""Pomona's Feast feature store: one versioned FeatureService per use case.

Python API for notebooks and jobs::

    import features
    features.apply()                                  # build tables, register definitions
    features.materialize()                            # offline -> online store
    frame = features.training_frame("fraud")          # point-in-time-correct training frame
    vec = features.online_features("fraud", [{"account_id": 7, "merchant_id": 3, ...}])
    features.push("fraud_account_push", {"account_id": 7, "event_timestamp": ts, ...})  # one fresh row online

Each use case's features module (``features/<use-case>.py``, or a plugin's, found through
:mod:`pomona.usecases`) exposes ``derive(ctx)`` (computes its derived feature tables),
``define(ctx) -> Definitions`` (declares its Feast objects from the manifest and parquet
schemas) and ``entity_frame(ctx)`` (its training entities); see :mod:`features.base`.
"""

from features.store import (
    apply,
    definitions,
    describe,
    entity_frame,
    entity_row,
    feature_store,
    fingerprint,
    join_keys,
    materialize,
    online_features,
    push,
    request_schema,
    service_views,
    training_frame,
)

__all__ = ["apply", "definitions", "describe", "entity_frame", "entity_row", "feature_store", "fingerprint", "join_keys", "materialize",
           "online_features", "push", "request_schema", "service_views", "training_frame"]
