"""The one scoring path on SageMaker: a request is validated with the endpoint's derived
request model and answered by the use case's ``handle``, the function the BentoML service
calls (which scores through ``models.scoring.score``, as the MLflow pyfunc does).

Two doors lead to :func:`answer`:

* :class:`serving.sagemaker.spec.PomonaInferenceSpec` - the SageMaker SDK's ``InferenceSpec``
  (``ModelBuilder``; local mode runs it in this process);
* the container entry points ``model_fn`` / ``input_fn`` / ``predict_fn`` / ``output_fn``
  (``code/inference.py`` of the model data re-exports them), for SageMaker's PyTorch inference
  container: ``model_fn`` loads the packaged champion exactly as a Bento does
  (``serving.runtime.load_version`` finds the packaged manifest: same contract check, same
  ``prepare``).

An invalid request gets ``{"error": ..., "status": 400}`` (503 for an unreachable store) as the
answer rather than an exception, so the caller sees the same message the HTTP service gives.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pomona.errors import PomonaError
from pomona.usecases import layer_module
from pomona.workspace import Workspace
from serving import runtime
from serving.errors import NotReady, RequestError, StoreUnavailable


def fixed_champion(loaded: runtime.Loaded, ws: Workspace) -> runtime.Champion:
    """A :class:`runtime.Champion` that always answers with ``loaded`` (no alias polling: a
    SageMaker model is immutable; deploy a new one to change it)."""
    return runtime.Champion.fixed(loaded, ws)


def answer(use_case: str, champion: runtime.Champion, payload: Any, ws: Workspace) -> dict:
    """The endpoint's JSON answer to ``payload`` (a parsed JSON object)."""
    module = layer_module(use_case, "serving")
    model = module.request_model(ws)
    if not isinstance(payload, dict):
        return {"error": "body: expected a JSON object", "status": 400}
    try:
        request = model.model_validate(payload)
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        return {"error": f"invalid request: {where}", "status": 400}
    try:
        return module.handle(request, champion, ws).model_dump(mode="json")
    except RequestError as exc:
        return {**exc.body(), "status": exc.status}
    except (StoreUnavailable, NotReady) as exc:
        return {**exc.body(), "status": 503}


# --- the container's entry points (SageMaker PyTorch inference toolkit) -------------------------

def model_fn(model_dir: str):
    """Load the packaged champion from the model data (``/opt/ml/model``)."""
    import os

    os.environ.setdefault("POMONA_BENTO_MANIFEST", str(Path(model_dir) / "pomona_bento.json"))
    os.environ.setdefault("POMONA_HOME", str(Path(model_dir) / "workspace"))
    from serving import packaged

    packaged.use_packaged_store_config()
    (use_case,) = packaged.read_manifest(packaged.manifest_path())["use_cases"]
    ws = Workspace(Path(os.environ["POMONA_HOME"]))
    return use_case, fixed_champion(runtime.load_version(use_case, ws), ws)


def input_fn(body, content_type: str = "application/json"):
    if content_type and "json" not in content_type:
        raise PomonaError(f"content type {content_type!r}: send application/json")
    return json.loads(body)


def predict_fn(data, model) -> dict:
    use_case, champion = model
    return answer(use_case, champion, data, champion.ws)


def output_fn(prediction: dict, accept: str = "application/json") -> str:
    return json.dumps(prediction)
