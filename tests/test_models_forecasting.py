"""Forecasters: the estimator contract, seasonal naive, the global LightGBM on mlforecast
(accuracy, intervals, horizons, every frequency, short and intermittent series)."""

from __future__ import annotations

import pickle
from concurrent.futures import ThreadPoolExecutor

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from conftest import shared
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from models.forecasting import SeasonalNaive, default_lags
from models.forecasting_global import LGBMForecaster

FAST = dict(n_estimators=150, n_jobs=1)
H = 14


def make_demand(n_series: int = 6, n_days: int = 210, seed: int = 0, promo: bool = True) -> pd.DataFrame:
    """Daily series at different scales: trend + weekly seasonality + promo lift + noise.

    The last ``H`` days of every series are the test period."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_days)
    frames = []
    for i in range(n_series):
        scale = 10.0 * 3**i
        weekly = np.array([0.8, 0.9, 1.0, 1.0, 1.1, 1.4, 1.3])
        start = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=int(rng.integers(0, 7)))
        ts = start + pd.to_timedelta(t, unit="D")
        p = (rng.random(n_days) < 0.15).astype(float)
        level = scale * (1 + 0.004 * t) * weekly[ts.dayofweek] * (1 + 0.6 * p if promo else 1)
        frame = pd.DataFrame({"series_id": f"s{i}", "event_timestamp": ts,
                              "y": level + rng.normal(0, 0.05 * scale, n_days)})
        if promo:
            frame["promo"] = p
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def split(df: pd.DataFrame, h: int = H):
    last = df.groupby("series_id")["event_timestamp"].transform("max")
    cut = df["event_timestamp"] > last - pd.Timedelta(days=h)
    return df[~cut].reset_index(drop=True), df[cut].reset_index(drop=True)


@pytest.fixture(scope="module")
def demand():
    return split(make_demand())


MODELS = [SeasonalNaive(season_length=7, freq="D"),
          LGBMForecaster(season_length=7, freq="D", max_horizon=H, **FAST),
          LGBMForecaster(season_length=7, freq="D", max_horizon=H, intervals="quantile", **FAST)]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: f"{type(m).__name__}-{getattr(m, 'intervals', '')}")
def test_estimator_contract(model, demand):
    train, test = demand
    params = model.get_params()
    twin = clone(model)
    assert twin.get_params() == params
    assert twin.set_params(season_length=14) is twin and twin.season_length == 14
    with pytest.raises(NotFittedError):
        clone(model).predict(3)
    assert not [k for k in vars(model) if k.endswith("_")]
    assert model.fit(train) is model
    learned = [k for k in vars(model) if k.endswith("_") and not k.startswith("_")]
    assert {"series_", "last_timestamp_", "max_horizon_", "nonnegative_"} <= set(learned)
    assert set(vars(model)) - set(learned) <= set(params), "fit set state not ending in _"
    assert model.get_params() == params
    out = model.predict(H, test)
    assert list(out.columns) == ["series_id", "event_timestamp", "yhat", "yhat_lower", "yhat_upper"]
    assert len(out) == 6 * H and out[["yhat", "yhat_lower", "yhat_upper"]].notna().all().all()
    assert ((out["yhat_lower"] <= out["yhat"]) & (out["yhat"] <= out["yhat_upper"])).all()
    pd.testing.assert_frame_equal(out, clone(model).fit(train).predict(H, test))  # deterministic


def test_lgbm_learned_state(demand):
    train, test = demand
    m = LGBMForecaster(season_length=7, freq="D", max_horizon=H, **FAST).fit(train)
    assert m.exog_ == ["promo"] and m.max_horizon_ == H
    assert list(m.feature_importances_.index) == m.feature_names_
    assert {"lag1", "lag7", "lag28", "rolling_mean_lag1_window_size7", "dayofweek", "promo"} <= set(m.feature_names_)
    assert m.conformal_errors_.shape == (6, H)
    assert m.feature_importances_["promo"] > 0
    assert (m.last_timestamp_ == train.groupby("series_id")["event_timestamp"].max()).all()
    assert [type(b) for b in m.boosters()] == [lgb.Booster] * m.bags
    assert m.boosters()[0].feature_name() == m.feature_names_


def test_bagged_boosters_average(demand):
    """The point forecast at every step is the mean of the bag's boosters (each on its own
    rows and features), fed back into the recursion; one booster is the plain model."""
    train, test = demand
    bag = LGBMForecaster(season_length=7, freq="D", max_horizon=H, **{**FAST, "bags": 3}).fit(train)
    point = bag._point()
    assert len(point.boosters_) == 3 and len({b.model_to_string() for b in point.boosters_}) == 3
    x = bag.mlf_.ts.features_order_
    rows = np.random.default_rng(0).normal(size=(5, len(x)))
    np.testing.assert_allclose(point.predict(rows), np.mean([b.predict(rows) for b in point.boosters_], axis=0))
    # one row (a served step) goes through LightGBM's single-row C API: the same numbers
    single = [point.predict(rows[i:i + 1])[0] for i in range(len(rows))]
    np.testing.assert_allclose(single, point.predict(rows), rtol=1e-12)
    again = pickle.loads(pickle.dumps(bag))  # the C handles are not pickled; they are made again
    assert "_rows" not in vars(again._point())
    pd.testing.assert_frame_equal(again.predict(H, test, series=[test["series_id"].iloc[0]]),
                                  bag.predict(H, test, series=[test["series_id"].iloc[0]]))
    np.testing.assert_allclose(bag.feature_importances_.to_numpy(),
                               np.mean([b.feature_importance("gain") for b in point.boosters_], axis=0))
    one = LGBMForecaster(season_length=7, freq="D", max_horizon=H, **{**FAST, "bags": 1}).fit(train)
    assert len(one.boosters()) == 1 and "bagging_fraction" not in one._point().params
    assert bag.predict(H, test)["yhat"].notna().all()


def test_y_argument_replaces_column(demand):
    train, test = demand
    a = SeasonalNaive().fit(train.assign(y=0.0), train["y"]).predict(3)
    pd.testing.assert_frame_equal(a, SeasonalNaive().fit(train).predict(3))


def test_seasonal_naive_repeats_last_season(demand):
    train, _ = demand
    out = SeasonalNaive(season_length=7, freq="D").fit(train).predict(17)
    for sid, g in train.groupby("series_id"):
        last = g["y"].to_numpy()[-7:]
        np.testing.assert_array_equal(out.loc[out["series_id"] == sid, "yhat"].to_numpy(),
                                      np.tile(last, 3)[:17])
    native = SeasonalNaive(season_length=7, freq="D", intervals="native").fit(train).predict(17)
    pd.testing.assert_series_equal(native["yhat"], out["yhat"])
    widths = native[native["series_id"] == "s0"].eval("yhat_upper - yhat_lower").to_numpy()
    np.testing.assert_allclose(widths[7:14], widths[:7] * np.sqrt(2))  # widen per season ahead


def mape(test: pd.DataFrame, out: pd.DataFrame) -> float:
    both = test.merge(out, on=["series_id", "event_timestamp"], validate="one_to_one")
    assert len(both) == len(test)
    return float(np.mean(np.abs(both["y"] - both["yhat"]) / both["y"]))


def test_lgbm_beats_seasonal_naive(demand):
    train, test = demand
    naive = mape(test, SeasonalNaive(season_length=7, freq="D").fit(train).predict(H))
    gbm = mape(test, LGBMForecaster(season_length=7, freq="D", max_horizon=H, **FAST).fit(train).predict(H, test))
    assert gbm < 0.6 * naive, (gbm, naive)


def test_conformal_intervals_cover_nominal_share():
    """Stationary seasonal series with noise: the 90% interval covers about 90% of new values."""
    rng = np.random.default_rng(1)
    n_series, n = 40, 150
    t = np.arange(n)
    df = pd.DataFrame({
        "series_id": np.repeat([f"s{i}" for i in range(n_series)], n),
        "event_timestamp": np.tile(pd.date_range("2024-01-01", periods=n, freq="D"), n_series),
        "y": np.concatenate([100 + 10 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 5, n) for _ in range(n_series)]),
    })
    train, test = split(df, 7)
    m = LGBMForecaster(season_length=7, freq="D", max_horizon=7, n_estimators=60, n_jobs=1).fit(train)
    both = test.merge(m.predict(7, level=90), on=["series_id", "event_timestamp"])
    covered = ((both["y"] >= both["yhat_lower"]) & (both["y"] <= both["yhat_upper"])).mean()
    assert 0.8 <= covered <= 0.98, covered
    narrow = test.merge(m.predict(7, level=50), on=["series_id", "event_timestamp"])
    covered50 = ((narrow["y"] >= narrow["yhat_lower"]) & (narrow["y"] <= narrow["yhat_upper"])).mean()
    assert 0.35 <= covered50 <= 0.65, covered50
    naive = SeasonalNaive(season_length=7, freq="D").fit(train).predict(7, level=90)
    both = test.merge(naive, on=["series_id", "event_timestamp"])
    assert 0.8 <= ((both["y"] >= both["yhat_lower"]) & (both["y"] <= both["yhat_upper"])).mean() <= 0.99


def test_horizon_limit(demand):
    train, test = demand
    m = LGBMForecaster(season_length=7, freq="D", max_horizon=5, **FAST).fit(train)
    with pytest.raises(ValueError, match="max_horizon_=5"):
        m.predict(6, test)
    assert len(m.predict(5, test)) == 6 * 5
    naive = SeasonalNaive(max_horizon=3).fit(train)
    with pytest.raises(ValueError, match="max_horizon_=3"):
        naive.predict(4)
    assert SeasonalNaive().fit(train).max_horizon_ is None


def test_missing_exogenous_columns_raise(demand):
    train, test = demand
    m = LGBMForecaster(season_length=7, freq="D", max_horizon=H, **FAST).fit(train)
    with pytest.raises(ValueError, match="promo"):
        m.predict(H)
    with pytest.raises(ValueError, match="promo"):
        m.predict(H, test.drop(columns=["promo"]))
    with pytest.raises(ValueError, match="every forecast step"):
        m.predict(H, test.iloc[:-1])


@pytest.mark.parametrize("freq,season", [("D", 7), ("h", 24), ("W", 52), ("W-SAT", 52), ("MS", 12), ("QS", 4),
                                         ("YS", 1)])
def test_timestamps_continue_each_series(freq, season):
    rows = []
    for i, start in enumerate(["2024-01-01", "2024-03-01"]):
        ts = pd.date_range(start, periods=3 * season + 5 + i, freq=freq, tz="UTC")
        rows.append(pd.DataFrame({"series_id": f"s{i}", "event_timestamp": ts, "y": np.arange(len(ts), dtype=float)}))
    df = pd.concat(rows, ignore_index=True)
    for model in (SeasonalNaive(season_length=season, freq=freq),
                  LGBMForecaster(season_length=season, freq=freq, max_horizon=4, n_estimators=5, n_jobs=1)):
        out = model.fit(df).predict(4)
        for sid, g in df.groupby("series_id"):
            expect = pd.date_range(g["event_timestamp"].max(), periods=5, freq=freq)[1:]
            got = pd.DatetimeIndex(out.loc[out["series_id"] == sid, "event_timestamp"])
            assert (got == expect).all(), (type(model).__name__, freq, got, expect)


def test_default_lags():
    assert default_lags(24, "h") == list(range(1, 25)) + [48, 72, 96, 120, 144, 168]
    assert default_lags(7, "D") == list(range(1, 8)) + [14, 21, 28]
    assert default_lags(12, "MS") == list(range(1, 25))  # slower than daily: every lag to max(2m, 6)
    assert default_lags(4, "QS") == list(range(1, 9))
    assert default_lags(1, "YS") == list(range(1, 7))
    assert default_lags(52, "W-SAT") == list(range(1, 53)) + [104]


def test_quantile_intervals_need_their_level(demand):
    train, test = demand
    m = LGBMForecaster(season_length=7, freq="D", max_horizon=H, intervals="quantile", level=80, **FAST).fit(train)
    assert len(m.quantile_models_) == 2
    assert m.boosters()[m.bags:] == [b for q in m.quantile_models_ for b in q.boosters_]
    m.predict(H, test)
    with pytest.raises(ValueError, match="level=80"):
        m.predict(H, test, level=90)


@pytest.mark.realdata
def test_m4_hourly_seasonal_naive_matches_official():
    """Seasonal naive reproduces M4's official Hourly sMAPE 13.912 and MASE 1.193."""
    import sys
    from pathlib import Path

    folder = shared("forecasting/m4-hourly")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from check_forecast_m4 import H as H4
    from check_forecast_m4 import load, scores

    frame, actual, history = load(folder)
    ids = pd.unique(frame["series_id"])
    fc = SeasonalNaive(season_length=24, freq="h").fit(frame).predict(H4).set_index("series_id").loc[ids]
    f = fc["yhat"].to_numpy().reshape(len(ids), H4)
    s = scores(history, actual, f, f, f)
    assert s["smape"] == pytest.approx(13.912, abs=1e-3) and s["mase"] == pytest.approx(1.193, abs=1e-3)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: f"{type(m).__name__}-{getattr(m, 'intervals', '')}")
