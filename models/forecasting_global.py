"""The global LightGBM forecaster on Nixtla's mlforecast.

mlforecast builds the features (lags, rolling means, date features, dynamic exogenous
columns), applies the target transforms, trains the boosters and runs the recursion. What it
lacks is here and in :mod:`models.forecasting_mlf` (the pieces plugged into mlforecast):
conformal intervals that calibrate only the steps a short history allows, quantile bounds run
along the point forecast's recursion, count rounding and nonnegative clipping. Input and output
follow :mod:`models.forecasting_base`.
"""

from __future__ import annotations

import math
import threading
import warnings

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlforecast import MLForecast
from mlforecast.lag_transforms import RollingMean
from mlforecast.target_transforms import BaseTargetTransform, Differences, GlobalSklearnTransformer
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.validation import check_is_fitted

from models.forecasting_base import _Forecaster, calendar, default_lags, default_windows
from models.forecasting_mlf import SeriesScale, _Booster, _StepSeries, rolling_name, weekofyear
from pomona.schemas import SERIES_ID, TS, Y

__all__ = ["LGBMForecaster", "SeriesScale"]  # the mlforecast pieces' old home: older pickles still load

POINT = "lgbm"
TARGET_TRANSFORMS = ("log_difference", "series_scale", None)
# mlforecast's predict moves its series state forward in place (and subsets it for ``ids``),
# so two threads must not predict with one fitted MLForecast at once; predicts take ~ms.
_PREDICT_LOCK = threading.Lock()
BAG_FRACTION = 0.8  # rows and features each booster of a bag sees


