"""The real AWS path: deploy (upload the model data, create the model, the endpoint configuration
and the endpoint, or move an existing endpoint to the new configuration, waiting with progress;
a failure removes what the run created), teardown and Batch Transform."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pomona.errors import PomonaError
from pomona.usecases import check_use_case
from pomona.workspace import Workspace
from serving.sagemaker import checks
from serving.sagemaker.config import SageMakerConfig
from serving.sagemaker.package import package
from serving.sagemaker.plan import Plan, example, plan

log = logging.getLogger("pomona.sagemaker")


def _clients(region: str):
    import boto3

    session = boto3.session.Session(region_name=region)
    return session.client("sagemaker"), session.client("s3")


def deploy_aws(use_case: str, cfg: SageMakerConfig, ws: Workspace, p: Plan | None = None,
               progress: Callable[[str], None] = print, poll_seconds: float = 15.0) -> dict:
    """Upload, create (or update) and wait; returns the endpoint and an example call."""
    p = p or plan(use_case, cfg, ws)
    sm, s3 = _clients(p.region)
    created: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="pomona-sagemaker-") as tmp:
        progress(f"packaging {p.use_case} v{p.version} ...")
        archive = package(p, cfg, ws, Path(tmp))
        progress(f"uploading {archive.stat().st_size / 1e6:.1f} MB to {p.model_data} ...")
        try:
            _create_model(sm, s3, p, archive, created)
            sm.create_endpoint_config(**p.requests["CreateEndpointConfig"])
            created.append(("config", p.requests["CreateEndpointConfig"]["EndpointConfigName"]))
            name = p.requests["CreateEndpoint"]["EndpointName"]
            if _endpoint_status(sm, name) is None:
                progress(f"creating endpoint {name} ...")
                sm.create_endpoint(**p.requests["CreateEndpoint"])
                created.append(("endpoint", name))
            else:
                progress(f"updating endpoint {name} to {p.requests['CreateEndpointConfig']['EndpointConfigName']} ...")
                params = {"EndpointName": name,
                          "EndpointConfigName": p.requests["CreateEndpoint"]["EndpointConfigName"]}
                sm.update_endpoint(**checks.check_request("UpdateEndpoint", params))
        except Exception as exc:
            _rollback(sm, s3, p, created)
            raise PomonaError(f"SageMaker deployment failed and was rolled back: {_reason(exc)}") from None
    status = _wait(sm, name, cfg.wait_minutes * 60, progress, poll_seconds)
    if status != "InService":
        raise PomonaError(f"endpoint {name} is {status}; see its FailureReason with "
                          f"'aws sagemaker describe-endpoint --endpoint-name {name}'")
    return {"endpoint": name, "status": status, "region": p.region, "model_version": p.version,
            "model_name": p.requests["CreateModel"]["ModelName"], "model_data": p.model_data,
            "invoke": invoke_example(name, p.region, example(use_case, ws, p.version))}


def _create_model(sm, s3, p: Plan, archive: Path, created: list[tuple[str, str]]) -> None:
    """Upload the model data and create the SageMaker model, recording each for a rollback."""
    s3.upload_file(str(archive), p.bucket, p.model_key)
    created.append(("s3", p.model_key))
    sm.create_model(**p.requests["CreateModel"])
    created.append(("model", p.requests["CreateModel"]["ModelName"]))


def invoke_example(endpoint: str, region: str, request: dict) -> str:
    return ("import boto3, json\n"
            f"rt = boto3.client('sagemaker-runtime', region_name={region!r})\n"
            f"r = rt.invoke_endpoint(EndpointName={endpoint!r}, ContentType='application/json',\n"
            f"                       Body=json.dumps({json.dumps(request)}))\n"
            "print(json.loads(r['Body'].read()))")


def _reason(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _endpoint_status(sm, name: str) -> str | None:
    from botocore.exceptions import ClientError

    try:
        return sm.describe_endpoint(EndpointName=name)["EndpointStatus"]
    except ClientError as exc:
        if "Could not find" in str(exc) or exc.response.get("Error", {}).get("Code") == "ValidationException":
            return None
        raise


def _wait(sm, name: str, timeout_s: float, progress: Callable[[str], None], poll_seconds: float) -> str:
    start, last = time.monotonic(), None
    while True:
        status = _endpoint_status(sm, name) or "Missing"
        if status != last:
            progress(f"endpoint {name}: {status} ({time.monotonic() - start:.0f} s)")
            last = status
        if status not in ("Creating", "Updating", "SystemUpdating"):
            return status
        if time.monotonic() - start > timeout_s:
            return f"still {status} after {timeout_s / 60:.0f} minutes"
        time.sleep(poll_seconds)


def _rollback(sm, s3, p: Plan, created: list[tuple[str, str]]) -> None:
    for kind, name in reversed(created):
        try:
            if kind == "endpoint":
                sm.delete_endpoint(EndpointName=name)
            elif kind == "config":
                sm.delete_endpoint_config(EndpointConfigName=name)
            elif kind == "model":
                sm.delete_model(ModelName=name)
            else:
                s3.delete_object(Bucket=p.bucket, Key=name)
        except Exception as exc:  # keep rolling back the rest; report it
            log.error("rollback of %s %s failed: %s", kind, name, _reason(exc))


def delete(use_case: str, cfg: SageMakerConfig, progress: Callable[[str], None] = print) -> dict:
    """Delete the use case's endpoint and what this tool created for it (tagged models and
    endpoint configurations named ``pomona-<use-case>-v...``, the model data under the prefix)."""
    use_case = check_use_case(use_case)
    region = checks.check_region(cfg.resolved_region())
    if cfg.bucket is not None:
        checks.check_bucket(cfg.bucket)
    sm, s3 = _clients(region)
    name = cfg.endpoint(use_case)
    deleted: dict[str, list[str]] = {"endpoint": [], "endpoint_configs": [], "models": [], "s3_objects": []}
    if _endpoint_status(sm, name) is not None:
        progress(f"deleting endpoint {name} ...")
        sm.delete_endpoint(EndpointName=name)
        deleted["endpoint"].append(name)
        _wait_deleted(sm, name, cfg.wait_minutes * 60)
    prefix = f"pomona-{use_case}-v"
    for page in sm.get_paginator("list_endpoint_configs").paginate(NameContains=prefix):
        for item in page["EndpointConfigs"]:
            if item["EndpointConfigName"].startswith(prefix) and _managed(sm, item["EndpointConfigArn"]):
                sm.delete_endpoint_config(EndpointConfigName=item["EndpointConfigName"])
                deleted["endpoint_configs"].append(item["EndpointConfigName"])
    for page in sm.get_paginator("list_models").paginate(NameContains=prefix):
        for item in page["Models"]:
            if item["ModelName"].startswith(prefix) and _managed(sm, item["ModelArn"]):
                sm.delete_model(ModelName=item["ModelName"])
                deleted["models"].append(item["ModelName"])
    if cfg.bucket:
        key_prefix = f"{cfg.prefix.strip('/')}/{use_case}/"
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=cfg.bucket, Prefix=key_prefix):
            keys = [o["Key"] for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=cfg.bucket, Delete={"Objects": [{"Key": k} for k in keys]})
                deleted["s3_objects"] += keys
    return deleted


def _managed(sm, arn: str) -> bool:
    tags = sm.list_tags(ResourceArn=arn).get("Tags", [])
    return any(t["Key"] == "pomona:managed" and t["Value"] == "true" for t in tags)


def _wait_deleted(sm, name: str, timeout_s: float) -> None:
    start = time.monotonic()
    while _endpoint_status(sm, name) is not None and time.monotonic() - start < timeout_s:
        time.sleep(5)


def batch(use_case: str, cfg: SageMakerConfig, ws: Workspace, input_uri: str, output_uri: str,
          progress: Callable[[str], None] = print) -> dict:
    """Create the champion's model and a Batch Transform job over ``input_uri`` (JSON lines,
    one request per line) writing to ``output_uri``; returns the job's name and status."""
    p = plan(use_case, cfg, ws, batch={"input": input_uri, "output": output_uri})
    sm, s3 = _clients(p.region)
    created: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="pomona-sagemaker-") as tmp:
        archive = package(p, cfg, ws, Path(tmp))
        try:
            _create_model(sm, s3, p, archive, created)
            sm.create_transform_job(**p.requests["CreateTransformJob"])
        except Exception as exc:
            _rollback(sm, s3, p, created)
            raise PomonaError(f"Batch Transform job failed to start and was rolled back: {_reason(exc)}") from None
    job = p.requests["CreateTransformJob"]["TransformJobName"]
    status = sm.describe_transform_job(TransformJobName=job)["TransformJobStatus"]
    progress(f"transform job {job}: {status}")
    return {"job": job, "status": status, "model_name": p.requests["CreateModel"]["ModelName"],
            "input": input_uri, "output": output_uri}
