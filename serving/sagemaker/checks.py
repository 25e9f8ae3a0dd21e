"""Safety before cost: everything checked before any AWS call, from botocore's own data.

The SageMaker service model shipped with botocore (``botocore/data/sagemaker/...``) is the
source of truth for what AWS accepts: the role-ARN pattern, the instance types an endpoint or a
Batch Transform job may use, and the shape of every request. Regions come from botocore's
endpoint data. Nothing here needs credentials or the network.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from pomona.errors import PomonaError

PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
# S3 bucket names: 3-63 lowercase letters, digits, dots and hyphens, starting and ending alphanumeric.
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@functools.lru_cache(maxsize=1)
def service_model():
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


def endpoint_instance_types() -> list[str]:
    return list(service_model().shape_for("ProductionVariantInstanceType").enum)


def transform_instance_types() -> list[str]:
    return list(service_model().shape_for("TransformInstanceType").enum)


@functools.lru_cache(maxsize=1)
def sagemaker_regions() -> tuple[str, ...]:
    import boto3

    session = boto3.session.Session()
    return tuple(r for p in PARTITIONS for r in session.get_available_regions("sagemaker", partition_name=p))


def check_role_arn(arn: str | None) -> str:
    if not arn:
        raise PomonaError("--role-arn is required: the IAM role SageMaker assumes "
                          "(arn:aws:iam::<account>:role/<name>; docs/deploy.md lists its permissions)")
    pattern = service_model().shape_for("RoleArn").metadata["pattern"]
    if not re.fullmatch(pattern, arn) or len(arn) < 20:
        raise PomonaError(f"--role-arn {arn!r} is not an IAM role ARN (expected arn:aws:iam::<12-digit "
                          f"account>:role/<name>)")
    return arn


def check_region(region: str | None) -> str:
    if not region:
        raise PomonaError("--region is required (or set AWS_DEFAULT_REGION)")
    if region not in sagemaker_regions():
        raise PomonaError(f"--region {region!r} has no SageMaker (botocore knows {len(sagemaker_regions())} "
                          f"regions with it, e.g. us-east-1, eu-west-1)")
    return region


def check_instance_type(instance_type: str, *, batch: bool = False) -> str:
    allowed = transform_instance_types() if batch else endpoint_instance_types()
    if instance_type not in allowed:
        what = "Batch Transform" if batch else "real-time endpoint"
        near = [t for t in allowed if t.split(".")[1:2] == instance_type.split(".")[1:2]][:5] or allowed[:5]
        raise PomonaError(f"instance type {instance_type!r} is not a SageMaker {what} instance type "
                          f"(e.g. {', '.join(near)})")
    return instance_type


def check_bucket(bucket: str | None) -> str:
    if not bucket:
        raise PomonaError("--bucket is required: the S3 bucket for the model data")
    if not BUCKET.fullmatch(bucket) or ".." in bucket:
        raise PomonaError(f"--bucket {bucket!r} is not a valid S3 bucket name")
    return bucket


def check_request(operation: str, params: dict) -> dict:
    """Raise a one-line :class:`PomonaError` unless ``params`` is a valid ``operation`` request
    per botocore's SageMaker service model: botocore's own validator (required and unknown
    members, types, minimums) plus the constraints it leaves to the server (maximums, patterns,
    enums)."""
    from botocore.validate import ParamValidator

    shape = service_model().operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    errors = report.generate_report().splitlines() if report.has_errors() else []
    _walk(params, shape, "", errors)
    if errors:
        raise PomonaError(f"{operation} request is invalid: {'; '.join(errors)}")
    return params


def _walk(value: Any, shape, path: str, errors: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for key, sub in value.items():
            if key in shape.members:
                _walk(sub, shape.members[key], f"{path}.{key}" if path else key, errors)
    elif kind == "list" and isinstance(value, (list, tuple)):
        _size(len(value), shape, path, errors)
        for i, item in enumerate(value):
            _walk(item, shape.member, f"{path}[{i}]", errors)
    elif kind == "map" and isinstance(value, dict):
        _size(len(value), shape, path, errors)
        for k, v in value.items():
            _walk(k, shape.key, f"{path}<key>", errors)
            _walk(v, shape.value, f"{path}[{k}]", errors)
    elif kind == "string" and isinstance(value, str):
        _size(len(value), shape, path, errors)
        if shape.enum and value not in shape.enum:
            errors.append(f"{path}: {value!r} is not one of the allowed values of {shape.name}")
        pattern = shape.metadata.get("pattern")
        try:
            if pattern and re.fullmatch(pattern, value) is None:
                errors.append(f"{path}: {value!r} does not match {shape.name}'s pattern {pattern!r}")
        except re.error:  # Java-only regex syntax: left to the server
            pass
    elif kind in ("integer", "long") and isinstance(value, int) and value > shape.metadata.get("max", value):
        errors.append(f"{path}: {value} is above the maximum {shape.metadata['max']}")


def _size(n: int, shape, path: str, errors: list[str]) -> None:
    if n > shape.metadata.get("max", n):
        errors.append(f"{path}: length {n} is above the maximum {shape.metadata['max']}")
