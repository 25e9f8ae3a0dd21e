"""The MLflow pyfunc flavour of a Pomona model: a thin adapter around :func:`models.scoring.score`."""

from __future__ import annotations

import pickle

import mlflow.pyfunc
import pandas as pd

from models.scoring import ModelBundle, score


class PomonaModel(mlflow.pyfunc.PythonModel):
    """Loads the pickled :class:`ModelBundle` and scores feature frames with the shared path."""

    def load_context(self, context) -> None:
        with open(context.artifacts["bundle"], "rb") as fh:
            self.bundle: ModelBundle = pickle.load(fh)

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        return score(self.bundle, to_frame(model_input), **(params or {}))


def to_frame(model_input) -> pd.DataFrame:
    """Accept a DataFrame or a list of dict rows (what a JSON request decodes to)."""
    if isinstance(model_input, pd.DataFrame):
        frame = model_input
    else:
        frame = pd.DataFrame(list(model_input))
    if "event_timestamp" in frame.columns:
        ts = pd.to_datetime(frame["event_timestamp"])
        frame = frame.assign(event_timestamp=ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC"))
    return frame


def load_bundle(model_uri: str) -> ModelBundle:
    """The bundle inside a logged model (for evaluation without the pyfunc wrapper)."""
    model = mlflow.pyfunc.load_model(model_uri)
    return model.unwrap_python_model().bundle
