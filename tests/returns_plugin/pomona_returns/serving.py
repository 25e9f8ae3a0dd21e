"""POST /predict_return: the probability that an order is returned."""

from pydantic import BaseModel, ConfigDict

import features
from models.scoring import score
from serving import runtime
from serving.schema import RequestSpec
from serving.schema import request_model as derived

ROUTE = "predict_return"


class ReturnRequest(BaseModel):
    """``order_id`` plus, derived from the FeatureService, ``user_id`` and ``price``."""

    model_config = ConfigDict(extra="forbid")
    order_id: int


REQUEST = RequestSpec("returns", "ReturnRequest", ReturnRequest, fallback={"user_id": "Int64", "price": "Float64"},
                      required=lambda schema: tuple(schema))


def request_model(ws):
    return derived(REQUEST, ws)


class Response(BaseModel):
    return_probability: float
    model_version: str


def handle(request, champion, ws) -> Response:
    m = champion.current
    row = request.model_dump(exclude={"order_id"})
    vec = runtime.online(lambda: features.online_features("returns", [row], ws))
    p = score(m.bundle, vec)["return_probability"].iloc[0]
    return Response(return_probability=float(p), model_version=m.version)


def sample_request(base: dict, rows) -> dict:
    return {**base, "order_id": 1}
