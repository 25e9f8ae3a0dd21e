"""Figures logged with every candidate (matplotlib, no display)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def ndcg_by_cutoff(curve: dict[int, float], title: str):
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ks = sorted(curve)
    ax.plot(ks, [curve[k] for k in ks], marker="o")
    ax.set(xlabel="cut-off k", ylabel="NDCG@k", title=title, ylim=(0, 1))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def feature_importance(importance: pd.Series, title: str, top: int = 20):
    imp = importance.sort_values(ascending=True).tail(top)
    fig, ax = plt.subplots(figsize=(6, 0.25 * len(imp) + 1))
    ax.barh(imp.index.astype(str), imp.to_numpy())
    ax.set(xlabel="importance (gain)", title=title)
    fig.tight_layout()
    return fig


def precision_recall(y: np.ndarray, proba: np.ndarray, threshold: float, title: str):
    from sklearn.metrics import precision_recall_curve

    p, r, t = precision_recall_curve(y, proba)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(r, p)
    i = min(np.searchsorted(t, threshold), len(t) - 1) if len(t) else 0
    ax.scatter([r[i]], [p[i]], color="red", zorder=3, label=f"threshold {threshold:.3f}")
    ax.axhline(y.mean(), color="grey", ls="--", lw=1, label=f"base rate {y.mean():.4f}")
    ax.set(xlabel="recall", ylabel="precision", title=title, xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def calibration(y: np.ndarray, proba: np.ndarray, title: str, bins: int = 10):
    from sklearn.calibration import calibration_curve

    frac, mean = calibration_curve(y, proba, n_bins=bins, strategy="quantile")
    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1)
    ax.plot(mean, frac, marker="o")
    ax.set(xlabel="predicted probability", ylabel="observed positive rate", title=title)
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_yscale("symlog", linthresh=0.01)
    fig.tight_layout()
    return fig


def cost_curve(thresholds: np.ndarray, costs: np.ndarray, chosen: float, title: str):
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(thresholds, costs)
    ax.axvline(chosen, color="red", ls="--", lw=1, label=f"chosen {chosen:.3f}")
    ax.set(xlabel="threshold", ylabel="expected cost per transaction", title=title, xscale="log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def forecasts(history: pd.DataFrame, actual: pd.DataFrame, fc: pd.DataFrame, title: str, n: int = 4):
    """Actuals against forecasts with intervals for ``n`` sample series."""
    ids = list(pd.unique(fc["series_id"]))[:n]
    fig, axes = plt.subplots(len(ids), 1, figsize=(8, 2.2 * len(ids)), squeeze=False)
    for ax, sid in zip(axes[:, 0], ids):
        h = history[history["series_id"] == sid].tail(4 * max(len(fc[fc["series_id"] == sid]), 1))
        a = actual[actual["series_id"] == sid]
        f = fc[fc["series_id"] == sid]
        ax.plot(h["event_timestamp"], h["y"], color="black", lw=1, label="history")
        ax.plot(a["event_timestamp"], a["y"], color="black", lw=1, ls=":", label="actual")
        ax.plot(f["event_timestamp"], f["yhat"], color="tab:blue", label="forecast")
        ax.fill_between(f["event_timestamp"], f["yhat_lower"], f["yhat_upper"], color="tab:blue", alpha=0.2,
                        label="90% interval")
        ax.set_title(f"{title}: {sid}", fontsize=9)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig
