"""Pomona's Feast feature store: one versioned FeatureService per use case.

Python API for notebooks and jobs::

    import features
    features.apply()                                  # build tables, register definitions
    features.materialize()                            # offline -> online store
    frame = features.training_frame("fraud")          # point-in-time-correct training frame
    vec = features.online_features("fraud", [{"account_id": 7, "merchant_id": 3, ...}])
"""

from features.store import (
    apply,
    definitions,
    describe,
    entity_frame,
    feature_store,
    fingerprint,
    materialize,
    online_features,
    request_schema,
    training_frame,
)

__all__ = ["apply", "definitions", "describe", "entity_frame", "feature_store", "fingerprint", "materialize",
           "online_features", "request_schema", "training_frame"]
