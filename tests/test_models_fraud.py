"""Fraud models: the estimator contract, imbalance and calibration, messy inputs, threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import shared
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import average_precision_score, roc_auc_score

from models.fraud import LGBMFraud, LogisticFraud

FAST = dict(n_estimators=120, n_jobs=1)


def make_frame(n: int = 6000, seed: int = 0) -> pd.DataFrame:
    """Fraud driven by an interaction (new device AND large amount) plus a risky channel."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3.5, 1.0, n)
    new_device = rng.random(n) < 0.3
    channel = rng.choice(["web", "app", "pos", "phone"], n, p=[0.4, 0.3, 0.2, 0.1])
    logit = -4.2 + 3.5 * (new_device & (amount > 60)) + 1.0 * (channel == "phone") + rng.normal(0, 0.3, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({
        "transaction_id": np.arange(n), "account_id": rng.integers(0, 500, n),
        "merchant_id": rng.integers(0, 50, n),
        "event_timestamp": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), unit="min"),
        "is_fraud": y, "amount": amount, "log_amount": np.log1p(amount),
        "is_new_device": new_device.astype(float), "channel": channel,
        "device_id": rng.integers(0, 10_000, n), "txn_unix": np.arange(n) * 60.0,
        "noise": rng.normal(size=n),
    })


@pytest.fixture(scope="module")
def frames():
    df = make_frame()
    return df.iloc[:4500].reset_index(drop=True), df.iloc[4500:].reset_index(drop=True)


MODELS = [LogisticFraud(), LGBMFraud(**FAST), LGBMFraud(calibration="sigmoid", **FAST),
          LGBMFraud(calibration=None, **FAST)]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: f"{type(m).__name__}-{getattr(m, 'calibration', '')}")
def test_estimator_contract(model, frames):
    train, test = frames
    params = model.get_params()
    twin = clone(model)
    assert twin.get_params() == params
    with pytest.raises(NotFittedError):
        twin.predict_proba(test)
    with pytest.raises(NotFittedError):
        twin.predict(test)
    assert twin.set_params(features=["amount", "channel"]) is twin and twin.features == ["amount", "channel"]
    assert not [k for k in vars(model) if k.endswith("_")], "learned state before fit"
    assert model.fit(train, train["is_fraud"]) is model
    learned = [k for k in vars(model) if k.endswith("_") and not k.startswith("_")]
    assert {"features_in_", "categorical_features_", "threshold_", "classes_"} <= set(learned)
    assert set(vars(model)) - set(learned) <= set(params), "fit set state not ending in _"
    assert model.get_params() == params, "fit changed hyperparameters"
    # ids and bookkeeping are never features
    assert model.features_in_ == ["amount", "log_amount", "is_new_device", "channel", "noise"]
    assert model.categorical_features_ == ["channel"]
    proba = model.predict_proba(test)
    assert proba.shape == (len(test), 2) and np.allclose(proba.sum(axis=1), 1)
    again = clone(model).fit(train, train["is_fraud"]).predict_proba(test)
    np.testing.assert_array_equal(proba, again)  # deterministic


def test_lgbm_learned_state(frames):
    train, _ = frames
    m = LGBMFraud(**FAST).fit(train, train["is_fraud"])
    assert m.categories_ == {"channel": ["app", "phone", "pos", "web"]}
    assert list(m.feature_importances_.index) == m.features_in_
    assert m.feature_importances_["noise"] < m.feature_importances_["is_new_device"]
    assert m.booster_ is not None and m.calibrator_ is not None
    assert m.threshold_ == 0.5 and list(m.classes_) == [0, 1]


def test_lgbm_beats_logistic_on_interaction(frames):
    train, test = frames
    y = test["is_fraud"]
    lr = LogisticFraud().fit(train, train["is_fraud"]).predict_proba(test)[:, 1]
    gb = LGBMFraud(**FAST).fit(train, train["is_fraud"]).predict_proba(test)[:, 1]
    assert average_precision_score(y, gb) > average_precision_score(y, lr) + 0.03
    assert roc_auc_score(y, gb) > roc_auc_score(y, lr)


@pytest.mark.parametrize("calibration", ["isotonic", "sigmoid"])
def test_probabilities_are_calibrated(calibration, frames):
    train, test = frames
    m = LGBMFraud(calibration=calibration, scale_pos_weight="auto", **FAST).fit(train, train["is_fraud"])
    p = m.predict_proba(test)[:, 1]
    base = test["is_fraud"].mean()
    assert abs(p.mean() - base) < 0.35 * base, (p.mean(), base)
    # re-weighted but uncalibrated probabilities are far too high: calibration is doing the work
    raw = LGBMFraud(calibration=None, scale_pos_weight="auto", **FAST).fit(train, train["is_fraud"])
    assert raw.predict_proba(test)[:, 1].mean() > 2 * base


def test_isotonic_keeps_ranking(frames):
    train, test = frames
    m = LGBMFraud(**FAST).fit(train, train["is_fraud"])
    p = m.predict_proba(test)[:, 1]
    margin = m.booster_.predict(m._frame(test[m.features_in_]), raw_score=True)
    assert len(np.unique(p)) == len(np.unique(margin))  # no ties from the step function
    assert roc_auc_score(test["is_fraud"], p) == pytest.approx(roc_auc_score(test["is_fraud"], margin))


