"""What the forecasters share: the long frame's conventions (Nixtla style), default lags and
windows per frequency, calendar features, the :class:`_Forecaster` base (input checks, future
index, exogenous inputs) and the seasonal naive benchmark. :mod:`models.forecasting` holds the
global LightGBM and is the module that configs and the registry name."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from pandas.tseries.offsets import Tick
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from models import forecasting_calibration as calibration
from pomona.schemas import PRODUCT_ID, SERIES_ID, SPLIT, STORE_ID, TS, Y

KEYS = (SERIES_ID, TS)
# How a forecaster gets an exogenous column's values for the steps it forecasts. KNOWN: known in
# advance (a price or promotion plan, holidays), given for every future step by whoever asks;
# CARRIED: the series' last known value, carried forward ("no announced change"). The backtest
# and serving both build a model's future inputs with :func:`future_inputs`, so a backtest sees
# exactly what serving will have at that origin.
KNOWN, CARRIED = "known", "carried"
NOT_EXOGENOUS = frozenset({SERIES_ID, TS, Y, SPLIT, STORE_ID, PRODUCT_ID})  # keys and ids are no inputs
OUTPUT = [SERIES_ID, TS, "yhat", "yhat_lower", "yhat_upper"]
FORECASTS = OUTPUT[2:]


def _step_seconds(freq: str) -> float:
    """Length of one step in seconds (calendar steps measured at 2000-01-01)."""
    t0 = pd.Timestamp("2000-01-01")
    return ((t0 + to_offset(freq)) - t0).total_seconds()


def default_lags(season_length: int, freq: str) -> list[int]:
    """1..m, then multiples of m: up to a week for sub-daily data, 4 seasons for daily, 2 otherwise;
    data slower than daily with short seasons (yearly to monthly) get every lag to
    ``max(2 * m, 6)`` (the global LightGBM's validation sMAPE on M3 Quarterly: 8.98 against 9.12
    with 1..4, 8)."""
    m = max(int(season_length), 1)
    step = _step_seconds(freq)
    if step > 86400 and 2 * m <= 24:
        return list(range(1, max(2 * m, 6) + 1))
    seasons = 7 if step < 86400 else 4 if step == 86400 else 2
    if m == 1:
        return list(range(1, 8 if step <= 86400 else 5))
    return list(range(1, m + 1)) + [k * m for k in range(2, seasons + 1)]


def default_windows(season_length: int, freq: str) -> list[int]:
    """Rolling means over one season and over the span of the default lags."""
    m = max(int(season_length), 1)
    return sorted({max(m, 2), max(default_lags(m, freq))})


def calendar(ts: pd.Series | pd.DatetimeIndex, freq: str) -> dict[str, np.ndarray]:
    """Calendar features that vary at ``freq``: hour and weekday below a day, weekday,
    day of year and month for daily data, week of year and month for weekly, month for
    monthly/quarterly; none for yearly."""
    ts = pd.DatetimeIndex(ts)
    step = _step_seconds(freq)
    out: dict[str, np.ndarray] = {}
    if step < 3600:
        out["minute"] = ts.minute.to_numpy()
    if step < 86400:
        out["hour"] = ts.hour.to_numpy()
    if step < 7 * 86400:
        out["dayofweek"] = ts.dayofweek.to_numpy()
    if 86400 <= step < 7 * 86400:
        out["dayofyear"] = ts.dayofyear.to_numpy()
    if 7 * 86400 <= step < 28 * 86400:
        out["weekofyear"] = ts.isocalendar().week.to_numpy().astype("int64")
    if 86400 <= step < 365 * 86400:
        out["month"] = ts.month.to_numpy()
    return {k: v.astype("float64") for k, v in out.items()}


def future_inputs(estimator, series, horizon: int, last_known: pd.DataFrame | None,
                  known: tuple[str, ...] | list[str] = (), plan: pd.DataFrame | None = None) -> pd.DataFrame:
    """The frame a fitted forecaster scores for ``horizon`` steps of ``series``: ``series_id``,
    ``event_timestamp`` (steps 1..horizon after each series' last fitted timestamp) and the
    model's exogenous columns. A column in ``known`` comes from ``plan`` (``series_id``,
    ``event_timestamp`` and the column, every step; missing steps raise); every other column
    is CARRIED: the series' value in ``last_known`` (indexed by series id: its last row at or
    before the model's last timestamp), 0 where there is none."""
    exog = list(getattr(estimator, "exog_", None) or [])
    series = [str(s) for s in series]
    if not exog:
        return pd.DataFrame({SERIES_ID: series})
    out = estimator.future_index(int(horizon), series)
    out[SERIES_ID] = out[SERIES_ID].astype(str)
    known = [c for c in exog if c in set(known)]
    if known:
        if plan is None or any(c not in plan.columns for c in known):
            raise ValueError(f"the inputs {known} are declared known in advance: give their values for "
                             f"every forecast step")
        right = plan[[SERIES_ID, TS, *known]].assign(**{SERIES_ID: plan[SERIES_ID].astype(str)})
        out = out.merge(right.drop_duplicates([SERIES_ID, TS], keep="last"), on=[SERIES_ID, TS], how="left")
        if out[known].isna().any(axis=None):
            row = out[out[known].isna().any(axis=1)].iloc[0]
            raise ValueError(f"no planned {known} for series {row[SERIES_ID]!r} at {row[TS]} (needs every step)")
    carried = [c for c in exog if c not in known]
    if carried:
        table = (last_known if last_known is not None else pd.DataFrame()).reindex(columns=carried)
        if table.index.inferred_type != "string":  # cached on the index: serving's table pays this once
            table.index = pd.Index(table.index).astype(str)
        values = table.reindex(out[SERIES_ID].to_numpy()).to_numpy(dtype="float64")
        out[carried] = np.where(np.isnan(values), 0.0, values)
    return out


