"""Forecasting features: each series' recent history (lags, rolling levels, intermittency)
as of the step being forecast, and calendar inputs known in advance (price, promotion,
holidays) where the dataset has them."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
from pandas.tseries.frequencies import to_offset

from features import base
from features.tables import daily_rollups
from pomona.schemas import SERIES_ID, SPLIT, STORE_ID, TS, Y


def series_state(demand: pd.DataFrame, freq: str, season: int) -> pd.DataFrame:
    """Per series and step t, stamped at t + 1 step: what is known when forecasting t + 1."""
    demand = demand.sort_values([SERIES_ID, TS], kind="stable")
    y = demand.groupby(SERIES_ID, sort=False)[Y]
    out = pd.DataFrame({SERIES_ID: demand[SERIES_ID].to_numpy(),
                        TS: (demand[TS] + to_offset(freq)).to_numpy()})
    out["y_lag_1"] = demand[Y].to_numpy()
    out[f"y_lag_{season}"] = y.shift(season - 1).to_numpy()
    for w in sorted({max(season, 2), 4 * max(season, 2)}):
        out[f"y_mean_{w}"] = y.rolling(w, min_periods=1).mean().to_numpy()
    w = 4 * max(season, 2)
    out[f"zero_share_{w}"] = (demand[Y] == 0).astype("float64").groupby(demand[SERIES_ID], sort=False) \
        .rolling(w, min_periods=1).mean().to_numpy()
    return out


def _step(ctx: base.Context) -> pd.Timedelta:
    """The dataset's step (its frequency) as a duration."""
    freq = ctx.manifest.frequency or "D"
    return pd.Timestamp("2000-01-01") + to_offset(freq) - pd.Timestamp("2000-01-01")


def derive(ctx: base.Context) -> None:
    """Each series' state before every step and, where the data names stores, the store's traffic."""
    m = ctx.manifest
    freq, season = m.frequency or "D", m.season_length or 1
    demand = ctx.table("demand", columns=[SERIES_ID, TS, Y])
    ctx.write("series_state", series_state(demand, freq, season))
    if _has_column(ctx, STORE_ID):
        # Store traffic: total units of the store over the last 7 and 28 complete steps.
        sales = ctx.table("demand", columns=[STORE_ID, TS, Y])
        ctx.write("store_traffic", daily_rollups(sales, STORE_ID, {"store_units": Y}, [7, 28], step=_step(ctx)))


def define(ctx: base.Context) -> base.Definitions:
    step = _step(ctx)
    cols = ctx.derived_columns("series_state", exclude=(SERIES_ID, TS))
    views = [base.view("forecasting_series_state", [base.series],
                       base.file_source("forecasting_series_state", ctx.derived_path("series_state")),
                       ctx.derived_fields("series_state", cols), timedelta(seconds=step.total_seconds() * 2),
                       "The series' last value, seasonal lag, rolling means and share of zeros before the step.")]
    info = ctx.manifest.tables["demand"]
    if info.numeric_features or info.categorical_features:
        calendar = base.attribute_view(ctx, "demand", base.series, "forecasting_calendar")
        # Valid for its own step only: a price or promotion never carries over to the next step.
        calendar.ttl = timedelta(seconds=step.total_seconds() - 1)
        views.append(calendar)
    objects = [base.series]
    if _has_column(ctx, STORE_ID):
        cols = ctx.derived_columns("store_traffic", exclude=(STORE_ID, TS))
        views.append(base.view("forecasting_store_traffic", [base.store],
                               base.file_source("forecasting_store_traffic", ctx.derived_path("store_traffic")),
                               ctx.derived_fields("store_traffic", cols), timedelta(seconds=step.total_seconds() * 2),
                               "Units sold by the whole store over the last 7 and 28 complete steps."))
        objects.append(base.store)
    svc = base.service("forecasting", views, "Features of one (series, step) for demand forecasting models.")
    return base.Definitions("forecasting", [*objects, *views, svc], svc, lambda: entity_frame(ctx))


def entity_frame(ctx: base.Context) -> pd.DataFrame:
    """Training entities: every (series, step) with its value and split."""
    keys = [SERIES_ID] + ([STORE_ID] if _has_column(ctx, STORE_ID) else [])
    return ctx.table("demand", columns=keys + [TS, Y, SPLIT])


def _has_column(ctx: base.Context, column: str) -> bool:
    return column in ctx.data_columns("demand")
