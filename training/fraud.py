"""Fraud training: temporal train / validation / test; the decision threshold is chosen on the
validation period by cost (and kept when the chosen model is refit on later data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

import features
from models.scoring import ModelBundle, score
from pomona.data.fraud import IS_FRAUD
from pomona.errors import PomonaError
from pomona.schemas import TS
from training import metrics, plots, splits
from training.common import Data, model_input, require_rows
from training.config import Strict, TrainConfig


class Costs(Strict):
    missed_fraud: float = Field(100.0, gt=0)
    false_alarm: float = Field(5.0, gt=0)
    review_fraction: float = Field(0.5, gt=0.0, le=1.0)  # review band starts at threshold * this


class Config(TrainConfig):
    """Fraud's training config: the generic one plus the cost model that sets the threshold."""

    costs: Costs = Costs()


PRIMARY = "pr_auc"
LABEL = IS_FRAUD
BASELINE = "logistic"  # scored on the test period next to the chosen model
# Columns a reference protocol leaves out (the claim year encodes the split itself).
PROTOCOL_EXCLUDE = {"vehicle-insurance-fraud": ["Year"]}
# Reference protocols of the public datasets (see ../shared/data/README.md).
REFERENCE_TEST_START = {"vehicle-insurance-fraud": "1996-01-01"}


def prepare(ws, cfg, manifest) -> Data:
    frame = require_rows(features.training_frame("fraud", ws=ws), "fraud")
    frame = frame.sort_values([TS, "transaction_id"], kind="stable").reset_index(drop=True)
    drop = [c for c in [*cfg.exclude_features, *PROTOCOL_EXCLUDE.get(manifest.dataset, [])] if c in frame.columns]
    frame = frame.drop(columns=drop)
    kind = splits.resolve(cfg.split.kind, "temporal")
    if kind != "temporal":
        raise PomonaError(f"fraud needs a temporal split, not {kind!r}")
    test_start = cfg.split.test_start or REFERENCE_TEST_START.get(manifest.dataset)
    masks = splits.temporal(frame[TS], cfg.split.test_fraction, cfg.split.validation_fraction, test_start).check("fraud")
    for name, shown in (("train", "training"), ("valid", "validation"), ("test", "test")):
        y = frame.loc[getattr(masks, name), LABEL]
        if y.nunique() < 2:
            raise PomonaError(f"the fraud {shown} period has labels of a single class ({int(y.iloc[0])}); "
                              f"a model needs both frauds and legitimate transactions (change split.*_fraction)")
    return Data(frame, masks, LABEL, f"temporal (test from {frame.loc[masks.test, TS].min():%Y-%m-%d})",
                extra={"excluded": drop})


def fit(estimator, data: Data, cfg, until: str | None = "valid", params: dict | None = None):
    """Fit on the rows before ``until``. The selection fit (``params=None``, on the training
    period) chooses the cost-minimising threshold on the validation period; a later fit (on
    training and validation, or on everything) keeps that threshold (``params``)."""
    frame = data.upto(until)
    estimator.fit(model_input(frame, LABEL), frame[LABEL].to_numpy())
    if params is None:
        if until != "valid":
            raise PomonaError("the fraud threshold is chosen on the validation period: fit until='valid' first")
        valid = data.part("valid")
        proba = estimator.predict_proba(model_input(valid, LABEL))[:, 1]
        threshold = metrics.choose_threshold(valid[LABEL].to_numpy(), proba, cfg.costs.missed_fraud,
                                             cfg.costs.false_alarm)
        params = {"threshold": float(threshold), "review_threshold": float(threshold * cfg.costs.review_fraction)}
    estimator.set_threshold(params["threshold"])
    return estimator, dict(params)


def units(bundle: ModelBundle, data: Data, cfg, part: str) -> pd.DataFrame:
    """One row per transaction of ``part``: label ``y`` and probability ``p`` (see :func:`statistic`)."""
    rows = data.part(part)
    out = score(bundle, model_input(rows, LABEL))
    return pd.DataFrame({"y": rows[LABEL].to_numpy(), "p": out["fraud_probability"].to_numpy()})


def statistic(units: pd.DataFrame) -> float:
    """The primary metric (PR AUC, average precision) of a sample of transactions."""
    return metrics.average_precision(units["y"].to_numpy(), units["p"].to_numpy())


def evaluate(bundle: ModelBundle, data: Data, cfg, part: str = "test"):
    u = units(bundle, data, cfg, part)
    y, p = u["y"].to_numpy(), u["p"].to_numpy()
    threshold = bundle.params["threshold"]
    m = metrics.binary_metrics(y, p, threshold, cfg.costs.missed_fraud, cfg.costs.false_alarm)
    if part != "test":
        return m, {}
    t, c = metrics.cost_curve(y, p, cfg.costs.missed_fraud, cfg.costs.false_alarm)
    figs = {"plots/precision_recall.png": plots.precision_recall(y, p, threshold, "precision-recall (test)"),
            "plots/calibration.png": plots.calibration(y, p, "calibration (test)"),
            "plots/cost_by_threshold.png": plots.cost_curve(np.clip(t, 1e-6, None), c, threshold, "cost (test)")}
    imp = getattr(bundle.estimator, "feature_importances_", None)
    if isinstance(imp, pd.Series):
        figs["plots/feature_importance.png"] = plots.feature_importance(imp, "feature importance")
    return m, figs


def example(data: Data):
    return model_input(data.part("test").head(5), LABEL), None