def last_values(frame: pd.DataFrame, columns: list[str], until: pd.Series | None = None) -> pd.DataFrame:
    """Each series' last row's ``columns`` (indexed by series id, as str), at or before its
    timestamp in ``until`` (series id -> timestamp) where given."""
    rows = frame[[SERIES_ID, TS, *[c for c in columns if c in frame.columns]]]
    rows = rows.assign(**{SERIES_ID: rows[SERIES_ID].astype(str)})
    if until is not None:
        ends = pd.Series(pd.to_datetime(until.to_numpy(), utc=True), index=pd.Index(until.index).astype(str))
        rows = rows[pd.to_datetime(rows[TS], utc=True) <= rows[SERIES_ID].map(ends)]
    return rows.sort_values(TS, kind="stable").groupby(SERIES_ID, sort=False).tail(1).set_index(SERIES_ID)


def steps_after(last: pd.DatetimeIndex, offset, h: int) -> np.ndarray:
    """``last + offset * k`` for k = 1..h (series x h, tz-naive ``last``): one multiply-add in
    ``last``'s unit for a fixed-length offset (hourly, daily: what pandas computes, without a
    pandas addition per step), pandas' calendar arithmetic step by step for the others."""
    if isinstance(offset, Tick):
        step = pd.Timedelta(offset).as_unit(last.unit)
        if step == pd.Timedelta(offset):  # exact in that unit
            return last.to_numpy()[:, None] + np.arange(1, h + 1) * step.to_timedelta64()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        return np.stack([(last + offset * k).to_numpy() for k in range(1, h + 1)], axis=1)