def test_nonnegative_targets_give_nonnegative_forecasts(model):
    """Intermittent demand (mostly zeros): no forecast or bound below zero."""
    rng = np.random.default_rng(3)
    ts = pd.date_range("2024-01-01", periods=120, freq="D", tz="UTC")
    frames = [pd.DataFrame({"series_id": f"slow{i}", "event_timestamp": ts,
                            "y": rng.poisson(0.3, len(ts)).astype(float) * rng.integers(1, 5)})
              for i in range(4)]
    df = pd.concat(frames, ignore_index=True)
    out = clone(model).set_params(max_horizon=H).fit(df).predict(H)
    assert (out[["yhat", "yhat_lower", "yhat_upper"]] >= 0).all().all()
    assert out["yhat_upper"].max() > 0
    # A target that goes negative keeps negative forecasts possible.
    shifted = df.assign(y=df["y"] - 10.0)
    assert not clone(model).set_params(max_horizon=H).fit(shifted).nonnegative_


def test_short_series_calibrate_what_history_allows():
    """M4 yearly-like series of 14 points with max_horizon 48: conformal intervals calibrate
    the steps the history allows and widen past them, instead of failing."""
    rng = np.random.default_rng(0)
    df = pd.concat([pd.DataFrame({"series_id": f"y{i}", "event_timestamp": pd.date_range("2000", periods=14, freq="YS"),
                                  "y": 100 + 5 * np.arange(14) + rng.normal(0, 2, 14)}) for i in range(4)])
    m = LGBMForecaster(season_length=1, freq="YS", max_horizon=48, n_estimators=10, n_jobs=1).fit(df)
    assert 1 <= m.conformal_errors_.shape[1] < 48
    out = m.predict(48)
    width = (out["yhat_upper"] - out["yhat_lower"]).to_numpy().reshape(4, 48)
    assert np.isfinite(width).all() and (np.diff(width[:, m.conformal_errors_.shape[1] - 1:], axis=1) >= 0).all()


