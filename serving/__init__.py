"""Online serving: each use case's champion behind HTTP, on live features from the online store.

Layout (the BentoML adapter sits at the edge, everything else is plain Python):

* :mod:`serving.runtime` - the :class:`~serving.runtime.Champion` holder (load, feature
  contract check, hot reload) and the guarded online-store access;
* :mod:`serving.schema` - request models derived from a FeatureService's request schema;
* :mod:`serving.recommendations`, :mod:`serving.ranking`, :mod:`serving.fraud`,
  :mod:`serving.forecasting` - pydantic request/response models and ``handle(request, champion, ws)``;
* :mod:`serving.fraud_state` - the exact incremental account state pushed after each transaction;
* :mod:`serving.http` - an ASGI guard: body size (413), non-JSON (400), error messages that name fields;
* :mod:`serving.service` - the BentoML services (one per use case, and ``All``);
* :mod:`serving.cli` - ``serve(use_case, port, ws)`` for ``pomona serve``.
"""

from serving.errors import RequestError, StoreUnavailable

__all__ = ["RequestError", "StoreUnavailable"]
