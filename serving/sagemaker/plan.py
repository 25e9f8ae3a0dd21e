"""The plan of a SageMaker deployment: everything checked that can be checked without AWS (role
ARN, region, instance type, bucket, the champion and its feature contract, the endpoint's store
configuration) and the exact SageMaker requests, each validated against botocore's service
model. ``--dry-run`` prints it; every other mode starts from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pomona.errors import PomonaError
from pomona.usecases import check_use_case, feature_service_name, layer_module
from pomona.workspace import Workspace
from serving.sagemaker import checks
from serving.sagemaker.config import SageMakerConfig

CODE_PACKAGES = ("pomona", "features", "models", "training", "serving", "configs")
ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = "/opt/ml/model"  # where SageMaker extracts the model data in the container
IMAGE = {"framework": "pytorch", "version": "2.5", "py_version": "py311"}  # Python 3.11, as the project
LOCAL_DEFAULTS = {"region": "us-east-1", "role_arn": "arn:aws:iam::000000000000:role/pomona-local",
                  "bucket": "pomona-local"}


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
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")[:-3]


def champion(use_case: str, ws: Workspace):
    """The champion's version and bundle, its feature contract checked (no AWS)."""
    from training import registry

    model = registry.load_model(use_case, ws)
    return model.version, model.bundle


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
    if getattr(layer_module(use_case, "serving"), "READS_ONLINE_STORE", False) and \
            online.get("type", "sqlite") == "sqlite":
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


def example(use_case: str, ws: Workspace, version: str) -> dict:
    """A valid request for the endpoint, built from the first rows of the model's MLflow input
    example (the SchemaBuilder sample, and the request local mode answers by default): the
    request model's fields found in the first row, shaped by the serving module's
    ``sample_request(base, rows)``."""
    import pandas as pd

    from training import registry, tracking

    tracking.connect(ws)
    rows = registry.input_example(use_case, version)
    if not isinstance(rows, pd.DataFrame) or rows.empty:
        raise PomonaError(f"pomona-{use_case} v{version} has no input example to build a sample request from")
    module = layer_module(use_case, "serving")
    fields = module.request_model(ws).model_fields
    first = rows.iloc[0]
    out: dict[str, Any] = {k: _plain(first[k]) for k in fields if k in rows.columns and pd.notna(first[k])}
    shape = getattr(module, "sample_request", None)
    return shape(out, rows) if shape else out


def _plain(value):
    """A JSON-able Python value (numpy scalars -> Python, times -> ISO 8601)."""
    value = value.item() if hasattr(value, "item") else value
    return value.isoformat() if hasattr(value, "isoformat") else value
