"""The SageMaker SDK's ``InferenceSpec`` for a Pomona champion (imports ``sagemaker.serve``,
which needs ``AWS_DEFAULT_REGION``; :mod:`serving.sagemaker.inference` does not)."""

from __future__ import annotations

from pathlib import Path

from sagemaker.serve.spec.inference_spec import InferenceSpec

from pomona.workspace import Workspace
from serving import runtime
from serving.sagemaker.inference import answer, fixed_champion


class PomonaInferenceSpec(InferenceSpec):
    """Carries only names (it is pickled into the model data by ``ModelBuilder.build``): the
    use case, the workspace, the model version. ``load`` loads that version from the registry
    and checks its feature contract; ``invoke`` is :func:`answer`.

    ``ModelBuilder.deploy`` pings the endpoint with the ``SchemaBuilder`` sample before it
    returns; until :attr:`live` is set that ping is answered with the sample output unscored, so
    deploying never scores (for fraud: never pushes) a made-up transaction."""

    def __init__(self, use_case: str, root: str, version: str, sample_output: dict):
        self.use_case, self.root, self.version, self.sample_output = use_case, root, version, sample_output
        self.live = False

    def load(self, model_dir):
        ws = Workspace(Path(self.root))
        return fixed_champion(runtime.load_version(self.use_case, ws, self.version), ws)

    def invoke(self, input_object, model):
        if not self.live:
            return self.sample_output
        return answer(self.use_case, model, input_object, model.ws)
