"""Forecasters built from other registered forecasters (``models.forecasting.CANDIDATES``):
a combination (median or mean of the members) and a per-series choice among the members
and their combination, chosen by rolling-origin cross-validation inside the fit data.

Members are named as configs name candidates and built like the training job builds them
(``CANDIDATES[name]()`` then ``set_params``); the ensemble passes on its ``freq``,
``season_length``, ``max_horizon``, ``horizon`` and ``level`` to every member that has them,
then the member's own ``member_params``. A member that uses exogenous inputs (the global LightGBM)
gets ``X_future``; the ensemble's ``exog_`` is the union of its members'.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models import forecasting_calibration as calibration
from models.forecasting_base import _Forecaster
from models.forecasting_cache import fit_once
from pomona.schemas import SERIES_ID, TS, Y

__all__ = ["COMBINATION", "Combination", "PerSeriesChoice"]

COMBINATION = "combination"  # PerSeriesChoice's name for the members' combination
BOUNDS = ["yhat", "yhat_lower", "yhat_upper"]
SHARED = ("freq", "season_length", "max_horizon", "horizon", "level")
DEFAULT_MEMBERS = ("auto_ets", "dynamic_theta", "auto_ces")


def _candidates() -> dict:
    from models.forecasting import CANDIDATES  # lazily: models.forecasting registers this module's classes

    return CANDIDATES


class _Ensemble(_Forecaster):
    """Building, fitting and combining members (subclasses declare the parameters)."""

    def _check(self) -> None:
        if self.how not in ("median", "mean"):
            raise ValueError(f"how must be 'median' or 'mean', got {self.how!r}")
        members = list(self.members)
        known = _candidates()
        unknown = [m for m in members if m not in known]
        if not members or unknown or len(set(members)) < len(members):
            raise ValueError(f"members must be distinct candidate names ({', '.join(known)}); got {members}")
        extra = sorted(set(self.member_params or {}) - set(members))
        if extra:
            raise ValueError(f"member_params names {extra}, which are not members {members}")

    def _member(self, name: str, point_only: bool = False, **override):
        """A fresh, configured member (``override``: shared params to use instead of ours;
        ``point_only``: without the fits that only its intervals need, ``POINT_ONLY``)."""
        est = _candidates()[name]()
        params = est.get_params()
        shared = {k: override.get(k, getattr(self, k)) for k in SHARED if k in params}
        est.set_params(**{k: v for k, v in shared.items() if v is not None})
        est.set_params(**(self.member_params or {}).get(name, {}))
        return est.set_params(**getattr(est, "POINT_ONLY", {})) if point_only else est

    def _fit_members(self, X: pd.DataFrame, point_only: bool = False, **override) -> dict:
        """Each member fit on ``X`` (a fit this process already made on equal data is reused:
        the job fits the same models alone, as candidates, and their conformal calibration
        fits the point-only members of the per-series cross-validation)."""
        return {name: fit_once(self._member(name, point_only, **override), X) for name in self.members}

    def _fit_ensemble(self, X: pd.DataFrame, y=None) -> pd.DataFrame:
        """Checks, the common fitted state and ``members_`` fit on all of ``X``; returns the long X."""
        self._check()
        X = self._long(X, y)
        self._fit_common(X)
        self.members_ = self._fit_members(X)
        self.exog_ = list(dict.fromkeys(c for est in self.members_.values() for c in est.exog_))
        limits = [est.max_horizon_ for est in self.members_.values() if est.max_horizon_ is not None]
        self.max_horizon_ = min(limits) if limits else None
        return X

    def _member_predict(self, est, h: int, X_future, level, sel) -> pd.DataFrame:
        return est.predict(h, X_future=X_future if est.exog_ else None, level=level, series=sel)

    def _combined(self, members: dict, h: int, X_future, level, sel) -> pd.DataFrame:
        """The ``how`` aggregate of the members' forecasts and bounds, step by step."""
        outs = [self._member_predict(members[name], h, X_future, level, sel) for name in self.members]
        first = outs[0]
        for o in outs[1:]:
            if not (np.array_equal(o[TS].to_numpy(), first[TS].to_numpy())
                    and np.array_equal(o[SERIES_ID].to_numpy(), first[SERIES_ID].to_numpy())):
                raise RuntimeError("members forecast different (series, step) rows; they were fit on different data")
        stacked = np.stack([o[BOUNDS].to_numpy(dtype="float64") for o in outs])  # (member, row, bound)
        out = first[[SERIES_ID, TS]].copy()
        out[BOUNDS] = np.median(stacked, axis=0) if self.how == "median" else np.mean(stacked, axis=0)
        return out

    def boosters(self) -> tuple:
        """The LightGBM boosters of members that have them (serving pins them to one thread)."""
        return tuple(b for est in getattr(self, "members_", {}).values() if hasattr(est, "boosters")
                     for b in est.boosters())


