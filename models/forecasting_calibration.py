"""Conformal calibration of a forecaster's own intervals, pooled over series.

A local model's interval (ETS, Theta, ARIMA, seasonal naive) assumes the model is right; on
short or changing series it under-covers (DynamicOptimizedTheta's 90% interval held 0.69 of
M3 Yearly's test values). Split conformal prediction corrects it with the data the model was
fit on and nothing else: hold out the last ``h`` steps of every series long enough to spare
them, fit the same model on the rest, and score each held-out value by how far outside its
own interval it fell, in units of that interval's half-width on its side::

    s = (y - yhat) / (upper - yhat)   if y >= yhat,   (yhat - y) / (yhat - lower)   otherwise

The scores are pooled over series and steps (one 14-point yearly series has no room for
windows of its own; thousands of them together do). A ``level``% interval is then the model's
own interval with each side scaled by the conformal quantile of the scores
(``ceil((n + 1) * level / 100)``-th smallest), so the model keeps the shape of its interval
(asymmetric, growing with the step) and the data set its width; any level is served from the
same scores. Fewer scores than the level needs leave the model's own interval.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.base import clone

from models.forecasting_cache import fit_once
from pomona.schemas import SERIES_ID, TS, Y

__all__ = ["MAX_SERIES", "calibrate", "conformal_scores", "holdout", "scale_for", "widen"]

MAX_SERIES = 1000  # series held out for calibration at most (a fixed, seeded draw beyond it)
INTERVALS = ("conformal", "native")


def holdout(sizes: pd.Series, season_length: int, steps: int | None, windows: int = 1) -> tuple[int, pd.Index]:
    """The steps ``h`` to hold out per window and the series long enough for ``windows`` of them.

    ``h`` is ``steps`` (the forecaster's ``horizon``, else its ``max_horizon``; ``season_length``
    when None), cut so that the median series keeps ``max(2 * season_length, 8)`` values before
    the first origin (two seasons: ETS and MSTL fail on a handful of values); the eligible
    series keep at least that many. ``h`` 0: none."""
    m = max(int(season_length), 1)
    min_train = max(2 * m, 8)
    wanted = int(steps) if steps is not None else m
    h = int(max(0, min(wanted, (np.median(sizes) - min_train) // windows))) if len(sizes) else 0
    return h, (sizes[sizes >= min_train + windows * h].index if h else sizes.index[:0])


def conformal_scores(estimator, X: pd.DataFrame) -> np.ndarray:
    """The sorted nonconformity scores of ``estimator``'s own intervals (module docstring).

    ``estimator`` is a forecaster with ``intervals``, ``season_length``, ``horizon``,
    ``max_horizon`` and ``level``; a copy with ``intervals="native"`` is fit (once per process,
    :func:`fit_once`) on ``X`` (long, sorted by series and time) without each eligible
    series' last ``h`` steps (:func:`holdout`) and forecasts them. The calibration fit is shorter
    than the final one by ``h``, so its errors are a little larger: the intervals err wide.
    Empty when no series can spare a window."""
    sizes = X.groupby(SERIES_ID, sort=False).size()
    h, eligible = holdout(sizes, estimator.season_length, steps(estimator))
    if not len(eligible):
        return np.empty(0)
    if len(eligible) > MAX_SERIES:
        eligible = pd.Index(np.sort(np.random.default_rng(0).choice(np.asarray(eligible), MAX_SERIES, replace=False)))
    rows = X[SERIES_ID].isin(eligible).to_numpy()
    from_end = X.groupby(SERIES_ID, sort=False).cumcount(ascending=False).to_numpy()
    head, held = X[rows & (from_end >= h)], X[rows & (from_end < h)]
    model = fit_once(clone(estimator).set_params(intervals="native"), head)
    got = model.predict(h, X_future=held, level=estimator.level, series=np.asarray(eligible))
    both = held[[SERIES_ID, TS, Y]].merge(got, on=[SERIES_ID, TS], how="inner", validate="one_to_one")
    y, yhat = both[Y].to_numpy(), both["yhat"].to_numpy()
    above = y >= yhat
    side = np.where(above, both["yhat_upper"].to_numpy() - yhat, yhat - both["yhat_lower"].to_numpy())
    miss = np.abs(y - yhat)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(miss == 0, 0.0, miss / side)  # a zero-width side that missed: infinitely far
    scores = np.where(np.isnan(scores) | (side < 0), np.inf, scores)
    return np.sort(scores)


def steps(estimator) -> int | None:
    """The steps a forecaster holds out: its ``horizon`` (the steps that matter most: the
    training job sets the evaluation horizon), else its ``max_horizon``."""
    return estimator.horizon if estimator.horizon is not None else estimator.max_horizon


def calibrate(estimator, X: pd.DataFrame) -> None:
    """Set a fitted forecaster's ``calibration_scores_`` (None unless its ``intervals`` are
    ``"conformal"``) and ``calibration_level_``, the level of its own interval they measure."""
    estimator.calibration_level_ = estimator.level
    estimator.calibration_scores_ = conformal_scores(estimator, X) if estimator.intervals == "conformal" else None


def scale_for(estimator, level: float) -> tuple[float | None, float]:
    """(scale, native level): how a ``level``% interval comes from a calibrated forecaster's own
    interval at the native level (the calibrated level; ``level`` itself, scale None, when the
    intervals are native or the scores are too few for ``level``)."""
    scale = factor(estimator.calibration_scores_, level) if estimator.intervals == "conformal" else None
    return scale, (level if scale is None else estimator.calibration_level_)


def factor(scores: np.ndarray | None, level: float) -> float | None:
    """The conformal scale of a ``level``% interval: the ``ceil((n + 1) * level / 100)``-th
    smallest score; None (keep the model's own interval) without enough scores for the level."""
    if scores is None or not len(scores):
        return None
    k = math.ceil((len(scores) + 1) * level / 100.0)
    return None if k > len(scores) or not np.isfinite(scores[k - 1]) else float(scores[k - 1])


def widen(yhat: np.ndarray, lower: np.ndarray, upper: np.ndarray, scale: float | None):
    """(lower, upper) with each side's distance from ``yhat`` multiplied by ``scale`` (None: as is)."""
    if scale is None:
        return lower, upper
    return yhat - scale * (yhat - lower), yhat + scale * (upper - yhat)


def check(intervals: str) -> None:
    if intervals not in INTERVALS:
        raise ValueError(f"intervals must be one of {', '.join(INTERVALS)}, got {intervals!r}")
