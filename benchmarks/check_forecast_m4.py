"""Forecasters on M4 Hourly (414 series, h = 48, m = 24) with the official metrics.

    .venv/bin/python benchmarks/check_forecast_m4.py [--folder ../shared/data/forecasting/m4-hourly]

Every series gets synthetic hourly timestamps from 2000-01-01 00:00 (only hour of day
matters: it is the position mod 24, as in the importer). Metrics as in the M4 competition:
sMAPE = mean(200 |y - f| / (|y| + |f|)); MASE scaled by the in-sample mean
|x_t - x_{t-24}|; OWA = (sMAPE / 18.383 + MASE / 2.395) / 2 on the means over series
(the denominators are Naive2's official Hourly scores). Official seasonal naive:
sMAPE 13.912, MASE 1.193, OWA 0.627. The product's floor for LGBMForecaster is OWA <= 0.60.
coverage_90 is the share of test values inside the 90% interval.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from models.forecasting import LGBMForecaster, SeasonalNaive
from pomona.data.importers.m4 import read_wide
from pomona.schemas import SERIES_ID, TS, Y

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "forecasting" / "m4-hourly"
H, M = 48, 24
SMAPE_NAIVE2, MASE_NAIVE2 = 18.383, 2.395
FLOOR = 0.60


def load(folder: Path) -> tuple[pd.DataFrame, np.ndarray, list[np.ndarray]]:
    """Long training frame, test values (series, H) and each series' training values."""
    train, test = read_wide(folder / "Hourly-train.csv"), read_wide(folder / "Hourly-test.csv")
    assert (train.ids == test.ids).all()
    values = [train.values[i, :n] for i, n in enumerate(train.lengths)]
    start = pd.Timestamp("2000-01-01", tz="UTC")
    frame = pd.DataFrame({
        SERIES_ID: np.repeat(train.ids, train.lengths),
        TS: np.concatenate([start + pd.to_timedelta(np.arange(len(v)), unit="h") for v in values]),
        Y: np.concatenate(values),
    })
    return frame, test.values[:, :H], values


def scores(history: list[np.ndarray], actual: np.ndarray, forecast: np.ndarray,
           lower: np.ndarray, upper: np.ndarray) -> dict:
    smape = np.mean(200 * np.abs(actual - forecast) / (np.abs(actual) + np.abs(forecast)), axis=1)
    scale = np.array([np.mean(np.abs(v[M:] - v[:-M])) for v in history])
    mase = np.mean(np.abs(actual - forecast), axis=1) / scale
    owa = 0.5 * (smape.mean() / SMAPE_NAIVE2 + mase.mean() / MASE_NAIVE2)
    coverage = np.mean((actual >= lower) & (actual <= upper))
    return dict(smape=smape.mean(), mase=mase.mean(), owa=owa, coverage_90=coverage)


def models() -> dict:
    return {
        "SeasonalNaive": SeasonalNaive(season_length=M, freq="h"),
        "LGBMForecaster": LGBMForecaster(season_length=M, freq="h", max_horizon=H),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=DEFAULT)
    args = parser.parse_args()
    frame, actual, history = load(args.folder)
    ids = pd.unique(frame[SERIES_ID])
    print(f"{len(ids)} series, {len(frame)} training rows, h = {H}")
    print(f"{'model':16s} {'smape':>7s} {'mase':>6s} {'owa':>6s} {'cov_90':>6s} {'fit_s':>6s}")
    for name, model in models().items():
        t0 = time.perf_counter()
        model.fit(frame)
        fit_s = time.perf_counter() - t0
        fc = model.predict(H, level=90).set_index(SERIES_ID).loc[ids]
        get = lambda c, fc=fc: fc[c].to_numpy().reshape(len(ids), H)  # noqa: E731
        s = scores(history, actual, get("yhat"), get("yhat_lower"), get("yhat_upper"))
        print(f"{name:16s} {s['smape']:7.3f} {s['mase']:6.3f} {s['owa']:6.3f} {s['coverage_90']:6.3f} {fit_s:6.1f}")


if __name__ == "__main__":
    main()