def test_timestamps_off_the_frequency_grid_raise():
    ts = pd.date_range("2000-01-01", periods=30, freq="W-SAT")
    df = pd.DataFrame({"series_id": "w", "event_timestamp": ts, "y": np.arange(30.0)})
    with pytest.raises(ValueError, match="W-SAT"):
        SeasonalNaive(season_length=1, freq="W").fit(df)
    assert len(SeasonalNaive(season_length=1, freq="W-SAT").fit(df).predict(3)) == 3


def test_count_forecasts_are_whole_numbers():
    rng = np.random.default_rng(2)
    ts = pd.date_range("2024-01-01", periods=120, freq="D", tz="UTC")
    df = pd.concat([pd.DataFrame({"series_id": f"c{i}", "event_timestamp": ts,
                                  "y": rng.poisson(0.3 + 3 * i, len(ts)).astype(float)}) for i in range(3)])
    out = LGBMForecaster(season_length=7, freq="D", max_horizon=7, **FAST).fit(df).predict(7)
    assert (out["yhat"] == out["yhat"].round()).all()
    raw = LGBMForecaster(season_length=7, freq="D", max_horizon=7, round_counts=False, **FAST).fit(df).predict(7)
    assert (raw["yhat"] != raw["yhat"].round()).any()


def test_predict_only_the_requested_series(demand):
    """Serving asks for one series at a time: the same numbers as forecasting all of them."""
    train, test = demand
    for intervals in ("conformal", "quantile"):
        m = LGBMForecaster(season_length=7, freq="D", max_horizon=H, intervals=intervals, **FAST).fit(train)
        every = m.predict(H, test)
        some = m.predict(H, test, series=["s4", "s1"])
        assert list(pd.unique(some["series_id"])) == ["s4", "s1"]
        expect = every.set_index(["series_id", "event_timestamp"]).loc[pd.MultiIndex.from_frame(some.iloc[:, :2])]
        np.testing.assert_allclose(some.iloc[:, 2:].to_numpy(), expect.to_numpy())
        with pytest.raises(ValueError, match="unknown series"):
            m.predict(H, test, series=["nope"])
    # A pickled model (how versions are logged and served) forecasts the same, also from threads.
    twin = pickle.loads(pickle.dumps(m))
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda s: twin.predict(H, test, series=[s]), [f"s{i}" for i in range(6)] * 2))
    pd.testing.assert_frame_equal(pd.concat(outs[:6], ignore_index=True), every)


