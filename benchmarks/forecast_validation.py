"""Forecasting candidates on the validation windows of an M4-format dataset: the study behind
the forecasting defaults. Only ``*-train.csv`` is read; the test file is never opened.

    .venv/bin/python benchmarks/forecast_validation.py ../shared/data/forecasting/m3-quarterly \\
        [--windows 1,2] [--candidates '{"lightgbm": {}, "ets": {"estimator": "auto_ets"}}']

Window k holds out the k-th horizon from the end of each training series (window 1 is the
training job's validation part; window 2 the horizon before it, a check against choosing on
noise); each candidate is fit on what comes before it and scored with the job's own metrics
(``training.metrics.forecast_metrics``: M4's sMAPE, MASE and OWA, coverage of the 90% interval).
Candidates are written as in ``configs/forecasting.yaml`` (default: its candidate set); a
combination's members are fitted once and shared (the process fit cache). Series too short for
a window (fewer than two seasons before it) are left out of every window, and counted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.forecasting import fit_once  # noqa: E402
from pomona.data.importers.m4 import FREQUENCIES, read_wide, timestamps  # noqa: E402
from pomona.schemas import SERIES_ID, TS, Y  # noqa: E402
from training.config import load_train_config  # noqa: E402
from training.job import make_estimator  # noqa: E402
from training.metrics import forecast_metrics  # noqa: E402


def load(folder: Path, frequency: str | None) -> tuple[object, list[str], list[np.ndarray]]:
    (train_csv,) = sorted(folder.glob("*-train.csv"))
    freq = FREQUENCIES[frequency or train_csv.name.split("-")[0].lower()]
    wide = read_wide(train_csv)
    return freq, list(wide.ids), [wide.values[i, :n] for i, n in enumerate(wide.lengths)]


def window(values: list[np.ndarray], ids: list[str], freq, k: int) -> tuple[pd.DataFrame, dict, dict]:
    """Long frame before window ``k``, and each series' window values and history."""
    h = freq.horizon
    frames, actual, history = [], {}, {}
    for sid, v in zip(ids, values):
        cut = len(v) - k * h
        frames.append(pd.DataFrame({SERIES_ID: sid, TS: timestamps(freq, np.arange(cut)), Y: v[:cut]}))
        actual[sid], history[sid] = v[cut:cut + h], v[:cut]
    return pd.concat(frames, ignore_index=True), actual, history


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--frequency", help="M4 frequency name (default: from the file name)")
    ap.add_argument("--windows", default="1,2")
    ap.add_argument("--candidates", help="JSON {name: params} as in configs/forecasting.yaml")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    freq, ids, values = load(args.folder, args.frequency)
    wins = [int(w) for w in args.windows.split(",")]
    h, m = freq.horizon, freq.season_length
    long = [len(v) - max(wins) * h >= 2 * max(m, 1) for v in values]
    ids = [s for s, ok in zip(ids, long) if ok]
    values = [v for v, ok in zip(values, long) if ok]
    print(f"{args.folder.name}: {len(ids)} of {len(long)} series (h = {h}, m = {m}); windows {wins}")
    cfg = load_train_config("forecasting")
    specs = json.loads(args.candidates) if args.candidates else cfg.candidates
    rows = []
    for k in wins:
        frame, actual, history = window(values, ids, freq, k)
        for name, params in specs.items():
            est = make_estimator("forecasting", name, dict(params), args.seed)
            settings = {"freq": freq.alias, "season_length": m, "max_horizon": max(cfg.max_horizon or h, h), "horizon": h}
            est.set_params(**{p: v for p, v in settings.items() if p in est.get_params()})
            t0 = time.perf_counter()
            est = fit_once(est, frame)
            secs = time.perf_counter() - t0
            fc = est.predict(h)
            fc = {str(s): g for s, g in fc.groupby(SERIES_ID, sort=False)}
            got = forecast_metrics(actual, {s: fc[s]["yhat"].to_numpy() for s in ids}, history, m,
                                   {s: fc[s]["yhat_lower"].to_numpy() for s in ids},
                                   {s: fc[s]["yhat_upper"].to_numpy() for s in ids})
            rows.append({"window": k, "candidate": name, **{x: got[x] for x in ("smape", "mase", "owa", "coverage_90")},
                         "fit_s": secs})
            print(f"  window {k} {name}: " + ", ".join(f"{x}={rows[-1][x]:.4f}" for x in ("smape", "mase", "owa"))
                  + f" ({secs:.1f} s)", file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False, floatfmt=".4f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