class Combination(_Ensemble):
    """The ``how`` (median or mean) of the members' forecasts, every series and step.

    Every member in ``members`` (candidate names) is fit on the same data; ``yhat`` is the
    aggregate of the members' ``yhat`` and each bound the same aggregate of their bounds at
    ``level``. ``members_``: name -> fitted member. ``max_horizon_``: the smallest of the
    members' (None if none has one).
    """

    def __init__(self, members: tuple[str, ...] = DEFAULT_MEMBERS, how: str = "median",
                 member_params: dict | None = None, season_length: int = 7, freq: str = "D",
                 max_horizon: int | None = None, horizon: int | None = None, level: int = 90):
        self.members = members
        self.how = how
        self.member_params = member_params
        self.season_length = season_length
        self.freq = freq
        self.max_horizon = max_horizon
        self.horizon = horizon
        self.level = level

    def fit(self, X: pd.DataFrame, y=None):
        """Fit every member on ``X``; returns self."""
        self._fit_ensemble(X, y)
        return self

    def predict(self, h: int, X_future: pd.DataFrame | None = None, level: int | None = None,
                series=None) -> pd.DataFrame:
        """Combined forecasts for h steps per series (all, or the ids in ``series``) with
        ``level``% intervals (default: the fitted level)."""
        h = self._check_h(h)
        level = self.level if level is None else level
        return self._finish(self._combined(self.members_, h, X_future, level, self._select(series)))