def same_keys(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Whether ``a`` and ``b`` hold the same (series_id, event_timestamp) rows, in the same
    order and dtypes (then a left join of ``b`` onto ``a`` is ``b``'s columns beside ``a``'s)."""
    return len(a) == len(b) and all(a[c].array.equals(b[c].array) for c in KEYS)


class _Forecaster(RegressorMixin, BaseEstimator):
    """Input checks, exogenous columns, future timestamps and the horizon limit."""

    def _long(self, X: pd.DataFrame, y=None) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"forecasters need a long pandas DataFrame, got {type(X).__name__}")
        X = X.copy()
        if y is not None:
            X[Y] = np.asarray(y)
        missing = [c for c in (SERIES_ID, TS, Y) if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks the columns {missing} (needs series_id, event_timestamp, y)")
        if X[Y].isna().any():
            raise ValueError(f"y has {int(X[Y].isna().sum())} missing values; fill or drop them before fit")
        if X.duplicated([SERIES_ID, TS]).any():
            raise ValueError("X has duplicate (series_id, event_timestamp) rows")
        X[Y] = X[Y].astype("float64")
        return X.sort_values([SERIES_ID, TS], kind="stable").reset_index(drop=True)

    def _fit_common(self, X: pd.DataFrame) -> None:
        self.exog_ = [c for c in X.columns if c not in NOT_EXOGENOUS
                      and (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))
                      and not pd.api.types.is_datetime64_any_dtype(X[c])]
        self.series_ = np.asarray(pd.unique(X[SERIES_ID]))
        offset = to_offset(self.freq)
        last = pd.DatetimeIndex(X.groupby(SERIES_ID, sort=False)[TS].max())
        off_grid = [t for t in last[:50] if not offset.is_on_offset(t.tz_localize(None) if t.tz else t)]
        if off_grid:
            raise ValueError(f"timestamp {off_grid[0]} is not on the grid of freq={self.freq!r} ({offset.freqstr}); "
                             f"pass the anchored frequency of the data (e.g. 'W-SAT' for weeks ending on Saturday)")
        self.last_timestamp_ = X.groupby(SERIES_ID, sort=False)[TS].max().reindex(self.series_)
        self.nonnegative_ = bool((X[Y] >= 0).all())  # demand, counts: forecasts and bounds never below 0

    def _finish(self, out: pd.DataFrame) -> pd.DataFrame:
        """The output columns; clipped at 0 when the training target never went below it."""
        columns = {c: out[c].array for c in OUTPUT}  # one new frame, not a selection and then an assign
        if getattr(self, "nonnegative_", False):  # models pickled before the attribute existed
            columns.update((c, v.array) for c, v in out[FORECASTS].clip(lower=0.0).items())  # one clip for 3
        return pd.DataFrame(columns, index=out.index)

    def _check_h(self, h: int) -> int:
        check_is_fitted(self)
        if int(h) != h or h < 1:
            raise ValueError(f"h must be a positive integer, got {h!r}")
        if self.max_horizon_ is not None and h > self.max_horizon_:
            raise ValueError(f"h={h} exceeds this model's max_horizon_={self.max_horizon_}; "
                             f"refit with a larger max_horizon")
        return int(h)

    def _select(self, series) -> np.ndarray:
        """The fitted series to forecast: all of them, or the given ids (unknown ids raise)."""
        return np.asarray(self.series_)[self._positions(series)]

    def _positions(self, series) -> np.ndarray:
        """Where in ``series_`` the series to forecast are: all of them, or the given ids."""
        if series is None:
            return np.arange(len(self.series_))
        wanted = pd.unique(pd.Series(list(series), dtype="object").astype(str))
        known = self._series_index()
        unknown = [s for s in wanted if s not in known]
        if unknown:
            raise ValueError(f"unknown series {unknown[:5]} (the model was fit on {len(known)} series)")
        return known.get_indexer(wanted)

    def _series_index(self) -> pd.Index:
        """``series_`` as strings, built once per fit (not per request)."""
        cached = self.__dict__.get("_series_index_")
        if cached is None or cached[0] is not self.series_:
            cached = (self.series_, pd.Index(np.asarray(self.series_).astype(str)))
            self.__dict__["_series_index_"] = cached
        return cached[1]

    def future_index(self, h: int, series=None) -> pd.DataFrame:
        """(series, step) rows for steps 1..h after each series' last timestamp, series-major."""
        pos = self._positions(series)
        last = pd.DatetimeIndex(np.asarray(self.last_timestamp_.iloc[pos]))  # not all series as objects
        tz = last.tz
        if tz is not None:  # step in local wall time, as pandas' date_range does
            last = last.tz_localize(None)
        ts = pd.DatetimeIndex(steps_after(last, to_offset(self.freq), h).ravel())
        if tz is not None:
            ts = ts.tz_localize(tz)
        return pd.DataFrame({SERIES_ID: np.repeat(np.asarray(self.series_)[pos], h), TS: ts})

    def _future_exog(self, future: pd.DataFrame, X_future: pd.DataFrame | None) -> pd.DataFrame:
        """``future`` with the exogenous columns from ``X_future`` attached (checked)."""
        if not self.exog_:
            return future
        if X_future is None:
            raise ValueError(f"this model was fit with exogenous columns {self.exog_}; "
                             "pass X_future with series_id, event_timestamp and those columns")
        missing = [c for c in (SERIES_ID, TS, *self.exog_) if c not in X_future.columns]
        if missing:
            raise ValueError(f"X_future lacks the exogenous columns {missing} the model was fit with")
        if same_keys(future, X_future):  # the rows future_inputs builds (serving, backtests): nothing to join
            out = pd.DataFrame({**{c: future[c].array for c in future.columns},
                                **{c: X_future[c].array for c in self.exog_}})
        else:
            right = X_future[[SERIES_ID, TS, *self.exog_]].drop_duplicates([SERIES_ID, TS], keep="last")
            out = future.merge(right, on=[SERIES_ID, TS], how="left", validate="one_to_one")
        gaps = np.logical_and.reduce([out[c].isna().to_numpy() for c in self.exog_])  # steps without any input
        if gaps.any():
            row = out[gaps].iloc[0]
            raise ValueError(f"X_future has no exogenous values for series {row[SERIES_ID]!r} at "
                             f"{row[TS]} (needs every forecast step)")
        return out


class SeasonalNaive(_Forecaster):
    """Repeat each series' last season: ``yhat[t + k] = y[t + k - m * ceil(k / m)]``.

    Intervals: ``"native"``: per series, the ``level`` quantile of the in-sample absolute
    seasonal differences ``|y[t] - y[t - m]|`` (the model's own one-season-ahead errors),
    widened by ``sqrt(ceil(k / m))`` for step k, the spread of a seasonal random walk after
    ``ceil(k / m)`` seasons; ``"conformal"`` (default) scales those by the pooled conformal
    quantile of errors on the last ``horizon`` (else ``max_horizon``) steps held out
    (:mod:`models.forecasting_calibration`,
    ``calibration_scores_``). ``max_horizon=None``: no limit (``max_horizon_`` is None).
    Exogenous columns are accepted and ignored.
    """

    POINT_ONLY = {"intervals": "native"}  # the same point forecasts without the calibration fit

    def __init__(self, season_length: int = 7, freq: str = "D", max_horizon: int | None = None,
                 horizon: int | None = None, level: int = 90, intervals: str = "conformal"):
        self.season_length = season_length
        self.freq = freq
        self.max_horizon = max_horizon
        self.horizon = horizon
        self.level = level
        self.intervals = intervals

    def fit(self, X: pd.DataFrame, y=None):
        """Store each series' last season and its seasonal-difference errors; returns self."""
        calibration.check(self.intervals)
        X = self._long(X, y)
        self._fit_common(X)
        self.exog_ = []  # seasonal naive uses none
        m = int(self.season_length)
        groups = X.groupby(SERIES_ID, sort=False)[Y]
        sizes = groups.size().reindex(self.series_)
        if (sizes < m).any():
            short = sizes[sizes < m].index[:5].tolist()
            raise ValueError(f"seasonal naive needs at least season_length={m} values per series; "
                             f"too short: {short}")
        self.history_ = {s: v.to_numpy()[-m:] for s, v in groups}
        self.abs_residuals_ = {s: np.abs(v.to_numpy()[m:] - v.to_numpy()[:-m]) for s, v in groups}
        self.max_horizon_ = self.max_horizon
        calibration.calibrate(self, X)
        return self

    def predict(self, h: int, X_future: pd.DataFrame | None = None, level: int | None = None,
                series=None) -> pd.DataFrame:
        """Forecasts for h steps per series (all, or the ids in ``series``) with ``level``%
        intervals (default: the fitted level)."""
        h = self._check_h(h)
        level = self.level if level is None else level
        scale, native = calibration.scale_for(self, level)
        m = int(self.season_length)
        out = self.future_index(h, series)
        k = np.arange(1, h + 1)
        widen = np.sqrt(np.ceil(k / m))
        yhat, half = [], []
        for s in self._select(series):
            yhat.append(self.history_[s][(k - 1) % m])
            r = self.abs_residuals_[s]
            q = np.quantile(r, native / 100.0) if len(r) else np.nan
            half.append(q * widen)
        yhat, half = np.concatenate(yhat), np.concatenate(half)
        lower, upper = calibration.widen(yhat, yhat - half, yhat + half, scale)
        out["yhat"], out["yhat_lower"], out["yhat_upper"] = yhat, lower, upper
        return self._finish(out)
