"""``pomona deploy sagemaker``: plan, local mode, real deployment, teardown, Batch Transform.

Every mode starts with :func:`plan`, which checks everything that can be checked without AWS
(role ARN, region, instance type, bucket, the champion and its feature contract, the endpoint's
store configuration) and builds the exact SageMaker requests, each validated against botocore's
service model. ``--dry-run`` prints that plan; nothing else happens before it succeeds.

* :func:`deploy_local` - the SageMaker SDK's ``ModelBuilder`` with :class:`PomonaInferenceSpec`
  in ``Mode.IN_PROCESS``: the exact inference code answers here, with no AWS account and no AWS
  call (model data location given, telemetry off, role validation off).
* :func:`deploy_aws` - uploads the model data (:func:`package`) and creates the model, the
  endpoint configuration and the endpoint (or moves an existing endpoint to the new
  configuration), waiting with progress. A failure removes what this run created.
* :func:`delete` - removes the endpoint, and the endpoint configurations, models and S3 objects
  of the use case that this tool created (names ``pomona-<use-case>-v...``, tag ``pomona:managed``).
* :func:`batch` - a Batch Transform job over JSON-lines requests in S3, with the champion.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from pomona.errors import PomonaError
from pomona.usecases import check_use_case, feature_service_name
from pomona.workspace import Workspace
from serving.sagemaker import checks
from serving.sagemaker.config import SageMakerConfig

log = logging.getLogger("pomona.sagemaker")
CODE_PACKAGES = ("pomona", "features", "models", "training", "serving", "configs")
ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = "/opt/ml/model"  # where SageMaker extracts the model data in the container
IMAGE = {"framework": "pytorch", "version": "2.5", "py_version": "py311"}  # Python 3.11, as the project
IN_PROCESS_PORT = 9007  # sagemaker.serve's in-process server always binds 127.0.0.1:9007
TELEMETRY_OFF = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}
LOCAL_DEFAULTS = {"region": "us-east-1", "role_arn": "arn:aws:iam::000000000000:role/pomona-local",
                  "bucket": "pomona-local"}
# Use cases whose endpoint reads the online store (fraud only when it keeps account state).
READS_ONLINE_STORE = ("ranking", "fraud")


@dataclass
class Plan:
    """What a deployment creates, as SageMaker requests (see :meth:`to_json`)."""

    use_case: str
    version: str
    feature_service: str
    fingerprint: str
    region: str
    bucket: str
    model_key: str
    image: str
    requests: dict[str, dict] = field(default_factory=dict)  # operation -> parameters

    @property
    def model_data(self) -> str:
        return f"s3://{self.bucket}/{self.model_key}"

    def to_json(self) -> dict:
        model = self.requests["CreateModel"]
        config = self.requests.get("CreateEndpointConfig", {})
        variant = (config.get("ProductionVariants") or [{}])[0]
        return {
            "use_case": self.use_case, "region": self.region, "model_version": self.version,
            "feature_service": self.feature_service, "feature_fingerprint": self.fingerprint,
            "model_name": model["ModelName"], "image": self.image, "model_data": self.model_data,
            "environment": model["PrimaryContainer"]["Environment"],
            "instance_type": variant.get("InstanceType"), "instance_count": variant.get("InitialInstanceCount"),
            "endpoint_config": config.get("EndpointConfigName"),
            "endpoint": self.requests.get("CreateEndpoint", {}).get("EndpointName"),
            "tags": {t["Key"]: t["Value"] for t in model["Tags"]},
            "requests": self.requests,
        }


def _stamp() -> str:
    """UTC time to the millisecond: names stay unique across quick successive deployments."""
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")[:-3]


def champion(use_case: str, ws: Workspace) -> tuple[str, Any]:
    """The champion's version and bundle, its feature contract checked (no AWS)."""
    from serving.runtime import check_contract
    from training import pyfunc, registry, tracking

    mv = registry.champion_version(tracking.connect(ws), use_case)
    if mv is None:
        raise PomonaError(f"{use_case} has no champion in the registry; run 'pomona train {use_case}' first")
    version = str(mv.version)
    try:
        bundle = pyfunc.load_bundle(f"models:/pomona-{use_case}/{version}")
    except Exception as exc:  # MLflow raises many kinds
        raise PomonaError(f"cannot load pomona-{use_case} v{version}: {str(exc).splitlines()[0]}") from None
    check_contract(bundle, use_case, ws, version)
    return version, bundle


def image_uri(cfg: SageMakerConfig, region: str, instance_type: str) -> str:
    if cfg.image_uri:
        return cfg.image_uri
    from sagemaker.core import image_uris  # offline: reads the SDK's bundled image tables

    return image_uris.retrieve(region=region, instance_type=instance_type, image_scope="inference", **IMAGE)