def test_short_yearly_and_quarterly_series():
    """M4 yearly (14 points, horizon 6) and quarterly (16-24 points, horizon 8) sized series."""
    rng = np.random.default_rng(4)
    years = pd.date_range("1990", periods=14, freq="YS")
    yearly = pd.concat([pd.DataFrame({"series_id": f"y{i}", "event_timestamp": years,
                                      "y": 1000 * (i + 1) + 40 * np.arange(14) + rng.normal(0, 20, 14)})
                        for i in range(8)])
    m = LGBMForecaster(season_length=1, freq="YS", max_horizon=6, n_estimators=30, n_jobs=1).fit(yearly)
    assert m.conformal_errors_.shape == (8, 6)
    out = m.predict(6)
    assert len(out) == 48 and np.isfinite(out[["yhat", "yhat_lower", "yhat_upper"]].to_numpy()).all()
    quarterly = pd.concat([pd.DataFrame({"series_id": f"q{i}",
                                         "event_timestamp": pd.date_range("2000-04-01", periods=16 + i, freq="QS"),
                                         "y": 50 + 10 * np.tile([1.0, -1, 0.5, 0], 8)[:16 + i]
                                         + rng.normal(0, 1, 16 + i)})
                           for i in range(8)])
    m = LGBMForecaster(season_length=4, freq="QS", max_horizon=8, n_estimators=30, n_jobs=1).fit(quarterly)
    out = m.predict(8)
    assert len(out) == 64 and np.isfinite(out[["yhat", "yhat_lower", "yhat_upper"]].to_numpy()).all()
    assert 1 <= m.conformal_errors_.shape[1] <= 8


