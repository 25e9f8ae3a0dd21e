"""Statistical forecasters (statsforecast): the estimator contract on every frequency, short,
intermittent and constant series, fallbacks, seasonalities, intervals, one-series prediction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from models.forecasting import CANDIDATES
from models.forecasting_stats import MODELS, StatsForecaster

OUTPUT = ["series_id", "event_timestamp", "yhat", "yhat_lower", "yhat_upper"]
# freq -> (season length, series lengths): yearly M4-like 14-point series; a quarterly one
# shorter than two seasons; weekly series shorter and longer than two years.
FREQS = {"YS": (1, [14, 14, 11]), "QS": (4, [6, 13, 24]), "MS": (12, [30, 48]), "W-SAT": (52, [60, 110]),
         "D": (7, [50, 80]), "h": (24, [60, 100])}
STARTS = {"YS": "1990-01-01", "QS": "2001-04-01", "MS": "2003-02-01", "W-SAT": "2020-01-04", "D": "2024-01-01",
          "h": "2024-03-01 05:00"}


def make_series(freq: str, lengths: list[int], season: int, seed: int = 0, noise: float = 2.0,
                promo: bool = False) -> pd.DataFrame:
    """Seasonal series with a trend at different levels, each ending at a different step."""
    rng = np.random.default_rng(seed)
    frames = []
    for i, n in enumerate(lengths):
        ts = pd.date_range(STARTS.get(freq, "2024-01-01"), periods=n + i, freq=freq, tz="UTC")[i:]
        t = np.arange(n)
        y = 50 + 20 * i + 0.1 * t + 8 * np.sin(2 * np.pi * t / max(season, 2)) * (season > 1)
        frame = pd.DataFrame({"series_id": f"s{i}", "event_timestamp": ts, "y": y + rng.normal(0, noise, n)})
        if promo:
            frame["promo"] = (rng.random(n) < 0.2).astype(float)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def intermittent(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """Two intermittent demand series (mostly zeros), one all zero, one constant."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-01-01", periods=n, freq="D", tz="UTC")
    ys = {"sparse0": np.where(rng.random(n) < 0.1, rng.integers(1, 4, n), 0), "sparse1":
          np.where(rng.random(n) < 0.05, 1, 0), "zero": np.zeros(n), "flat": np.full(n, 3.0)}
    return pd.concat([pd.DataFrame({"series_id": k, "event_timestamp": ts, "y": v.astype(float)})
                      for k, v in ys.items()], ignore_index=True)


def check_forecasts(model, frame: pd.DataFrame, h: int, freq: str) -> pd.DataFrame:
    """The output contract: columns, one row per series and step, bounds around yhat, and
    every series continuing from its own last timestamp."""
    out = model.predict(h)
    assert list(out.columns) == OUTPUT
    assert len(out) == frame["series_id"].nunique() * h
    assert out[OUTPUT[2:]].notna().all().all() and np.isfinite(out[OUTPUT[2:]].to_numpy()).all()
    assert ((out["yhat_lower"] <= out["yhat"] + 1e-9) & (out["yhat"] <= out["yhat_upper"] + 1e-9)).all()
    for sid, g in frame.groupby("series_id"):
        expect = pd.date_range(g["event_timestamp"].max(), periods=h + 1, freq=freq)[1:]
        got = pd.DatetimeIndex(out.loc[out["series_id"] == sid, "event_timestamp"])
        assert (got == expect).all(), (sid, got, expect)
    return out


def check_contract(model, frame: pd.DataFrame, freq: str, h: int = 5) -> pd.DataFrame:
    """get_params/clone/set_params, NotFittedError, fitted state ending in _, output contract."""
    params = model.get_params()
    twin = clone(model)
    assert twin.get_params() == params
    assert twin.set_params(level=80) is twin and twin.level == 80
    with pytest.raises(NotFittedError):
        clone(model).predict(3)
    assert not [k for k in vars(model) if k.endswith("_")]
    assert model.fit(frame) is model
    learned = [k for k in vars(model) if k.endswith("_") and not k.startswith("_")]
    assert {"series_", "last_timestamp_", "exog_", "max_horizon_", "nonnegative_"} <= set(learned)
    assert set(vars(model)) - set(learned) <= set(params), "fit set state not ending in _"
    assert model.get_params() == params
    return check_forecasts(model, frame, h, freq)


@pytest.mark.parametrize("freq", FREQS)
@pytest.mark.parametrize("name", MODELS)
def test_contract_on_every_frequency(name, freq):
    season, lengths = FREQS[freq]
    frame = make_series(freq, lengths, season)
    model = CANDIDATES[name]().set_params(season_length=season, freq=freq, max_horizon=6)
    out = check_contract(model, frame, freq)
    assert model.model == name and model.exog_ == [] and model.max_horizon_ == 6
    assert set(model.fitted_) == set(model.series_) and model.forecasts_.shape == (len(lengths), 3, 6)
    one = model.predict(5, series=["s1"])  # one series: the same rows as in the full answer
    pd.testing.assert_frame_equal(one.reset_index(drop=True),
                                  out[out["series_id"] == "s1"].reset_index(drop=True))


@pytest.mark.parametrize("name", MODELS)
def test_intermittent_zero_and_constant_series(name):
    frame = intermittent()
    model = StatsForecaster(model=name, season_length=7, freq="D", max_horizon=7).fit(frame)
    out = check_forecasts(model, frame, 7, "D")
    assert (out[OUTPUT[2:]] >= 0).all().all()  # the training target never went below 0
    for sid, value in (("zero", 0.0), ("flat", 3.0)):
        np.testing.assert_allclose(out.loc[out["series_id"] == sid, "yhat"], value, atol=1e-6)


