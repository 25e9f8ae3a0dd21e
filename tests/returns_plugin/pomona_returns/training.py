"""Train on the past, test on the last fifth of the year."""

from sklearn.metrics import roc_auc_score

import features
from models.scoring import score
from pomona.schemas import TS
from training import splits
from training.common import Data, model_input, require_rows

PRIMARY = "roc_auc"
LABEL = "returned"


def prepare(ws, cfg, manifest) -> Data:
    frame = require_rows(features.training_frame("returns", ws=ws), "returns").sort_values(TS, kind="stable")
    frame = frame.reset_index(drop=True)
    masks = splits.temporal(frame[TS], cfg.split.test_fraction, cfg.split.validation_fraction).check("returns")
    return Data(frame, masks, LABEL, "temporal")


def fit(estimator, data: Data, cfg):
    train = data.part("train")
    return estimator.fit(model_input(train, LABEL), train[LABEL]), {}


def evaluate(bundle, data: Data, cfg):
    test = data.part("test")
    proba = score(bundle, model_input(test, LABEL))["return_probability"]
    return {"roc_auc": float(roc_auc_score(test[LABEL], proba))}, {}


def example(data: Data):
    return model_input(data.part("test").head(5), LABEL), None
