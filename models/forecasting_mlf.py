"""The pieces Pomona plugs into Nixtla's mlforecast for the global LightGBM
(:mod:`models.forecasting_global`): the target scale "mean absolute level"
(:class:`SeriesScale`), a booster that learns the change from one season ago while its
features stay levels (:class:`_Booster`), feature names, and mlforecast's series state with a
per-step feature row as a float matrix (:class:`_StepSeries`, for serving's latency)."""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import utilsforecast.processing as ufp
from mlforecast.core import TimeSeries
from mlforecast.lag_transforms import RollingMean
from mlforecast.target_transforms import BaseTargetTransform
from pandas.tseries.frequencies import to_offset
from pandas.tseries.offsets import Tick
from sklearn.base import BaseEstimator, RegressorMixin

__all__ = ["SeriesScale", "rolling_name", "weekofyear"]


# -- what mlforecast lacks ----------------------------------------------------------------------
class SeriesScale(BaseTargetTransform):
    """mlforecast target transform: divide each series by its mean absolute level (1 for an
    all-zero series), so that one global model sees every series at a comparable scale and zero
    stays zero. ``scales_``: the divisor per series id."""

    def fit_transform(self, df: pd.DataFrame) -> pd.DataFrame:
        level = df[self.target_col].abs().groupby(df[self.id_col], sort=False).mean()
        self.scales_ = level.where(level > 0, 1.0).astype("float64")
        return self.update(df)

    def update(self, df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(**{self.target_col: df[self.target_col] / self._of(df)})

    def inverse_transform(self, df: pd.DataFrame) -> pd.DataFrame:
        scale = self._of(df)
        return df.assign(**{c: df[c] * scale for c in df.columns if c not in (self.id_col, self.time_col)})

    def _of(self, df: pd.DataFrame) -> np.ndarray:
        return df[self.id_col].map(self.scales_).to_numpy(dtype="float64")


# -- the model mlforecast trains ------------------------------------------------------------------
def weekofyear(dates: pd.DatetimeIndex) -> np.ndarray:
    """ISO week of year (a date feature pandas no longer has as an attribute)."""
    return pd.DatetimeIndex(dates).isocalendar().week.to_numpy().astype("int64")


def rolling_name(tfm: RollingMean, lag: int, *args) -> str:
    """Feature name of a rolling mean: ``rolling_mean_lag1_window_size24`` (mlforecast's name,
    less the ``min_samples`` suffix)."""
    return f"rolling_mean_lag{lag}_window_size{tfm.window_size}"


# LightGBM's C API (c_api.h), for one row: its documented constants and functions only.
_PREDICT_NORMAL, _DTYPE_FLOAT64 = 0, 1


@functools.lru_cache(maxsize=1)
def _lightgbm_c_api() -> ctypes.CDLL:
    # the library the lightgbm package loaded (its wheel's lib/lib_lightgbm.so, .dylib or .dll)
    return ctypes.cdll.LoadLibrary(str(next((Path(lgb.__file__).parent / "lib").glob("lib_lightgbm.*"))))


def _check(code: int) -> None:
    if code != 0:
        lib = _lightgbm_c_api()
        lib.LGBM_GetLastError.restype = ctypes.c_char_p
        raise lgb.basic.LightGBMError(lib.LGBM_GetLastError().decode())


class _RowPredictor:
    """One booster's prediction for one row through LightGBM's C API for single rows
    (``LGBM_BoosterPredictForMatSingleRowFast``: configured once, where ``Booster.predict``
    builds a predictor and checks its input on every call, ~30 us, which a 48-step recursion
    over a bag of three pays 144 times per request). The C booster is loaded from the model's
    text; one thread; not thread-safe (the recursion runs under ``models.forecasting_global``'s
    predict lock)."""

    def __init__(self, booster: lgb.Booster, n_features: int):
        lib = _lightgbm_c_api()
        self.booster, self.config = ctypes.c_void_p(), ctypes.c_void_p()
        iterations = ctypes.c_int(0)
        _check(lib.LGBM_BoosterLoadModelFromString(ctypes.c_char_p(booster.model_to_string().encode()),
                                                   ctypes.byref(iterations), ctypes.byref(self.booster)))
        _check(lib.LGBM_BoosterPredictForMatSingleRowFastInit(
            self.booster, ctypes.c_int(_PREDICT_NORMAL), ctypes.c_int(0), ctypes.c_int(-1),
            ctypes.c_int(_DTYPE_FLOAT64), ctypes.c_int32(n_features), ctypes.c_char_p(b"num_threads=1"),
            ctypes.byref(self.config)))

    def __call__(self, row: np.ndarray) -> float:
        row = np.ascontiguousarray(row, dtype=np.float64)
        out, n = np.empty(1), ctypes.c_int64(0)
        _check(_lightgbm_c_api().LGBM_BoosterPredictForMatSingleRowFast(
            self.config, row.ctypes.data_as(ctypes.c_void_p), ctypes.byref(n),
            out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))))
        return float(out[0])

    def __del__(self):
        lib = _lightgbm_c_api()
        if self.config:
            lib.LGBM_FastConfigFree(self.config)
        if self.booster:
            lib.LGBM_BoosterFree(self.booster)


