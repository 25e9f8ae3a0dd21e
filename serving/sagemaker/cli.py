"""The ``pomona deploy`` commands' bodies (the typer layer in ``pomona/app/cli.py`` only parses)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from pomona.errors import PomonaError
from pomona.workspace import Workspace
from serving.sagemaker import deploy
from serving.sagemaker.config import load_config

MODES = ("aws", "local")


def deploy_cmd(use_case: str, ws: Workspace, *, config: Path | None, mode: str, dry_run: bool,
               requests: list[str], echo: Callable[[str], None], **overrides) -> None:
    if mode not in MODES:
        raise PomonaError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    cfg = load_config(config, **overrides)
    bodies = [_request(r) for r in requests or []]
    plan = deploy.plan(use_case, cfg, ws, local=mode == "local")
    if dry_run:
        echo(json.dumps(plan.to_json(), indent=2))
        return
    if mode == "local":
        bodies = bodies or [deploy.example(use_case, ws, plan.version)]
        with deploy.deploy_local(use_case, cfg, ws, plan) as endpoint:
            for body in bodies:
                echo(json.dumps({"request": body, "response": endpoint.invoke(body)}))
        return
    result = deploy.deploy_aws(use_case, cfg, ws, plan, progress=echo)
    echo(f"endpoint {result['endpoint']} is {result['status']} in {result['region']} "
         f"(model v{result['model_version']}); call it:\n{result['invoke']}")


def delete_cmd(use_case: str, *, config: Path | None, echo: Callable[[str], None], **overrides) -> None:
    cfg = load_config(config, **overrides)
    deleted = deploy.delete(use_case, cfg, progress=echo)
    echo(json.dumps(deleted, indent=2))


def batch_cmd(use_case: str, ws: Workspace, *, config: Path | None, input_uri: str, output_uri: str, dry_run: bool,
              echo: Callable[[str], None], **overrides) -> None:
    cfg = load_config(config, **overrides)
    if dry_run:
        plan = deploy.plan(use_case, cfg, ws, batch={"input": input_uri, "output": output_uri})
        echo(json.dumps({**plan.to_json(), "transform_job": plan.requests["CreateTransformJob"]}, indent=2))
        return
    echo(json.dumps(deploy.batch(use_case, cfg, ws, input_uri, output_uri, progress=echo), indent=2))


def _request(raw: str) -> dict:
    text = Path(raw[1:]).read_text() if raw.startswith("@") else raw
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise PomonaError(f"--request is not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise PomonaError("--request must be a JSON object")
    return body
