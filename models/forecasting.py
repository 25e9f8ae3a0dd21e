"""Demand forecasting's candidates and its one scorer: every forecaster a training config may
name (``CANDIDATES``) and :func:`score`, which the pyfunc, the services, SageMaker and batch
scoring call.

The forecasters share the long frame (Nixtla style, fixed names): ``series_id``,
``event_timestamp``, ``y``, one row per series and step at a regular frequency ``freq``; every
other numeric column is an exogenous input. ``predict(h)`` forecasts the ``h`` steps after each
series' last training timestamp and returns ``series_id, event_timestamp, yhat, yhat_lower,
yhat_upper``. The models live in :mod:`models.forecasting_base` (seasonal naive and the
shared conventions), :mod:`models.forecasting_stats` (statsforecast: ETS, Theta, ARIMA, CES,
MSTL), :mod:`models.forecasting_global` (one LightGBM over all series, on mlforecast) and
:mod:`models.forecasting_ensemble` (combination and per-series choice).
"""

from __future__ import annotations

import functools

import pandas as pd

from models.forecasting_base import (
    CARRIED,
    KNOWN,
    SeasonalNaive,
    default_lags,
    default_windows,
    future_inputs,
    last_values,
)
from models.forecasting_cache import fit_once
from models.forecasting_ensemble import Combination, PerSeriesChoice
from models.forecasting_global import LGBMForecaster
from models.forecasting_stats import MODELS as STATS_MODELS
from models.forecasting_stats import StatsForecaster
from pomona.schemas import SERIES_ID

__all__ = ["CARRIED", "KNOWN", "LGBMForecaster", "SeasonalNaive", "default_lags", "default_windows",
           "fit_once", "future_inputs", "last_values"]


# Candidates a training config may name, and the one scorer every consumer calls.
CANDIDATES = {"seasonal_naive": SeasonalNaive, "lightgbm": LGBMForecaster,
              # one statsforecast model per series: auto_ets, auto_theta, dynamic_theta, auto_arima, auto_ces, mstl
              **{name: functools.partial(StatsForecaster, model=name) for name in STATS_MODELS},
              "combination": Combination, "per_series": PerSeriesChoice}
# Beyond the common ones, for a logged model's environment: the pickled statistical models are
# statsforecast's, the global model holds an mlforecast MLForecast (which needs utilsforecast).
REQUIREMENTS = ("statsforecast", "mlforecast", "utilsforecast")


def score(bundle, frame: pd.DataFrame, p: dict) -> pd.DataFrame:
    """``horizon`` steps ahead for each ``series_id`` row (long format: series_id,
    event_timestamp, yhat, yhat_lower, yhat_upper). Future exogenous values, where the model
    uses them, come as extra rows of ``frame`` with ``event_timestamp``."""
    est = bundle.estimator
    horizon = int(p.get("horizon") or est.max_horizon_)
    series = pd.unique(frame[SERIES_ID].astype(str).to_numpy())
    future = frame if getattr(est, "exog_", None) else None
    return est.predict(horizon, X_future=future, series=series).reset_index(drop=True)