class _Booster(RegressorMixin, BaseEstimator):
    """``bags`` LightGBM boosters trained with ``lgb.train(params)`` (seeds ``seed``,
    ``seed + 1``, ...; the parameters' row and feature subsampling makes them differ) whose
    mean is the prediction: inside mlforecast's recursion each step feeds the mean back.
    They learn the change from the feature ``base`` (the seasonal lag; ``None``: the target
    itself), which ``predict`` adds back; a missing base (a series shorter than a season) falls
    back to the feature ``fallback`` (a rolling mean), then 0. ``predict`` calls
    ``Booster.predict`` on a float matrix with no thread argument, so a single-thread setting on
    the boosters holds (``LGBMRegressor.predict`` passes its own ``num_threads``). Learned:
    ``boosters_``."""

    def __init__(self, params: dict | None = None, num_boost_round: int = 100, base: str | None = None,
                 fallback: str | None = None, bags: int = 1):
        self.params = params
        self.num_boost_round = num_boost_round
        self.base = base
        self.fallback = fallback
        self.bags = bags

    def fit(self, X: pd.DataFrame, y):
        names = [str(c) for c in X.columns]
        self.base_index_ = names.index(self.base) if self.base else None
        self.fallback_index_ = names.index(self.fallback) if self.fallback else None
        matrix = np.asarray(X, dtype="float64")
        target = np.asarray(y, dtype="float64") - self._anchor(matrix, training=True)
        keep = ~np.isnan(target)  # rows without the base value: no change to learn
        params = dict(self.params or {})
        seed = int(params.get("seed", 0))
        self.boosters_ = [lgb.train({**params, "seed": seed + i},
                                    lgb.Dataset(matrix[keep], target[keep], feature_name=names), self.num_boost_round)
                          for i in range(max(int(self.bags), 1))]
        return self

    def gain(self) -> np.ndarray:
        """Each feature's split gain, the mean over the boosters."""
        return np.mean([b.feature_importance("gain") for b in self.boosters_], axis=0)

    def _anchor(self, matrix: np.ndarray, training: bool = False) -> np.ndarray | float:
        if self.base_index_ is None:
            return 0.0
        anchor = matrix[:, self.base_index_]
        if training or not np.isnan(anchor).any():
            return anchor
        if self.fallback_index_ is not None:
            anchor = np.where(np.isnan(anchor), matrix[:, self.fallback_index_], anchor)
        return np.nan_to_num(anchor)

    def predict(self, X) -> np.ndarray:
        matrix = np.asarray(X, dtype="float64")
        boosters = getattr(self, "boosters_", None) or [self.booster_]  # a model pickled before bagging
        if len(matrix) == 1:  # a served forecast's step: one series
            rows = self.__dict__.get("_rows")
            if rows is None:
                rows = self.__dict__["_rows"] = [_RowPredictor(b, matrix.shape[1]) for b in boosters]
            total = np.array([sum(predict(matrix[0]) for predict in rows)])
        else:
            total = boosters[0].predict(matrix)
            for booster in boosters[1:]:
                total = total + booster.predict(matrix)
        return self._anchor(matrix) + total / len(boosters)

    def __getstate__(self):
        return {k: v for k, v in vars(self).items() if k != "_rows"}  # C handles: made again after loading


class _StepSeries(TimeSeries):
    """mlforecast's series state, whose recursion gets each step's features as a float matrix.

    Only the assembly of a step's row changes: mlforecast's own lag and rolling-mean updates,
    exogenous rows, and date features computed once per forecast for all steps instead of a
    pandas date offset and frame per step (~1 ms a step: a 48-step forecast of one M4 Hourly
    series took 84 ms, now 34 ms on a loaded 2-core machine, as the hand-written model before).
    ``curr_dates`` stays at the origin (only the frame path reads it). This overrides a private
    method of mlforecast 1.1.0 (pinned in pyproject.toml) for the features this model uses (no
    pooled transforms, no static features); ``test_step_rows_match_mlforecast`` checks it
    against mlforecast's own path."""

    def _get_features_for_next_step(self, X_df=None):
        k = self._h
        if k == 0:
            self._calendar = self._dates_ahead(self.curr_dates, 64)
            self._exog = None if X_df is None else X_df.to_numpy(dtype="float64")  # the same X_df every step
        elif k >= self._calendar[1]:
            self._calendar = self._dates_ahead(self._calendar[0], 2 * k)
        _, steps, dates, calendar = self._calendar
        rows = np.arange(k, len(dates), steps)  # step k + 1 of every series
        self.test_dates.append(dates[rows])  # datetime64 values: predict's output dates, not read here
        cols = self._compute_transforms(self.transforms, updates_only=True)
        cols.update({name: values[rows] for name, values in calendar.items()})
        if X_df is not None:  # series-major rows, the same number per series, as mlforecast sorted them
            values = self._exog
            per_series = len(values) // len(self.uids)
            rows = np.arange(min(k, per_series - 1), len(values), per_series)
            cols.update(zip(X_df.columns, values[rows].T, strict=True))
        self._h += 1
        row = np.empty((len(self.uids), len(self.features_order_)))
        for j, name in enumerate(self.features_order_):
            row[:, j] = cols[name]
        return row

    def _dates_ahead(self, origin: pd.Index, steps: int) -> tuple:
        """(origin, steps, dates, date features) for steps 1..steps after each series' origin,
        series-major; fixed-length frequencies by arithmetic, calendar ones by pandas offsets."""
        offset = to_offset(self.freq)
        if isinstance(offset, Tick):
            ahead = pd.to_timedelta(np.arange(1, steps + 1) * offset.nanos, unit="ns")
            dates = pd.Index(origin.repeat(steps) + np.tile(ahead, len(origin)))
        else:
            dates = pd.Index(ufp.time_ranges(ufp.offset_times(origin, offset, 1), offset, steps))
        calendar = {}
        for feature in self.date_features:
            calendar.update(self._compute_date_feature(dates, feature))
        return origin, steps, np.asarray(dates.values), {name: np.asarray(v) for name, v in calendar.items()}

    def __getstate__(self):
        return {k: v for k, v in vars(self).items() if k not in ("_calendar", "_exog")}  # a forecast's: not state