def _store_config(cfg: SageMakerConfig, use_case: str) -> Path:
    """The store configuration the endpoint reads, checked: it must exist and be valid, and a
    use case that reads online features needs a store the endpoint can reach (not a local file)."""
    import yaml

    path = cfg.store_config_path()
    if not path.is_file():
        raise PomonaError(f"store_config {str(path)!r} does not exist")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        online = (raw.get("feast") or {}).get("online_store") or {}
    except (yaml.YAMLError, AttributeError):
        raise PomonaError(f"store_config {path}: not a store configuration (see configs/production.yaml)") from None
    if use_case in READS_ONLINE_STORE and online.get("type", "sqlite") == "sqlite":
        raise PomonaError(f"store_config {path.name}: a {use_case} endpoint reads online features, but this "
                          f"configuration's online store is a local SQLite file it cannot reach; use a Redis "
                          f"or DynamoDB profile such as configs/production.yaml")
    return path


def environment(cfg: SageMakerConfig, region: str) -> dict[str, str]:
    return {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": f"{MODEL_DIR}/code",
            "SAGEMAKER_REGION": region, "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
            "POMONA_HOME": f"{MODEL_DIR}/workspace", "POMONA_CONFIG": f"{MODEL_DIR}/pomona_store.yaml",
            "POMONA_BENTO_MANIFEST": f"{MODEL_DIR}/pomona_bento.json", **cfg.environment}


def plan(use_case: str, cfg: SageMakerConfig, ws: Workspace, *, local: bool = False,
         batch: dict | None = None) -> Plan:
    """Check everything and build the requests; no AWS call. ``local``: placeholders for a
    missing role, region and bucket (local mode needs no account). ``batch``: ``{"input",
    "output"}`` for a Batch Transform job instead of an endpoint."""
    use_case = check_use_case(use_case)
    fill = LOCAL_DEFAULTS if local else {}
    role = checks.check_role_arn(cfg.role_arn or fill.get("role_arn"))
    region = checks.check_region(cfg.resolved_region() or fill.get("region"))
    bucket = checks.check_bucket(cfg.bucket or fill.get("bucket"))
    instance = checks.check_instance_type(cfg.batch_instance_type if batch else cfg.instance_type, batch=bool(batch))
    if batch:
        for key in ("input", "output"):
            if not str(batch.get(key, "")).startswith("s3://"):
                raise PomonaError(f"--{key} must be an s3:// URI, got {batch.get(key)!r}")
    if not local:
        _store_config(cfg, use_case)
    version, bundle = champion(use_case, ws)
    stamp = _stamp()
    name = f"pomona-{use_case}-v{version}-{stamp}"
    key = f"{cfg.prefix.strip('/')}/{use_case}/v{version}/{stamp}/model.tar.gz"
    p = Plan(use_case, version, bundle.feature_service, bundle.fingerprint, region, bucket, key,
             image_uri(cfg, region, instance))
    tags = [{"Key": "pomona:managed", "Value": "true"}, {"Key": "pomona:use-case", "Value": use_case},
            {"Key": "pomona:model-version", "Value": version},
            {"Key": "pomona:feature-service", "Value": bundle.feature_service or feature_service_name(use_case)},
            {"Key": "pomona:feature-fingerprint", "Value": bundle.fingerprint}]
    p.requests["CreateModel"] = {"ModelName": name, "ExecutionRoleArn": role, "Tags": tags,
                                 "PrimaryContainer": {"Image": p.image, "ModelDataUrl": p.model_data,
                                                      "Environment": environment(cfg, region)}}
    if batch:
        p.requests["CreateTransformJob"] = {
            "TransformJobName": name, "ModelName": name, "Tags": tags,
            "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": batch["input"]}},
                               "ContentType": "application/json", "SplitType": "Line"},
            "TransformOutput": {"S3OutputPath": batch["output"], "Accept": "application/json", "AssembleWith": "Line"},
            "TransformResources": {"InstanceType": instance, "InstanceCount": cfg.batch_instance_count}}
    else:
        p.requests["CreateEndpointConfig"] = {
            "EndpointConfigName": name, "Tags": tags,
            "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": name, "InstanceType": instance,
                                    "InitialInstanceCount": cfg.instance_count}]}
        p.requests["CreateEndpoint"] = {"EndpointName": cfg.endpoint(use_case), "EndpointConfigName": name,
                                        "Tags": tags}
    for operation, params in p.requests.items():
        checks.check_request(operation, params)
    return p


# --- the model data ------------------------------------------------------------------------------

INFERENCE_ENTRY = '''"""SageMaker container entry points: Pomona's one scoring path (serving.sagemaker.inference)."""
from serving.sagemaker.inference import input_fn, model_fn, output_fn, predict_fn  # noqa: F401
'''