def test_intermittent_and_all_zero_series():
    """Series of zeros (scale 1, no change to learn) next to sparse counts: whole, nonnegative."""
    rng = np.random.default_rng(5)
    ts = pd.date_range("2024-01-01", periods=90, freq="D", tz="UTC")
    ys = [np.zeros(90), np.zeros(90), rng.poisson(0.2, 90).astype(float), rng.poisson(0.05, 90).astype(float)]
    df = pd.concat([pd.DataFrame({"series_id": f"z{i}", "event_timestamp": ts, "y": y}) for i, y in enumerate(ys)])
    m = LGBMForecaster(season_length=7, freq="D", max_horizon=7, **FAST).fit(df)
    out = m.predict(7)
    assert np.isfinite(out[["yhat", "yhat_lower", "yhat_upper"]].to_numpy()).all()
    assert (out["yhat"] == out["yhat"].round()).all() and (out[["yhat", "yhat_lower"]] >= 0).all().all()
    assert (out.loc[out["series_id"].isin(["z0", "z1"]), "yhat"] == 0).all()
    assert (m.scale_[["z0", "z1"]] == 1).all()
    only_zeros = LGBMForecaster(season_length=7, freq="D", max_horizon=7, **FAST).fit(df[df["series_id"] == "z0"])
    assert (only_zeros.predict(7)[["yhat", "yhat_lower", "yhat_upper"]] == 0).all().all()


