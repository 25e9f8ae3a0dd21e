"""Train on each development dataset in ../shared/data with its reference protocol, through
the platform (import -> features apply -> pomona train), and print the figures next to the
published ones: every candidate's validation figures (where the choice is made), and the test
figures of the chosen candidate and the baseline (scored once). Seeds: the mean of 3 where the
test set is small (ranking, fraud); "chosen" counts the seeds that chose the candidate.

    .venv/bin/python benchmarks/real_data.py [--data ../shared/data] [--only movielens,letor,vehicle,m4,m3q,m3y]

``--shift K`` (forecasting only) is a validation-only study: the last K official horizons of
every *training* series become the test part and the test files are never opened, so the whole
protocol (choice on the horizon before, one score after) runs K horizons earlier. With K = 1
its "test" part is the real job's validation part: it checks a selection rule against data
that the real job only uses for choosing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]

# name: (importer, relative path, use case, metrics to show, published figures, seeds)
RUNS = {
    "movielens": ("movielens-100k", "recommendations/movielens-100k", "recommendations",
                  ["ndcg_at_10", "precision_at_10", "recall_at_10", "map_at_10"],
                  {"BiVAE (best published)": [0.475, 0.412, 0.219, 0.146], "BPR (cornac)": [0.442, 0.388, 0.213, 0.132],
                   "EASE l=500 (README)": [0.489, None, None, None], "floor": [0.475, None, None, None]}, [0]),
    "letor": ("svmlight-ranking", "ranking/lightgbm-lambdarank", "ranking",
              ["ndcg_at_1", "ndcg_at_3", "ndcg_at_5", "ndcg_at_10"],
              {"LightGBM train.conf (mean of 3)": [0.588, 0.618, 0.659, 0.732], "floor": [None, None, None, 0.74]},
              [0, 1, 2]),
    "vehicle": ("vehicle-insurance-fraud", "fraud/vehicle-insurance", "fraud", ["pr_auc", "roc_auc"],
                {"LightGBM (README)": [0.145, 0.761], "logistic (README)": [0.097, 0.741], "floor": [0.15, None]},
                [0, 1, 2]),
    "m4": ("m4", "forecasting/m4-hourly", "forecasting", ["smape", "mase", "owa", "coverage_90"],
           {"seasonal naive (M4)": [13.912, 1.193, 0.627, None], "#1 Smyl ES-RNN": [9.328, 0.893, 0.440, None],
            "#2 FFORMA": [11.506, 0.819, 0.484, None], "goal": [None, None, 0.44, None]}, [0]),
    "m3q": ("m4", "forecasting/m3-quarterly", "forecasting", ["smape", "mase", "owa", "coverage_90"],
            {"seasonal naive (measured, M4 formula)": [11.07, None, None, None],
             "Theta (M3 winner, M3 paper)": [8.96, None, None, None], "N-BEATS": [8.84, None, None, None],
             "goal": [8.96, None, None, None]}, [0]),
    "m3y": ("m4", "forecasting/m3-yearly", "forecasting", ["smape", "mase", "owa", "coverage_90"],
            {"seasonal naive (measured, M4 formula)": [17.88, None, None, None],
             "Theta (M3 paper)": [16.90, None, None, None], "N-BEATS": [15.93, None, None, None],
             "goal": [15.93, None, None, None]}, [0]),
}

# Official horizon and season of the M4-format forecasting sets (for --shift, which never reads
# the test files).
HORIZONS = {"m4": (48, 24), "m3q": (8, 4), "m3y": (6, 1)}


def shifted(folder: Path, h: int, m: int, k: int, out: Path) -> Path:
    """A copy of an M4-format folder whose test part is the ``h`` values ``k`` horizons before
    the end of each training series (``*-train.csv`` only is read). Series too short for a
    validation part of ``h`` and two seasons before it are left out (and counted)."""
    out.mkdir(parents=True, exist_ok=True)
    (train_csv,) = folder.glob("*-train.csv")
    wide = pd.read_csv(train_csv)
    ids, values = wide.iloc[:, 0], wide.iloc[:, 1:].to_numpy(dtype="float64")
    lengths = (~np.isnan(values)).sum(axis=1)
    keep = lengths - k * h >= h + 2 * m
    print(f"\n{folder.name} shifted by {k} horizon(s): {keep.sum()} of {len(keep)} series are long enough")
    ids, values, lengths = ids[keep].to_numpy(), values[keep], lengths[keep]
    cut = lengths - k * h
    train = np.full_like(values, np.nan)
    test = np.empty((len(ids), h))
    for i, n in enumerate(cut):
        train[i, :n], test[i] = values[i, :n], values[i, n:n + h]
    for name, block in ((train_csv.name, train[:, :cut.max()]), (train_csv.name.replace("-train", "-test"), test)):
        frame = pd.DataFrame(block, columns=[f"V{j + 2}" for j in range(block.shape[1])])
        frame.insert(0, "V1", ids)
        frame.to_csv(out / name, index=False)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--only", default=",".join(RUNS))
    ap.add_argument("--shift", type=int, default=0, help="forecasting: score K horizons before the test part")
    ap.add_argument("--primary", help="forecasting: choose on this metric instead of the default (a study)")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="pomona-real-"))
    os.environ["POMONA_HOME"] = str(home)
    import features
    from pomona.data.importers import import_dataset
    from pomona.workspace import workspace
    from training.job import train

    if args.primary:
        import training.forecasting
        training.forecasting.PRIMARY = args.primary

    ws = workspace(home)
    for key in args.only.split(","):
        importer, rel, uc, shown, published, seeds = RUNS[key]
        path = Path(args.data) / rel
        if not path.exists():
            print(f"\n## {key}: skipped, {path} not found")
            continue
        if args.shift:
            if key not in HORIZONS:
                print(f"\n## {key}: skipped, --shift applies to the forecasting datasets")
                continue
            path = shifted(path, *HORIZONS[key], args.shift, home / f"shifted-{key}")
        t0 = time.perf_counter()
        import_dataset(ws, importer, path, force=True, verify_checksum=not args.shift)
        features.apply(ws, [uc])
        runs = [train(uc, seed=seed, ws=ws, log=lambda m: print(m, file=sys.stderr)) for seed in seeds]
        secs = time.perf_counter() - t0
        print(f"\n## {key}: {importer} -> {uc} ({len(seeds)} seed(s), {secs:.0f}s in all)\n")
        print("| model | part | chosen | " + " | ".join(shown) + " |")
        print("|---|---|---|" + "---|" * len(shown))
        for c in runs[0].candidates:
            name = c["name"]
            chosen = sum(r.winner == name for r in runs)
            for part, field in (("validation", "validation_metrics"), ("test", "metrics")):
                rows = [x[field] for r in runs for x in r.candidates if x["name"] == name and x[field]]
                if rows:
                    vals = [np.mean([row[m] for row in rows]) for m in shown]
                    print(f"| pomona {name} | {part} ({len(rows)}) | {chosen}/{len(runs)} | "
                          + " | ".join(f"{v:.4f}" for v in vals) + " |")
        for name, vals in published.items():
            print(f"| {name} | test | | " + " | ".join("" if v is None else f"{v:.3f}" for v in vals) + " |")
        n_series = features.training_frame(uc, ws=ws)["series_id"].nunique() if uc == "forecasting" else None
        print(f"\nFit time on the training part (seed {seeds[0]})" + (f", {n_series} series:" if n_series else ":"))
        for c in runs[0].candidates:
            per = f", {c['fit_seconds'] / n_series * 1000:.1f} s per 1,000 series" if n_series else ""
            print(f"- {c['name']}: {c['fit_seconds']:.1f} s{per}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
