"""Local mode: the SageMaker SDK's ``ModelBuilder`` with :class:`PomonaInferenceSpec` in
``Mode.IN_PROCESS``. The exact inference code answers here, with no AWS account and no AWS call
(model data location given, telemetry off, role validation off)."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pomona.errors import PomonaError
from pomona.workspace import Workspace
from serving.sagemaker.config import SageMakerConfig
from serving.sagemaker.plan import Plan, example, plan

IN_PROCESS_PORT = 9007  # sagemaker.serve's in-process server always binds 127.0.0.1:9007
TELEMETRY_OFF = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}


@dataclass
class LocalDeployment:
    """A SageMaker in-process endpoint; :meth:`invoke` sends a JSON request through the SDK."""

    endpoint: Any
    spec: Any
    model_path: str
    lock: Any = None

    def invoke(self, payload: dict) -> dict:
        return self.endpoint.invoke(body=payload).body

    def close(self) -> None:
        server = getattr(self.endpoint, "in_process_mode_obj", None)
        if server is not None:
            server.destroy_server()  # endpoint.delete() leaves the server running
        shutil.rmtree(self.model_path, ignore_errors=True)
        if self.lock is not None:
            self.lock.close()  # releases the port's lock
            self.lock = None

    def __enter__(self) -> LocalDeployment:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _port_lock(timeout_s: float = 180.0):
    """An exclusive lock on the in-process port for this machine's users, held for the local
    endpoint's life: a second local deployment waits for the first to close (up to
    ``timeout_s``) instead of finding the port taken."""
    import fcntl

    handle = open(Path(tempfile.gettempdir()) / f"pomona-sagemaker-{IN_PROCESS_PORT}.lock", "w")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except OSError:
            if time.monotonic() > deadline:
                handle.close()
                raise PomonaError(f"another local SageMaker endpoint holds 127.0.0.1:{IN_PROCESS_PORT} "
                                  f"(waited {timeout_s:.0f} s); stop it first") from None
            time.sleep(0.5)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def deploy_local(use_case: str, cfg: SageMakerConfig, ws: Workspace, p: Plan | None = None) -> LocalDeployment:
    """Build and deploy with ``ModelBuilder`` in ``Mode.IN_PROCESS``; no AWS call is made."""
    p = p or plan(use_case, cfg, ws, local=True)
    lock = _port_lock()
    if _port_open(IN_PROCESS_PORT):  # the SDK would bind it silently and answer with the old model
        lock.close()
        raise PomonaError(f"127.0.0.1:{IN_PROCESS_PORT} is in use (another local SageMaker endpoint?); "
                          f"stop it first: the SDK's in-process server always uses that port")
    os.environ.setdefault("AWS_DEFAULT_REGION", p.region)  # `import sagemaker.serve` needs one
    os.environ["SAGEMAKER_VALIDATE_ROLE"] = "false"  # no IAM call: the role is not used in-process
    import boto3
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.serve.builder.schema_builder import SchemaBuilder
    from sagemaker.serve.mode.function_pointers import Mode
    from sagemaker.serve.model_builder import ModelBuilder

    from serving.sagemaker.spec import PomonaInferenceSpec

    sample_in, sample_out = example(use_case, ws, p.version), {"model_version": p.version}
    spec = PomonaInferenceSpec(use_case, str(ws.root), p.version, sample_out)
    model_path = tempfile.mkdtemp(prefix="pomona-sagemaker-")
    for name in ("sagemaker", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        session = Session(boto_session=boto3.Session(region_name=p.region), sagemaker_config=TELEMETRY_OFF)
        builder = ModelBuilder(inference_spec=spec, schema_builder=SchemaBuilder(sample_in, sample_out),
                               mode=Mode.IN_PROCESS, role_arn=p.requests["CreateModel"]["ExecutionRoleArn"],
                               sagemaker_session=session, model_path=model_path,
                               s3_model_data_url=p.model_data.rsplit("/", 1)[0] + "/", log_level=logging.WARNING)
        builder.build()
        endpoint = builder.deploy()
    except Exception as exc:  # the SDK raises many kinds
        shutil.rmtree(model_path, ignore_errors=True)
        lock.close()
        if isinstance(exc, PomonaError):
            raise
        raise PomonaError(f"local SageMaker deployment failed: {str(exc).splitlines()[0]}") from None
    spec.live = True
    return LocalDeployment(endpoint, spec, model_path, lock)
