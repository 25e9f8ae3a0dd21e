"""``pomona deploy sagemaker``: plan, local mode, real deployment, teardown, Batch Transform.

Every mode starts with :func:`plan`, which checks everything that can be checked without AWS
(role ARN, region, instance type, bucket, the champion and its feature contract, the endpoint's
store configuration) and builds the exact SageMaker requests, each validated against botocore's
service model. ``--dry-run`` prints that plan; nothing else happens before it succeeds.

Modules: :mod:`~serving.sagemaker.plan`, :mod:`~serving.sagemaker.package`,
:mod:`~serving.sagemaker.local`, :mod:`~serving.sagemaker.aws`; this module gathers them.

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

from serving.sagemaker.aws import batch, delete, deploy_aws, invoke_example
from serving.sagemaker.inference import input_fn, model_fn, output_fn, predict_fn  # noqa: F401  (container entry)
from serving.sagemaker.local import LocalDeployment, deploy_local
from serving.sagemaker.package import INFERENCE_ENTRY, package
from serving.sagemaker.plan import Plan, champion, environment, example, image_uri, plan

__all__ = ["INFERENCE_ENTRY", "LocalDeployment", "Plan", "batch", "champion", "delete", "deploy_aws", "deploy_local",
           "environment", "example", "image_uri", "invoke_example", "package", "plan"]
