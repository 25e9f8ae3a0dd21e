"""Online serving: each use case's champion behind HTTP, on live features from the online store.

Layout (the BentoML adapter sits at the edge, everything else is plain Python):

* :mod:`serving.runtime` - the :class:`~serving.runtime.Champion` holder (load through the one
  loader, hot reload) and the guarded online-store access;
* :mod:`serving.schema` - request models derived from a FeatureService's request schema;
* ``serving/<use-case>.py`` - one module per registered use case: ``ROUTE``, the request model,
  ``Response`` and ``handle(request, champion, ws)`` (and optionally ``handle_many``, ``prepare``,
  a ``BatchScorer`` and SageMaker hooks);
* :mod:`serving.http` - an ASGI guard: body size (413), non-JSON (400), error messages that name fields;
* :mod:`serving.service` - the BentoML services (one per use case, and ``All``);
* :mod:`serving.batch` - batch scoring; :mod:`serving.build` - Bento packaging;
  :mod:`serving.sagemaker` - SageMaker deployment;
* :mod:`serving.cli` - ``serve(use_case, port, ws)`` for ``pomona serve``.
"""

from serving.errors import RequestError, StoreUnavailable

ALL = "all"  # every registered use case on one service


def service_name(name: str) -> str:
    """The service class of a use case (or ``all``): ``my_case`` -> ``MyCase``."""
    return name.title().replace("_", "")


__all__ = ["ALL", "RequestError", "StoreUnavailable", "service_name"]