def test_series_shorter_than_the_lags_and_the_season():
    """Hourly lags reach back 168 steps: a series of 100 (shorter than the lags) and one of 10
    (shorter than a season) still get finite forecasts; the long series calibrate."""
    rng = np.random.default_rng(6)
    rows = []
    for i, n in enumerate([400, 400, 400, 100, 10]):
        ts = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
        y = 20 + 5 * np.sin(2 * np.pi * np.arange(n) / 24) + rng.normal(0, 1, n)
        rows.append(pd.DataFrame({"series_id": f"s{i}", "event_timestamp": ts, "y": y}))
    df = pd.concat(rows, ignore_index=True)
    m = LGBMForecaster(season_length=24, freq="h", max_horizon=24, n_estimators=30, n_jobs=1).fit(df)
    out = m.predict(24)
    assert len(out) == 5 * 24 and np.isfinite(out[["yhat", "yhat_lower", "yhat_upper"]].to_numpy()).all()
    short = out.loc[out["series_id"] == "s4", "yhat"]
    assert short.between(5, 35).all(), short



@pytest.mark.parametrize("freq,season", [("D", 7), ("h", 24), ("W-SAT", 52), ("MS", 12)])
def test_step_rows_match_mlforecast(demand, freq, season):
    """The per-step float rows (for serving's latency) give mlforecast's own forecasts, with
    exogenous inputs (daily) and for 100 steps, past the 64 whose dates are made at once."""
    from mlforecast.core import TimeSeries

    train, test = demand
    h = H
    if freq != "D":
        rng, h, test = np.random.default_rng(7), 100, None
        train = pd.concat([pd.DataFrame({"series_id": f"s{i}", "event_timestamp": pd.date_range(
            "2001-01-01", periods=150 + 10 * i, freq=freq, tz="UTC"), "y": 10 + np.sin(np.arange(150 + 10 * i) / 3)
            + rng.normal(0, 0.1, 150 + 10 * i)}) for i in range(3)], ignore_index=True)
    m = LGBMForecaster(season_length=season, freq=freq, max_horizon=h, intervals="quantile", **FAST).fit(train)
    fast = m.predict(h, test, series=["s2", "s0"])
    m.mlf_.ts.__class__ = TimeSeries
    pd.testing.assert_frame_equal(fast, m.predict(h, test, series=["s2", "s0"]))
