"""Amazon SageMaker deployment of a use case's champion (``pomona deploy sagemaker``).

* :mod:`serving.sagemaker.config` - the typed deployment configuration (``configs/sagemaker.yaml``);
* :mod:`serving.sagemaker.checks` - everything checked before any AWS call: role ARN, region,
  instance types, the champion and its feature contract, and every request's parameters against
  botocore's own SageMaker service model;
* :mod:`serving.sagemaker.inference` - the one scoring path on SageMaker: an ``InferenceSpec``
  (local mode) and the container entry points (``model_fn``/``predict_fn``) both call the same
  ``handle`` as the BentoML service;
* :mod:`serving.sagemaker.deploy` - the plan (``--dry-run``), local mode (``ModelBuilder`` in
  ``Mode.IN_PROCESS``), the real deployment, teardown and Batch Transform.
"""
