"""Fraud models on the vehicle-insurance data under the temporal protocol.

    .venv/bin/python benchmarks/check_fraud_vehicle.py [--path ../shared/data/fraud/vehicle-insurance/fraud_oracle.csv]

Rows come through the platform's importer (``PolicyNumber`` dropped, ``event_timestamp``
rebuilt from the claim date) and are sorted by time, as the training job passes them.
Train on 1994-1995, test on 1996. ``Year`` is excluded: it encodes the period itself.
The product's floor is PR-AUC >= 0.15 for ``LGBMFraud`` on 1996 (README: LightGBM 0.145,
one-hot logistic regression 0.097). Metrics come from scikit-learn directly. The models'
defaults were chosen on validation only (``benchmarks/tune_defaults.py vehicle``: the last 20%
of 1994-1995); this script scores 1996 once, for information, and chooses nothing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sklearn.metrics import average_precision_score, roc_auc_score

from models.fraud import LGBMFraud, LogisticFraud
from pomona.data.fraud import IS_FRAUD
from pomona.data.importers.fraud_csv import vehicle_transactions
from pomona.schemas import TS

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "fraud" / "vehicle-insurance" / "fraud_oracle.csv"
FLOOR = 0.15


def load(path: Path):
    df = vehicle_transactions(path).sort_values(TS, kind="stable").reset_index(drop=True)
    df = df.drop(columns=["Year"])
    year = df[TS].dt.year
    return df[year <= 1995].reset_index(drop=True), df[year == 1996].reset_index(drop=True)


def models() -> dict:
    return {
        "LogisticFraud": LogisticFraud(),
        "LGBMFraud (isotonic, default)": LGBMFraud(),
        "LGBMFraud (sigmoid)": LGBMFraud(calibration="sigmoid"),
        "LGBMFraud (uncalibrated)": LGBMFraud(calibration=None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, default=DEFAULT)
    args = parser.parse_args()
    train, test = load(args.path)
    print(f"train {len(train)} rows ({train[IS_FRAUD].mean():.3%} fraud), "
          f"test {len(test)} rows ({test[IS_FRAUD].mean():.3%} fraud)")
    print(f"{'model':32s} {'pr_auc':>7s} {'roc_auc':>7s} {'mean_p':>7s} {'fit_s':>6s}")
    results = {}
    for name, model in models().items():
        t0 = time.perf_counter()
        model.fit(train, train[IS_FRAUD])
        fit_s = time.perf_counter() - t0
        p = model.predict_proba(test)[:, 1]
        pr, roc = average_precision_score(test[IS_FRAUD], p), roc_auc_score(test[IS_FRAUD], p)
        results[name] = pr
        print(f"{name:32s} {pr:7.3f} {roc:7.3f} {p.mean():7.3f} {fit_s:6.2f}")
        if name.startswith("LGBMFraud (isotonic"):  # what isotonic's ties alone would cost
            margin = model.booster_.predict(model._frame(test[model.features_in_]), raw_score=True)
            q = model.calibrator_.predict(margin)
            print(f"{'  isotonic without tie-break':32s} {average_precision_score(test[IS_FRAUD], q):7.3f} "
                  f"{roc_auc_score(test[IS_FRAUD], q):7.3f} {q.mean():7.3f} {'':>6s}")
    ok = results["LGBMFraud (isotonic, default)"] >= FLOOR
    print(f"floor pr_auc >= {FLOOR} for LGBMFraud: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