class PerSeriesChoice(_Ensemble):
    """Each series forecast by the member (or the members' combination) that forecast it best.

    Rolling-origin cross-validation inside the data given to :meth:`fit`, and nothing else:
    for origins k = 1..``windows`` the last ``k * h`` steps of each series are held out, the
    members are fit on the rest and forecast the next ``h`` steps; a series' choice is the
    one with the lowest mean absolute error over all windows (ties: the first in
    ``members``, then ``"combination"`` when ``include_combination``). ``h`` is
    ``horizon`` (else ``max_horizon``; ``season_length`` when None), cut so that the median series keeps
    ``max(2 * season_length, 8)`` values before the first origin. Series shorter than that
    plus ``windows * h`` take part in no window and get the combination, as does every series
    when no window fits. Then every member is refit on all of the data.

    Fitted: ``choice_`` (series id -> member name or ``"combination"``), ``cv_mae_`` (series
    x choice, NaN for series in no window), ``cv_horizon_`` (the ``h`` used, 0 for none) and
    ``members_``. ``predict`` runs only the members the asked series need.
    """

    def __init__(self, members: tuple[str, ...] = DEFAULT_MEMBERS, include_combination: bool = True,
                 how: str = "median", windows: int = 2, member_params: dict | None = None,
                 season_length: int = 7, freq: str = "D", max_horizon: int | None = None,
                 horizon: int | None = None, level: int = 90):
        self.members = members
        self.include_combination = include_combination
        self.how = how
        self.windows = windows
        self.member_params = member_params
        self.season_length = season_length
        self.freq = freq
        self.max_horizon = max_horizon
        self.horizon = horizon
        self.level = level

    def fit(self, X: pd.DataFrame, y=None):
        """Choose per series by cross-validation on ``X``, then fit every member on ``X``; returns self."""
        if int(self.windows) != self.windows or self.windows < 1:
            raise ValueError(f"windows must be a positive integer, got {self.windows!r}")
        X = self._fit_ensemble(X, y)
        choices = [*self.members, COMBINATION] if self.include_combination else list(self.members)
        self.cv_mae_, self.cv_horizon_ = self._cross_validate(X, choices)
        errors = self.cv_mae_.to_numpy()
        tried = ~np.isnan(errors).all(axis=1)
        best = np.argmin(np.where(np.isnan(errors), np.inf, errors), axis=1)  # first of equals
        self.choice_ = pd.Series(np.where(tried, np.asarray(choices, dtype=object)[best], COMBINATION),
                                 index=self.series_, name="choice")
        return self

    def _cross_validate(self, X: pd.DataFrame, choices: list[str]) -> tuple[pd.DataFrame, int]:
        """Mean absolute error (series x choice) over the rolling origins, and their horizon."""
        windows = int(self.windows)
        sizes = X.groupby(SERIES_ID, sort=False).size().reindex(self.series_)
        h, eligible = calibration.holdout(sizes, self.season_length, calibration.steps(self), windows)
        sums = pd.DataFrame(0.0, index=self.series_, columns=choices)
        counts = pd.Series(0, index=self.series_)
        if len(eligible):
            from_end = X.groupby(SERIES_ID, sort=False).cumcount(ascending=False).to_numpy()
            rows = X[SERIES_ID].isin(eligible).to_numpy()
            sel = np.asarray(eligible)
            for k in range(1, windows + 1):
                head = X[rows & (from_end >= k * h)]
                held = X[rows & (from_end >= (k - 1) * h) & (from_end < k * h)]
                members = self._fit_members(head, point_only=True, max_horizon=max(h, self.max_horizon or 0))
                preds = {name: self._member_predict(members[name], h, held, self.level, sel) for name in self.members}
                if COMBINATION in choices:
                    preds[COMBINATION] = self._combined(members, h, held, self.level, sel)
                actual = held[[SERIES_ID, TS, Y]]
                for name in choices:
                    both = actual.merge(preds[name][[SERIES_ID, TS, "yhat"]], on=[SERIES_ID, TS], how="left")
                    err = (both[Y] - both["yhat"]).abs().fillna(np.inf)  # a missing forecast is never best
                    err = err.groupby(both[SERIES_ID], sort=False).sum()
                    sums[name] = sums[name].add(err.reindex(self.series_).fillna(0.0))
                counts = counts.add(actual.groupby(SERIES_ID, sort=False).size().reindex(self.series_).fillna(0))
        mae = sums.div(counts.where(counts > 0), axis=0)  # NaN where a series took part in no window
        return mae, h

    def predict(self, h: int, X_future: pd.DataFrame | None = None, level: int | None = None,
                series=None) -> pd.DataFrame:
        """Forecasts for h steps per series (all, or the ids in ``series``), each from its
        choice, with ``level``% intervals (default: the fitted level)."""
        h = self._check_h(h)
        level = self.level if level is None else level
        sel = self._select(series)
        out = self.future_index(h, sel)
        chosen = self.choice_.reindex(sel).to_numpy()
        rows = np.repeat(chosen, h)
        values = np.full((len(out), len(BOUNDS)), np.nan)
        for c in pd.unique(chosen):
            ids = sel[chosen == c]
            part = (self._combined(self.members_, h, X_future, level, ids) if c == COMBINATION
                    else self._member_predict(self.members_[c], h, X_future, level, ids))
            values[rows == c] = part[BOUNDS].to_numpy(dtype="float64")
        out[BOUNDS] = values
        return self._finish(out)