class LGBMForecaster(_Forecaster):
    """One global LightGBM over all series on mlforecast, multi-step by recursion.

    Features per (series, step t), built by mlforecast on the transformed target: its values at
    the ``lags`` before t (``lag1``, ``lag24``, ...), rolling means of the ``rolling_windows``
    values before t (``rolling_mean_lag1_window_size24``, partial windows allowed), date features
    for ``freq`` (the names of :func:`calendar`) and the exogenous columns at t.

    Target transforms (mlforecast's, applied in order and inverted on the forecasts):
    ``"log_difference"`` (default) divides each series by its in-sample mean absolute level
    (:class:`SeriesScale`, so one model serves series of any scale), takes ``log1p`` when every
    training value is at least 0 (``log_``: whether it did), then first differences
    (``Differences([1])``): the booster learns the relative change from one step to the next,
    which a short trending series shares with thousands of others (per-series normalisation and
    a log for global models, Hewamalage, Bergmeir and Bandara 2021; removing the trend before
    machine learning, Makridakis et al. 2018). On the validation parts (last horizon of each
    training series, `docs/benchmarks.md`) it took sMAPE from 10.60 to 8.98 on M3 Quarterly,
    22.31 to 19.81 on M3 Yearly and 10.62 to 10.22 on M4 Hourly (MASE 1.070 to 0.924) against
    ``"series_scale"``, the level alone. With ``seasonal_difference=True`` (``"series_scale"``
    or None only) the booster learns the change from one season ago (``y[t] - y[t - m]``,
    scaled) and the forecast adds the feature ``lag{m}`` back, so "repeat the last season" is
    its zero answer. Count data (every training value a whole number;
    ``round_counts=True``): the point forecast estimates a median (L1), and a median of counts
    is a count, so it is rounded. Nonnegative training targets give forecasts and bounds clipped
    at 0. Default lags and windows: :func:`default_lags`, :func:`default_windows` (hourly:
    1..24, 48, ..., 168). A series shorter than the lags gets NaN for the lags it lacks; one
    shorter than a season is anchored at its rolling mean.

    A bag of ``bags`` boosters (default 3, seeds ``random_state``, ``+ 1``, ...) each trained on
    80% of the rows and of the features at every tree, with LightGBM's default 31 leaves; the
    point forecast at every step is their mean. On both validation windows of M3 Quarterly and
    M4 Hourly (``benchmarks/forecast_validation.py``; test files unread) the bag of three took
    the single 63-leaf booster from sMAPE 9.43 / 9.79 to 9.37 / 9.71 and OWA 0.454 / 0.438 to
    0.444 / 0.409; ``bags=1`` is the single booster without subsampling.

    Predicting step t + k feeds the forecasts for t + 1 .. t + k - 1 back in (mlforecast's
    recursion). Not offered: mlforecast's direct strategy (one model per step): in 1.1.0 its
    predict advances the date features to the forecast step while its training keeps them at
    the origin, and on the daily test fixture steps 2..7 were 10x worse than step 1.

    Intervals: ``"conformal"`` holds out the last steps of every series, fits the same
    mlforecast model on the rest, forecasts the held-out steps and keeps the scaled absolute
    errors per step (``conformal_errors_``, series x step); the final model is then fit on all
    data and the interval is ``yhat +- scale * quantile(errors at step k, level)``, any
    ``level``. Only as many steps as the history allows are calibrated; past them the last
    calibrated step's quantile widens by ``sqrt(k / steps)``. ``"quantile"`` trains two more
    boosters with the quantile objective at ``(1 +- level/100) / 2`` on the same features and
    runs them on the point forecast's features at every step; they only know one-step-ahead
    spread, so they under-cover at long steps, and predict's ``level`` must equal the fitted
    ``level``.

    Learned: ``mlf_`` (the fitted MLForecast), ``series_``, ``last_timestamp_``, ``exog_``,
    ``max_horizon_``, ``nonnegative_``, ``log_``, ``counts_``, ``scale_`` (divisor per series),
    ``feature_names_``, ``feature_importances_`` (gain by feature), ``conformal_errors_``
    or ``quantile_models_``; :meth:`boosters` lists every LightGBM booster.
    """

    def __init__(self, season_length: int = 7, freq: str = "D", lags: list[int] | None = None,
                 rolling_windows: list[int] | None = None, n_estimators: int = 1000, learning_rate: float = 0.05,
                 num_leaves: int = 31, min_child_samples: int = 20, bags: int = 3, max_horizon: int = 28,
                 intervals: str = "conformal", level: int = 90, target_transform: str | None = "log_difference",
                 seasonal_difference: bool = False, objective: str = "l1", round_counts: bool = True,
                 random_state: int = 0, n_jobs: int | None = None):
        self.season_length = season_length
        self.freq = freq
        self.lags = lags
        self.rolling_windows = rolling_windows
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.bags = bags
        self.max_horizon = max_horizon
        self.intervals = intervals
        self.level = level
        self.target_transform = target_transform
        self.seasonal_difference = seasonal_difference
        self.objective = objective
        self.round_counts = round_counts
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- the mlforecast pipeline ----------------------------------------------------------------
    def _params(self, objective: str, alpha: float | None = None) -> dict:
        p = dict(objective=objective, learning_rate=self.learning_rate, num_leaves=self.num_leaves,
                 min_child_samples=self.min_child_samples, seed=self.random_state, deterministic=True,
                 force_row_wise=True, num_threads=self.n_jobs or 0, verbose=-1)
        if self.bags > 1:  # each booster of the bag sees 80% of the rows and of the features at every tree
            p.update(bagging_fraction=BAG_FRACTION, bagging_freq=1, feature_fraction=BAG_FRACTION)
        if alpha is not None:
            p["alpha"] = alpha
        return p

    def _pipeline(self) -> MLForecast:
        m = max(int(self.season_length), 1)
        lags = sorted(set(self.lags or default_lags(m, self.freq)) | ({m} if self.seasonal_difference else set()))
        windows = sorted(set(self.rolling_windows or default_windows(m, self.freq)))
        names = calendar(pd.DatetimeIndex([pd.Timestamp("2000-01-01")]), self.freq)
        dates = [weekofyear if name == "weekofyear" else name for name in names]
        base = {}
        if self.seasonal_difference:
            base = dict(base=f"lag{m}", fallback=rolling_name(RollingMean(max(windows)), 1))
        models = {POINT: _Booster(self._params(self.objective), self.n_estimators, bags=self.bags, **base)}
        if self.intervals == "quantile":
            a = self.level / 100.0
            models.update({name: _Booster(self._params("quantile", alpha), self.n_estimators, bags=self.bags, **base)
                           for name, alpha in (("lo", (1 - a) / 2), ("hi", (1 + a) / 2))})
        mlf = MLForecast(models=models, freq=self.freq, lags=lags,
                         lag_transforms={1: [RollingMean(window_size=w, min_samples=1) for w in windows]},
                         lag_transforms_namer=rolling_name, date_features=dates,
                         target_transforms=self._target_transforms(), num_threads=1)
        mlf.ts.__class__ = _StepSeries  # same state and arguments; only the per-step row differs
        return mlf

    def _target_transforms(self) -> list[BaseTargetTransform] | None:
        """mlforecast's target transforms for ``target_transform`` (the class docstring)."""
        if self.target_transform is None:
            return None
        if self.target_transform == "series_scale":
            return [SeriesScale()]
        log = [GlobalSklearnTransformer(FunctionTransformer(np.log1p, np.expm1))] if self.log_ else []
        return [SeriesScale(), *log, Differences([1])]

    def _fit_pipeline(self, X: pd.DataFrame) -> tuple[MLForecast, dict]:
        """Fit mlforecast on the long frame; the quantile boosters come out of its model list,
        so that its recursion runs the point model only. Missing features (lags before a
        series' start) stay NaN for LightGBM (``dropna=False``); rows without the seasonal lag
        have no change to learn and are left out by :class:`_Booster`."""
        mlf = self._pipeline()
        frame = X[[SERIES_ID, TS, Y, *self.exog_]].astype({c: "float64" for c in self.exog_})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "series were dropped": too short to train on
            mlf.fit(frame, id_col=SERIES_ID, time_col=TS, target_col=Y, static_features=[], dropna=False)
        extra = {name: mlf.models_.pop(name) for name in ("lo", "hi") if name in mlf.models_}
        return mlf, extra

    def _forecast(self, mlf: MLForecast, h: int, series: np.ndarray, future: pd.DataFrame | None,
                  quantiles: tuple[_Booster, ...] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Point forecasts (series x h, original units, rows in ``series`` order) and, given
        ``quantiles`` (point, lower, upper boosters), each bound's booster minus the point's on
        the point recursion's features, on the scaled target (2 x h x series)."""
        deltas, before = [], None
        if quantiles:
            point, *bounds = quantiles

            def before(x):
                p = point.predict(x)
                deltas.append([b.predict(x) - p for b in bounds])
                return x

        X_df = self._exog_frame(future) if self.exog_ else None
        with _PREDICT_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "null values in lag...": short histories
            out = mlf.predict(h, X_df=X_df, ids=list(series), before_predict_callback=before)
        order = pd.Index(pd.unique(out[SERIES_ID])).get_indexer(series)
        yhat = out[POINT].to_numpy().reshape(-1, h)[order]
        if not quantiles:
            return yhat, None
        return yhat, np.transpose(np.asarray(deltas), (1, 0, 2))[:, :, order]  # (h, 2, series) -> (2, h, series)

    def _exog_frame(self, future: pd.DataFrame) -> pd.DataFrame:
        """``future``'s keys and exogenous columns, as float64 (as mlforecast was fit); ``future``
        itself when it is that already (serving's frame: no copy per request)."""
        columns = [SERIES_ID, TS, *self.exog_]
        X_df = future if list(future.columns) == columns else future[columns]
        if any(X_df[c].dtype != np.float64 for c in self.exog_):
            X_df = X_df.astype({c: "float64" for c in self.exog_})
        return X_df

    def _scales(self, mlf: MLForecast) -> pd.Series:
        """Each series' divisor (1 without the scale transform), indexed like mlforecast's series."""
        scale = next((t for t in mlf.ts.target_transforms or [] if isinstance(t, SeriesScale)), None)
        return scale.scales_.reindex(mlf.ts.uids) if scale is not None else pd.Series(1.0, index=mlf.ts.uids)

    # -- estimator API ------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y=None):
        """Fit the global model (and its interval calibration); returns self."""
        if self.intervals not in ("conformal", "quantile"):
            raise ValueError(f"intervals must be 'conformal' or 'quantile', got {self.intervals!r}")
        if self.target_transform not in TARGET_TRANSFORMS:
            raise ValueError(f"target_transform must be one of {TARGET_TRANSFORMS}, got {self.target_transform!r}")
        if self.seasonal_difference and self.target_transform == "log_difference":
            raise ValueError("seasonal_difference applies to target_transform 'series_scale' or None: "
                             "'log_difference' already learns changes")
        if not 0 < self.level < 100:
            raise ValueError(f"level must be in (0, 100), got {self.level}")
        X = self._long(X, y)
        self._fit_common(X)
        self.log_ = self.target_transform == "log_difference" and self.nonnegative_
        self.max_horizon_ = int(self.max_horizon)
        if self.intervals == "conformal":
            self.conformal_errors_ = self._conformal(X, self.max_horizon_)
        self.counts_ = bool(self.round_counts and np.array_equal(X[Y].to_numpy(), np.round(X[Y].to_numpy())))
        self.mlf_, quantiles = self._fit_pipeline(X)
        if self.intervals == "quantile":
            self.quantile_models_ = tuple(quantiles[name] for name in ("lo", "hi"))
        self.scale_ = self._scales(self.mlf_).reindex(self.series_)
        self.feature_names_ = list(self.mlf_.ts.features_order_)
        self.feature_importances_ = pd.Series(self._point().gain(), index=self.feature_names_, name="gain")
        return self

    def _point(self) -> _Booster:
        return self.mlf_.models_[POINT]

    def boosters(self) -> list[lgb.Booster]:
        """Every LightGBM booster the model predicts with: the point model, then the quantile
        models, if any (serving makes each predict on one thread)."""
        check_is_fitted(self)
        models = [self._point(), *(getattr(self, "quantile_models_", None) or ())]
        return [b for model in models for b in (getattr(model, "boosters_", None) or [model.booster_])]

    def _conformal(self, X: pd.DataFrame, H: int) -> np.ndarray:
        """Scaled absolute errors (series x step) of forecasting each series' last steps.

        Calibrates ``min(H, what history allows)`` steps: a series takes part when it keeps
        more than ``season_length`` values before the held-out steps, and the number of steps is
        cut so that at least half of the series take part (short M4 yearly or quarterly series
        cannot hold out a whole ``max_horizon``); :meth:`predict` widens the last calibrated
        step's quantile by ``sqrt(k / steps)`` for steps k past them. mlforecast fits and
        forecasts; its own conformal intervals (``PredictionIntervals``) need every series to
        hold ``n_windows * h`` steps and cannot widen past them."""
        groups = X.groupby(SERIES_ID, sort=False)
        size = groups[Y].transform("size").to_numpy()
        need = max(int(self.season_length), 1) + 1
        steps = int(min(H, np.median(groups.size()) - need))
        if steps < 1:
            raise ValueError(f"conformal intervals need series of at least season_length + 2 = {need + 1} values "
                             f"(half of these are shorter); use intervals='quantile' or longer series")
        pos_from_end = groups.cumcount(ascending=False).to_numpy()
        usable = size >= steps + need
        head, tail = X[usable & (pos_from_end >= steps)], X[usable & (pos_from_end < steps)]
        mlf, _ = self._fit_pipeline(head)
        series = np.asarray(pd.unique(head[SERIES_ID]))
        yhat, _ = self._forecast(mlf, steps, series, tail)
        actual = tail[Y].to_numpy().reshape(len(series), steps)  # X is sorted by series, time
        return np.abs(actual - yhat) / self._scales(mlf).reindex(series).to_numpy()[:, None]

    def predict(self, h: int, X_future: pd.DataFrame | None = None, level: int | None = None,
                series=None) -> pd.DataFrame:
        """Forecasts for h steps per series (all, or the ids in ``series``) with ``level``%
        intervals (default: the fitted level)."""
        h = self._check_h(h)
        level = self.level if level is None else level
        if self.intervals == "quantile" and level != self.level:
            raise ValueError(f"quantile intervals were trained for level={self.level}; got level={level}")
        sel = self._select(series)
        future = self._future_exog(self.future_index(h, sel), X_future)
        quantiles = (self._point(), *self.quantile_models_) if self.intervals == "quantile" else None
        yhat, deltas = self._forecast(self.mlf_, h, sel, future, quantiles)
        scale = self.scale_.reindex(sel).to_numpy()[:, None]
        if self.intervals == "conformal":
            err = self.conformal_errors_[:, :h]
            n, steps = err.shape
            q = np.quantile(err, min(1.0, math.ceil((n + 1) * level / 100) / n), axis=0, method="higher")
            if h > steps:  # past the calibrated steps: the last one's spread, widened like a random walk
                q = np.r_[q, q[-1] * np.sqrt(np.arange(steps + 1, h + 1) / steps)]
            half = q[None, :] * scale
            lower, upper = yhat - half, yhat + half
        else:
            lo, hi = (yhat + deltas[j].T * scale for j in (0, 1))
            lower, upper = np.minimum(lo, yhat), np.maximum(hi, yhat)
        point = np.round(yhat) if self.counts_ else yhat
        out = pd.DataFrame({SERIES_ID: future[SERIES_ID].array, TS: future[TS].array, "yhat": point.ravel(),
                            "yhat_lower": lower.ravel(), "yhat_upper": upper.ravel()}, index=future.index)
        return self._finish(out)
