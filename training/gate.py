"""The promotion gate: promote signal, not noise.

A challenger replaces the champion only when a paired bootstrap of the primary metric says
that it is better by more than a relative ``margin`` with the configured confidence, and no
guard metric worsens beyond its tolerance. A pure function of the two models' evaluation
units: no MLflow, no I/O (the job scores both models; :mod:`training.registry` moves the alias).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from pomona.errors import PomonaError

__all__ = ["LOWER_IS_BETTER", "TARGETS", "Decision", "decide", "improvement", "direction"]

LOWER_IS_BETTER = {"mase", "smape", "owa", "wape", "expected_cost"}
TARGETS = {"coverage_90": 0.90}  # closer to the target is better


def improvement(metric: str, a: float, b: float) -> float:
    """How much better ``a`` is than ``b`` on ``metric``, in the metric's units (positive = better)."""
    if metric in TARGETS:
        return abs(b - TARGETS[metric]) - abs(a - TARGETS[metric])
    return (b - a) if metric in LOWER_IS_BETTER else (a - b)


def direction(metric: str) -> str:
    """How ``metric`` is read, in words, for a reason: '' (higher is better) or a note."""
    if metric in TARGETS:
        return f" (closest to {TARGETS[metric]:g} is better)"
    return " (lower is better)" if metric in LOWER_IS_BETTER else ""


@dataclass(frozen=True)
class Decision:
    """The gate's verdict.

    ``difference`` is the challenger's improvement over the champion on the primary metric, in
    the metric's units (positive = better, whatever the metric's direction), and ``low``/``high``
    its bootstrap confidence interval; all three are None when no comparison was made (first
    model, undefined metric, a changed feature contract)."""

    promote: bool
    reason: str
    difference: float | None = None
    low: float | None = None
    high: float | None = None


def _check_units(challenger: pd.DataFrame, champion: pd.DataFrame) -> None:
    """Raise unless both frames describe the same units in the same order: same length, index
    and columns, and the same values in every column that is not floating point (unit ids,
    labels); floating columns hold each model's scores and may differ."""
    if len(challenger) != len(champion):
        raise PomonaError(f"the gate compares the same evaluation units, but the challenger has {len(challenger)} "
                          f"and the champion {len(champion)}")
    if len(challenger) < 2:
        raise PomonaError(f"the gate needs at least 2 evaluation units, got {len(challenger)}")
    if list(challenger.columns) != list(champion.columns):
        raise PomonaError(f"the challenger's evaluation units have columns {list(challenger.columns)}, "
                          f"the champion's {list(champion.columns)}")
    if not challenger.index.equals(champion.index):
        raise PomonaError("the challenger's and the champion's evaluation units are not in the same order "
                          "(their indexes differ)")
    for col in challenger.columns:
        a, b = challenger[col], champion[col]
        if pd.api.types.is_float_dtype(a) and pd.api.types.is_float_dtype(b):
            continue
        if not a.reset_index(drop=True).equals(b.reset_index(drop=True)):
            first = int(np.flatnonzero((a != b).to_numpy())[0]) if len(a) else 0
            raise PomonaError(f"the challenger's and the champion's evaluation units differ in column {col!r} "
                              f"(first at row {first}: {a.iloc[first]!r} vs {b.iloc[first]!r}); both models "
                              f"must be scored on the same units in the same order")


def _guards(challenger: dict[str, float], champion: dict[str, float], guards: dict[str, float]) -> str | None:
    """The first guard metric that worsens beyond its absolute tolerance, as a reason, or None."""
    for metric, tol in guards.items():
        if metric not in challenger or metric not in champion:
            continue
        a, b = float(challenger[metric]), float(champion[metric])
        if math.isnan(a) and not math.isnan(b):
            return f"guard {metric} is undefined for the challenger (champion {b:.4f})"
        if not math.isnan(a) and not math.isnan(b) and -improvement(metric, a, b) > tol:
            return f"guard {metric}{direction(metric)} worsens from {b:.4f} to {a:.4f} (tolerance {tol})"
    return None


def decide(primary: str, challenger: dict[str, float], champion: dict[str, float] | None,
           challenger_units: pd.DataFrame | None, champion_units: pd.DataFrame | None,
           statistic: Callable[[pd.DataFrame], float], margin: float, guards: dict[str, float],
           *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> Decision:
    """Decide whether the challenger replaces the champion.

    Parameters
    ----------
    primary : the primary metric's name (its direction comes from :data:`LOWER_IS_BETTER`
        and :data:`TARGETS`; any other metric is higher-is-better).
    challenger, champion : point metrics of each model on the same test part; ``champion``
        None means there is no champion yet (the challenger is promoted). Used for the guards.
    challenger_units, champion_units : one row per evaluation unit (user, query, series,
        transaction), the same units in the same order for both models (checked: a
        :class:`PomonaError` otherwise).
    statistic : computes the primary metric from a frame of units (a resample of rows).
    margin : the least *relative* improvement, ``improvement / |champion value|`` (0.01 is 1%),
        that the lower confidence bound must exceed; a champion value of 0 divides by 1.
    guards : metric -> absolute tolerance: the challenger's point value may be worse than the
        champion's by at most this much.
    n_resamples, confidence, seed : the paired bootstrap (``scipy.stats.bootstrap``, percentile
        method): unit indices are resampled once per resample and both models are scored on
        the same rows, so the interval is that of the *difference*, not of two noisy values.

    A NaN primary value (either model, full sample or interval) refuses the promotion.
    """
    if champion is None:
        return Decision(True, "first model for this use case")
    if challenger_units is None or champion_units is None:
        raise PomonaError(f"the gate needs both models' evaluation units to compare them on {primary}")
    _check_units(challenger_units, champion_units)
    ours, theirs = challenger_units.reset_index(drop=True), champion_units.reset_index(drop=True)
    c, h = float(statistic(ours)), float(statistic(theirs))
    if math.isnan(c) or math.isnan(h):
        return Decision(False, f"{primary} is undefined (challenger {c}, champion {h}); not promoted")
    diff = improvement(primary, c, h)

    def paired(idx: np.ndarray) -> float:  # idx: (n_units,) resampled row positions
        return improvement(primary, float(statistic(ours.take(idx))), float(statistic(theirs.take(idx))))

    with warnings.catch_warnings():  # identical models give a degenerate distribution: (0, 0) is right
        warnings.simplefilter("ignore")
        ci = stats.bootstrap((np.arange(len(ours)),), paired, vectorized=False, method="percentile",
                             n_resamples=n_resamples, confidence_level=confidence,
                             rng=np.random.default_rng(seed)).confidence_interval
    low, high = float(ci.low), float(ci.high)
    scale = abs(h) if h else 1.0
    stated = (f"{primary}{direction(primary)} {c:.4f} vs champion {h:.4f}: {diff:+.4f} "
              f"({confidence:.0%} CI {low:+.4f} to {high:+.4f}, relative {diff / scale:+.1%}, margin {margin:.1%})")
    if math.isnan(low) or math.isnan(high):
        return Decision(False, f"{stated}; the interval is undefined (NaN in resamples); not promoted", diff, low, high)
    if low / scale <= margin:
        return Decision(False, f"{stated}; the lower bound {low / scale:+.1%} does not exceed the margin; "
                               f"not promoted", diff, low, high)
    worse = _guards(challenger, champion, guards)
    if worse is not None:
        return Decision(False, f"{stated}; but {worse}; not promoted", diff, low, high)
    return Decision(True, stated, diff, low, high)