@pytest.mark.parametrize("model", [LogisticFraud(), LGBMFraud(**FAST)], ids=lambda m: type(m).__name__)
def test_missing_values_and_unseen_categories(model, frames):
    train, test = frames
    train, test = train.copy(), test.copy()
    train["channel"] = train["channel"].astype(object)
    train.loc[::7, "amount"] = np.nan
    train.loc[::11, "channel"] = None
    model.fit(train, train["is_fraud"])
    test["channel"] = test["channel"].astype(object)
    test.loc[::3, "channel"] = "carrier-pigeon"  # never seen at fit
    test.loc[1::5, "channel"] = None
    test.loc[::4, "amount"] = np.nan
    p = model.predict_proba(test)[:, 1]
    assert np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()


def test_category_dtype_and_explicit_features(frames):
    train, test = frames
    train, test = train.copy(), test.copy()
    train["channel"] = train["channel"].astype("category")
    m = LGBMFraud(features=["amount", "channel"], **FAST).fit(train, train["is_fraud"])
    assert m.features_in_ == ["amount", "channel"] and m.categorical_features_ == ["channel"]
    assert m.predict_proba(test.drop(columns=["noise"])).shape == (len(test), 2)
    with pytest.raises(ValueError, match="channel"):
        m.predict_proba(test.drop(columns=["channel"]))


@pytest.mark.parametrize("model", [LogisticFraud(), LGBMFraud(**FAST)], ids=lambda m: type(m).__name__)
def test_predict_uses_threshold(model, frames):
    train, test = frames
    model.fit(train, train["is_fraud"])
    p = model.predict_proba(test)[:, 1]
    np.testing.assert_array_equal(model.predict(test), (p >= 0.5).astype(int))
    t = float(np.quantile(p, 0.9))
    assert model.set_threshold(t) is model and model.threshold_ == t
    pred = model.predict(test)
    np.testing.assert_array_equal(pred, (p >= t).astype(int))
    assert 0.05 < pred.mean() < 0.15
    with pytest.raises(ValueError):
        model.set_threshold(1.5)
    with pytest.raises(NotFittedError):
        clone(model).set_threshold(0.3)


def test_calibration_needs_both_classes():
    df = make_frame(2000)
    df.loc[1500:, "is_fraud"] = 0
    with pytest.raises(ValueError, match="calibration"):
        LGBMFraud(**FAST).fit(df, df["is_fraud"])


@pytest.mark.realdata
def test_vehicle_insurance_floor():
    """PR-AUC >= 0.15 on 1996 after training on 1994-1995 (benchmarks/check_fraud_vehicle.py)."""
    from pomona.data.importers.fraud_csv import vehicle_transactions

    df = vehicle_transactions(shared("fraud/vehicle-insurance/fraud_oracle.csv"))
    df = df.sort_values("event_timestamp", kind="stable").reset_index(drop=True).drop(columns=["Year"])
    year = df["event_timestamp"].dt.year
    train, test = df[year <= 1995], df[year == 1996]
    p = LGBMFraud(n_jobs=1).fit(train, train["is_fraud"]).predict_proba(test)[:, 1]
    assert average_precision_score(test["is_fraud"], p) >= 0.15


def test_float_matrix_predicts_as_lightgbms_pandas_path(frames):
    """predict_proba feeds LightGBM a float matrix; it must equal the booster's own pandas
    path over the categorical frame, missing and unseen values included."""
    train, test = frames
    train, test = train.copy(), test.copy()
    train["channel"] = train["channel"].astype(object)
    train.loc[::11, "channel"] = None
    train["flag"] = train["noise"] > 0  # a bool feature
    test["channel"] = test["channel"].astype(object)
    test.loc[::3, "channel"] = "carrier-pigeon"
    test.loc[1::5, "channel"] = None
    test.loc[::4, "amount"] = np.nan
    test["flag"] = test["noise"] > 0
    m = LGBMFraud(**FAST).fit(train, train["is_fraud"])
    assert "channel" in m.categorical_features_ and "flag" in m.features_in_
    cols = m._columns(test)
    np.testing.assert_array_equal(m.booster_.predict(m._matrix(cols), raw_score=True),
                                  m.booster_.predict(m._frame(cols), raw_score=True))


def test_categorical_codes_match_the_per_value_rule():
    """A categorical's code is the index of ``str(value)`` among the categories seen at fit;
    missing (None, NaN, pd.NA) and unseen values are -1, whatever the column's dtype."""
    m = LGBMFraud(**FAST)
    m.features_in_, m.categories_ = ["c"], {"c": ["1", "1.5", "True", "a", "b"]}
    columns = [pd.Series(["a", "b", None, "zz", "a", np.nan], dtype=object),
               pd.Series([1, "1", 1.5, None, True, "b"], dtype=object),
               pd.Series(pd.array([1, None, 2, 1], dtype="Int64")),
               pd.Series(["b", "a", "b"], dtype="category"),
               pd.Series([1.5, np.nan, 2.0])]
    for col in columns:
        expected = [-1 if pd.isna(v) or str(v) not in m.categories_["c"] else m.categories_["c"].index(str(v))
                    for v in col.astype(object)]
        assert m._encoded(pd.DataFrame({"c": col}))["c"].tolist() == expected, col.tolist()
