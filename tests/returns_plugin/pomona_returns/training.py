"""Train on the past, validate on the end of it, test on the last fifth of the year."""

import pandas as pd
from sklearn.metrics import roc_auc_score

import features
from models.scoring import score
from pomona.schemas import TS
from training import splits
from training.common import Data, model_input, require_rows

PRIMARY = "roc_auc"
LABEL = "returned"
BASELINE = None


def prepare(ws, cfg, manifest) -> Data:
    frame = require_rows(features.training_frame("returns", ws=ws), "returns").sort_values(TS, kind="stable")
    frame = frame.reset_index(drop=True)
    masks = splits.temporal(frame[TS], cfg.split.test_fraction, cfg.split.validation_fraction).check("returns")
    return Data(frame, masks, LABEL, "temporal")


def fit(estimator, data: Data, cfg, until="valid", params=None):
    rows = data.upto(until)
    return estimator.fit(model_input(rows, LABEL), rows[LABEL]), dict(params or {})


def units(bundle, data: Data, cfg, part: str) -> pd.DataFrame:
    rows = data.part(part)
    proba = score(bundle, model_input(rows, LABEL))["return_probability"]
    return pd.DataFrame({"y": rows[LABEL].to_numpy(), "p": proba.to_numpy()})


def statistic(units: pd.DataFrame) -> float:
    return float(roc_auc_score(units["y"], units["p"]))


def evaluate(bundle, data: Data, cfg, part="test"):
    return {"roc_auc": statistic(units(bundle, data, cfg, part))}, {}


def example(data: Data):
    return model_input(data.part("test").head(5), LABEL), None