def test_failing_series_fall_back_and_are_recorded():
    """AutoETS cannot fit 2 or 6 values ("tiny datasets"): statsforecast's SeasonalNaive instead."""
    frame = make_series("QS", [2, 6, 24], 4)
    model = StatsForecaster(model="auto_ets", season_length=4, freq="QS", max_horizon=4).fit(frame)
    assert list(model.fallback_.index) == ["s0", "s1"]
    assert model.fallback_.str.contains("auto_ets").all()
    assert type(model.fitted_["s2"]).__name__ == "AutoETS"
    out = check_forecasts(model, frame, 4, "QS")
    last = frame[frame["series_id"] == "s0"]["y"].iloc[-1]
    np.testing.assert_allclose(out.loc[out["series_id"] == "s0", "yhat"], last)  # shorter than a season


def test_season_lengths_follow_the_data():
    """Two seasons of values for each season length; MSTL adds the week to hourly data and the
    year to daily data, and degrades to its trend model where no season fits."""
    hourly = make_series("h", [400, 100, 30], 24)
    m = StatsForecaster(model="mstl", season_length=24, freq="h", max_horizon=24).fit(hourly)
    assert m.seasons_.to_dict() == {"s0": (24, 168), "s1": (24,), "s2": ()}
    assert [type(m.fitted_[s]).__name__ for s in ("s0", "s1", "s2")] == ["MSTL", "MSTL", "AutoETS"]
    assert m.fitted_["s0"].season_length == [24, 168]
    daily = make_series("D", [740, 60], 7)
    assert StatsForecaster(model="mstl", season_length=7, freq="D").fit(daily).seasons_.to_dict() == \
        {"s0": (7, 365), "s1": (7,)}
    ets = StatsForecaster(model="auto_ets", season_length=24, freq="h").fit(hourly)
    assert ets.seasons_.to_dict() == {"s0": (24,), "s1": (24,), "s2": ()}


def test_cached_forecasts_equal_live_ones_and_one_series_predicts_one_model():
    frame = make_series("D", [60, 70, 80], 7)
    model = StatsForecaster(model="dynamic_theta", season_length=7, freq="D", intervals="native").fit(frame)
    assert model.max_horizon_ is None and model.forecasts_.shape[2] == 7  # one season cached
    cached, live = model.predict(5), model.predict(12)  # 12 > 7 steps: computed from fitted_
    pd.testing.assert_frame_equal(cached, live.groupby("series_id").head(5).reset_index(drop=True))
    narrow = clone(model).set_params(level=50).fit(frame)
    model.set_params(level=50)  # changed after fit: the cache holds the fitted level, 90
    pd.testing.assert_frame_equal(model.predict(5), narrow.predict(5))
    assert (narrow.predict(5).eval("yhat_upper - yhat_lower") < cached.eval("yhat_upper - yhat_lower")).all()

    class Refuses:  # a fitted model that must not be asked
        def predict(self, **kwargs):
            raise AssertionError("predicted a series nobody asked for")

    model.fitted_.update(s0=Refuses(), s2=Refuses())
    assert len(model.predict(12, series=["s1"])) == 12
    assert len(model.predict(3, level=50, series=["s1"])) == 3  # another level: live as well
    with pytest.raises(ValueError, match="unknown series"):
        model.predict(3, series=["nope"])


def test_exogenous_columns_are_ignored_and_bad_params_raise():
    frame = make_series("D", [40, 50], 7, promo=True)
    model = StatsForecaster(model="auto_ets", season_length=7, freq="D", max_horizon=3).fit(frame)
    assert model.exog_ == [] and model.boosters() == ()
    pd.testing.assert_frame_equal(model.predict(3), model.predict(3, X_future=frame))
    with pytest.raises(ValueError, match="model must be one of"):
        StatsForecaster(model="prophet").fit(frame)
    with pytest.raises(ValueError, match="level"):
        StatsForecaster(level=100).fit(frame)
    with pytest.raises(ValueError, match="max_horizon_=3"):
        model.predict(4)


def coverage(model, n_series: int = 20, n: int = 126, h: int = 14) -> float:
    """Share of held-out values inside the 90% interval, simulated weekly-seasonal series."""
    rng = np.random.default_rng(3)
    t = np.arange(n)
    ts = pd.date_range("2024-01-01", periods=n, freq="D", tz="UTC")
    frame = pd.concat([pd.DataFrame({"series_id": f"s{i}", "event_timestamp": ts,
                                     "y": 100 + 10 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 5, n)})
                       for i in range(n_series)], ignore_index=True)
    cut = ts[-h]
    train, test = frame[frame["event_timestamp"] < cut], frame[frame["event_timestamp"] >= cut]
    both = test.merge(model.fit(train).predict(h), on=["series_id", "event_timestamp"])
    assert len(both) == len(test)
    return float(((both["y"] >= both["yhat_lower"]) & (both["y"] <= both["yhat_upper"])).mean())


@pytest.mark.parametrize("name", ["auto_ets", "dynamic_theta", "auto_ces", "mstl"])
def test_interval_coverage_near_nominal(name):
    covered = coverage(StatsForecaster(model=name, season_length=7, freq="D", max_horizon=14, level=90))
    assert 0.7 <= covered <= 1.0, covered
