"""The BentoML services: one per use case and ``All`` (the four on one port).

Thin by design: each endpoint hands its typed request to the use case's ``handle`` and maps
the two expected failures to HTTP (a :class:`RequestError` to its 4xx, an unreachable store
or a champion still loading to 503). BentoML itself answers ``/livez``, ``/readyz`` (through
``__is_ready__``: ready once every champion and the feature store are loaded) and
``/metrics`` (``bentoml_service_request_duration_seconds`` and
``bentoml_service_request_total`` per endpoint and HTTP status, so latency and error counts
per endpoint). :class:`serving.http.RequestGuard` answers oversized (413) and non-JSON (400)
bodies before BentoML parses them, and makes validation messages name the field.

Adaptive batching: ``/batch/rank`` and ``/batch/score_transaction`` are the same endpoints as
BentoML batchable APIs (``{"requests": [input, ...]}`` -> ``[output, ...]``): the server merges
the inputs of concurrent requests into one call of ``handle_many`` (one online read, one model
call). Under 16 concurrent connections they answer 1.6x (rank) and 2.8x (score_transaction) the
requests a second of the single-input endpoints; with one connection at a time they are slower
(the dispatcher's overhead), so both are served and the single-input contract stays as it is
(``docs/serving_benchmarks.md``). Recommend and forecast have no batched variant (not measured
to help: no per-call store read to share).
"""

from __future__ import annotations

import logging
import threading
from typing import Annotated

import bentoml
from bentoml.exceptions import InvalidArgument, ServiceUnavailable
from pydantic import Field
from starlette.responses import JSONResponse

import features
from pomona.workspace import workspace
from serving import forecasting, fraud, ranking, recommendations, runtime
from serving.errors import NotReady, RequestError, StoreUnavailable
from serving.http import RequestGuard

log = logging.getLogger("pomona.serving")
WS = workspace()
# use case -> (route, handler module, request model, response model)
ENDPOINTS = {
    "recommendations": ("recommend", recommendations, recommendations.request_model(WS),
                        recommendations.RecommendResponse),
    "ranking": ("rank", ranking, ranking.request_model(WS), ranking.RankResponse),
    "fraud": ("score_transaction", fraud, fraud.request_model(WS), fraud.FraudResponse),
    "forecasting": ("forecast", forecasting, forecasting.request_model(WS), forecasting.ForecastResponse),
}
SERVICE_CONFIG = {"workers": 1, "traffic": {"timeout": 30}}
BATCHED = ("ranking", "fraud")  # use cases with an adaptive-batching endpoint, /batch/<route>
MAX_BATCH_SIZE = 32
MAX_BATCH_LATENCY_MS = 10_000  # BentoML answers 503 "overloaded" when it expects a batch to wait longer


class _Pomona:
    """Loads the champions in the background (``/livez`` answers at once, ``/readyz`` when
    loaded) and keeps polling their aliases; a failed first load is retried by the poller."""

    use_cases: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.ws = WS
        self.champions = {uc: runtime.Champion(uc, self.ws) for uc in self.use_cases}
        self.store_loaded = False
        threading.Thread(target=self._load, name="load-champions", daemon=True).start()

    def _load(self) -> None:
        try:
            features.feature_store(self.ws)
            self.store_loaded = True
        except Exception as exc:  # reported by /readyz staying 503; logged here
            log.error("feature store: %s", exc)
        for ch in self.champions.values():
            try:
                ch.load()
            except Exception as exc:
                log.error("%s", exc)
            ch.start()

    def __is_ready__(self) -> bool:
        return self.store_loaded and all(ch.ready for ch in self.champions.values())

    def _call(self, use_case: str, request):
        try:
            return ENDPOINTS[use_case][1].handle(request, self.champions[use_case], self.ws)
        except RequestError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        except (StoreUnavailable, NotReady) as exc:
            return JSONResponse(exc.body(), status_code=503)


def _endpoint(use_case: str):
    name, _, request_model, response_model = ENDPOINTS[use_case]

    def api(self, request, /):
        return self._call(use_case, request)

    api.__name__ = api.__qualname__ = name
    api.__annotations__ = {"request": request_model, "return": response_model}
    api.__doc__ = ENDPOINTS[use_case][1].__doc__
    return bentoml.api(route=f"/{name}")(api)


def _batched_endpoint(use_case: str):
    name, module, request_model, response_model = ENDPOINTS[use_case]

    def api(self, requests):
        try:
            return module.handle_many(requests, self.champions[use_case], self.ws)
        except RequestError as exc:
            raise InvalidArgument(exc.body()["error"]) from None
        except (StoreUnavailable, NotReady) as exc:
            raise ServiceUnavailable(str(exc)) from None

    api.__name__ = api.__qualname__ = f"{name}_batch"
    api.__annotations__ = {"requests": Annotated[list[request_model], Field(min_length=1, max_length=MAX_BATCH_SIZE)],
                           "return": list[response_model]}
    api.__doc__ = f"Adaptive batching: a list of /{name} inputs, answered in order."
    return bentoml.api(route=f"/batch/{name}", batchable=True, max_batch_size=MAX_BATCH_SIZE,
                       max_latency_ms=MAX_BATCH_LATENCY_MS)(api)


def routes(use_cases: tuple[str, ...]) -> tuple[str, ...]:
    """The POST routes of a service serving ``use_cases``."""
    return tuple(f"/{ENDPOINTS[uc][0]}" for uc in use_cases) + tuple(
        f"/batch/{ENDPOINTS[uc][0]}" for uc in use_cases if uc in BATCHED)


def _service(class_name: str, use_cases: tuple[str, ...]):
    apis = {ENDPOINTS[uc][0]: _endpoint(uc) for uc in use_cases}
    apis.update({f"{ENDPOINTS[uc][0]}_batch": _batched_endpoint(uc) for uc in use_cases if uc in BATCHED})
    cls = type(class_name, (_Pomona,), {"use_cases": use_cases, "__module__": __name__, **apis})
    svc = bentoml.service(name=f"pomona-{class_name.lower()}", **SERVICE_CONFIG)(cls)
    svc.add_asgi_middleware(RequestGuard, routes=routes(use_cases))
    return svc


Recommendations = _service("Recommendations", ("recommendations",))
Ranking = _service("Ranking", ("ranking",))
Fraud = _service("Fraud", ("fraud",))
Forecasting = _service("Forecasting", ("forecasting",))
All = _service("All", tuple(ENDPOINTS))
SERVICES = {"recommendations": "Recommendations", "ranking": "Ranking", "fraud": "Fraud",
            "forecasting": "Forecasting", "all": "All"}