def package(p: Plan, cfg: SageMakerConfig, ws: Workspace, dest: Path) -> Path:
    """Write ``dest/model.tar.gz``: ``code/`` (the entry points, the project's packages and its
    pinned requirements), the champion's MLflow model (``pomona_model/<use-case>``), the manifest
    ``pomona_bento.json`` that ``serving.packaged.load_packaged`` reads, the endpoint's store
    configuration, and under ``workspace/`` the dataset the use case's ``prepare`` reads (fraud's
    transactions seed the account log; forecasting's last known exogenous values)."""
    from serving.build import export_champion, requirements

    ctx = dest / "model"
    if ctx.exists():
        shutil.rmtree(ctx)
    code = ctx / "code"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for pkg in CODE_PACKAGES:
        shutil.copytree(ROOT / pkg, code / pkg, ignore=ignore)
    (code / "inference.py").write_text(INFERENCE_ENTRY)
    (code / "requirements.txt").write_text("\n".join(requirements()) + "\n")
    entry = export_champion(p.use_case, ws, ctx / "pomona_model" / p.use_case)
    if entry["version"] != p.version:
        raise PomonaError(f"the {p.use_case} champion moved from v{p.version} to v{entry['version']} while "
                          f"packaging; run the command again")
    (ctx / "pomona_bento.json").write_text(json.dumps({"use_cases": [p.use_case], "models": {p.use_case: entry},
                                                       "store_config": "pomona_store.yaml"}, indent=2))
    store = cfg.store_config_path()
    shutil.copyfile(store if store.is_file() else ROOT / "configs" / "workspace.yaml", ctx / "pomona_store.yaml")
    data = ws.dataset_dir(p.use_case)
    if p.use_case in ("fraud", "forecasting") and data.is_dir():
        shutil.copytree(data, ctx / "workspace" / data.relative_to(ws.root), ignore=ignore)
    archive = dest / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for item in sorted(ctx.iterdir()):
            tar.add(item, arcname=item.name)
    return archive


# --- local mode ------------------------------------------------------------------------------------

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

    def __enter__(self) -> "LocalDeployment":
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


def example(use_case: str, ws: Workspace, version: str) -> dict:
    """A valid request for the endpoint, built from the first rows of the model's MLflow input
    example (the SchemaBuilder sample, and the request local mode answers by default)."""
    import importlib

    import mlflow.pyfunc
    import pandas as pd

    from training import tracking

    tracking.connect(ws)
    rows = mlflow.pyfunc.load_model(f"models:/pomona-{use_case}/{version}").input_example
    if not isinstance(rows, pd.DataFrame) or rows.empty:
        raise PomonaError(f"pomona-{use_case} v{version} has no input example to build a sample request from")
    fields = importlib.import_module(f"serving.{use_case}").request_model(ws).model_fields
    first = rows.iloc[0]
    out: dict[str, Any] = {k: _plain(first[k]) for k in fields if k in rows.columns and pd.notna(first[k])}
    if use_case == "recommendations":
        out["k"] = 3
    elif use_case == "ranking":
        out.pop("product_id", None)
        out["product_ids"] = [int(x) for x in rows["product_id"].drop_duplicates().head(3)]
    elif use_case == "fraud":
        if "timestamp" in fields and "event_timestamp" in rows.columns:  # the transaction's own time
            out["timestamp"] = (pd.Timestamp(first["event_timestamp"]) + pd.Timedelta(microseconds=1)).isoformat()
        out.setdefault("transaction_id", 1)
    elif use_case == "forecasting":
        out = {k: v for k, v in out.items() if k == "series_id"}
        out["horizon"] = 3
    return out


def _plain(value):
    """A JSON-able Python value (numpy scalars -> Python, times -> ISO 8601)."""
    value = value.item() if hasattr(value, "item") else value
    return value.isoformat() if hasattr(value, "isoformat") else value


# --- the real deployment ---------------------------------------------------------------------------

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
            s3.upload_file(str(archive), p.bucket, p.model_key)
            created.append(("s3", p.model_key))
            sm.create_model(**p.requests["CreateModel"])
            created.append(("model", p.requests["CreateModel"]["ModelName"]))
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


# --- teardown ----------------------------------------------------------------------------------------

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


# --- Batch Transform -------------------------------------------------------------------------------

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
            s3.upload_file(str(archive), p.bucket, p.model_key)
            created.append(("s3", p.model_key))
            sm.create_model(**p.requests["CreateModel"])
            created.append(("model", p.requests["CreateModel"]["ModelName"]))
            sm.create_transform_job(**p.requests["CreateTransformJob"])
        except Exception as exc:
            _rollback(sm, s3, p, created)
            raise PomonaError(f"Batch Transform job failed to start and was rolled back: {_reason(exc)}") from None
    job = p.requests["CreateTransformJob"]["TransformJobName"]
    status = sm.describe_transform_job(TransformJobName=job)["TransformJobStatus"]
    progress(f"transform job {job}: {status}")
    return {"job": job, "status": status, "model_name": p.requests["CreateModel"]["ModelName"],
            "input": input_uri, "output": output_uri}
