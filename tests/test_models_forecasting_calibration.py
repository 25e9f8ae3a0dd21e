"""Conformal calibration of the local models' intervals (models.forecasting_calibration):
the quantile rule, nothing but the fit data read, coverage near nominal where the models' own
intervals under-cover, any level from one set of scores, and short data left as it was."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import forecasting_calibration as calibration
from models.forecasting_base import SeasonalNaive
from models.forecasting_ensemble import PerSeriesChoice
from models.forecasting_stats import StatsForecaster


def random_walks(n_series: int, n: int, seed: int = 0, freq: str = "YS") -> pd.DataFrame:
    """Short yearly random walks with drift whose step size differs per series: the local
    models' own intervals, fit on 14 points, under-cover them."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("1980-01-01", periods=n, freq=freq, tz="UTC")
    frames = [pd.DataFrame({"series_id": f"s{i}", "event_timestamp": ts,
                            "y": 1000 + np.cumsum(rng.normal(rng.uniform(-20, 40), rng.uniform(5, 60), n))})
              for i in range(n_series)]
    return pd.concat(frames, ignore_index=True)


def split(frame: pd.DataFrame, h: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    last = frame.groupby("series_id")["event_timestamp"].transform("max")
    cut = frame["event_timestamp"] > last - pd.DateOffset(years=h)
    return frame[~cut], frame[cut]


def covered(out: pd.DataFrame, actual: pd.DataFrame) -> float:
    both = actual.merge(out, on=["series_id", "event_timestamp"], validate="one_to_one")
    assert len(both) == len(actual)
    return float(((both["y"] >= both["yhat_lower"]) & (both["y"] <= both["yhat_upper"])).mean())


def test_factor_is_the_conformal_quantile_and_widen_scales_each_side():
    scores = np.arange(1.0, 20.0)  # 19 scores: ceil(20 * 0.9) = 18th smallest
    assert calibration.factor(scores, 90) == 18.0
    assert calibration.factor(scores, 50) == 10.0
    assert calibration.factor(scores[:8], 90) is None  # ceil(9 * 0.9) = 9 > 8: too few for 90%
    assert calibration.factor(np.empty(0), 90) is None and calibration.factor(None, 90) is None
    assert calibration.factor(np.array([0.5, 1.0, np.inf]), 50) == 1.0  # ceil(4 * 0.5) = 2nd
    assert calibration.factor(np.array([0.5, 1.0, np.inf]), 60) is None  # an infinite quantile: no scale
    lower, upper = calibration.widen(np.array([10.0]), np.array([8.0]), np.array([11.0]), 2.0)
    assert (lower[0], upper[0]) == (6.0, 12.0)  # asymmetric sides keep their shape
    same = calibration.widen(np.array([10.0]), np.array([8.0]), np.array([11.0]), None)
    assert (same[0][0], same[1][0]) == (8.0, 11.0)
    with pytest.raises(ValueError, match="intervals must be one of"):
        calibration.check("bootstrap")


def test_holdout_keeps_two_seasons_for_the_median_series_and_prefers_the_horizon():
    sizes = pd.Series([20, 30, 40], index=["a", "b", "c"])
    assert calibration.holdout(sizes, 4, 48)[0] == 30 - 8  # median 30, min_train max(2 * 4, 8)
    h, eligible = calibration.holdout(sizes, 4, 6)
    assert h == 6 and list(eligible) == ["a", "b", "c"]
    h, eligible = calibration.holdout(sizes, 12, None, windows=2)  # m = 12: min_train 24, (30 - 24) // 2
    assert h == 3 and list(eligible) == ["b", "c"]
    assert calibration.holdout(pd.Series([8, 8], index=["a", "b"]), 1, 6)[0] == 0
    assert calibration.steps(StatsForecaster(max_horizon=48, horizon=8)) == 8
    assert calibration.steps(StatsForecaster(max_horizon=48)) == 48


@pytest.mark.parametrize("name", ["dynamic_theta", "auto_ets", "seasonal_naive"])
def test_conformal_intervals_cover_short_yearly_series_near_nominal(name):
    """Fit on 30 points, forecast 6: the models' own 90% intervals under-cover these random
    walks; the conformal ones, calibrated on the 30 points alone, hold about 90%."""
    train, test = split(random_walks(300, 36, seed=1), 6)

    def make(intervals):
        if name == "seasonal_naive":
            return SeasonalNaive(season_length=1, freq="YS", max_horizon=12, horizon=6, intervals=intervals)
        return StatsForecaster(model=name, season_length=1, freq="YS", max_horizon=12, horizon=6, intervals=intervals)

    native, conformal = make("native").fit(train), make("conformal").fit(train)
    ours, theirs = conformal.predict(6), native.predict(6)
    np.testing.assert_allclose(ours["yhat"], theirs["yhat"])  # calibration changes intervals only
    assert len(conformal.calibration_scores_) > 100 and conformal.calibration_level_ == 90
    got, before = covered(ours, test), covered(theirs, test)
    assert abs(got - 0.90) <= 0.06, (got, before)
    assert abs(got - 0.90) < abs(before - 0.90), (got, before)


def test_scores_are_the_fit_datas_own_held_out_errors_and_serve_any_level():
    train, test = split(random_walks(200, 36, seed=2), 6)
    model = StatsForecaster(model="dynamic_theta", season_length=1, freq="YS", max_horizon=6).fit(train)
    wide, narrow = model.predict(6), model.predict(6, level=50)
    assert ((narrow["yhat_lower"] >= wide["yhat_lower"] - 1e-9) & (narrow["yhat_upper"] <= wide["yhat_upper"] + 1e-9)).all()
    assert (narrow.eval("yhat_upper - yhat_lower") < wide.eval("yhat_upper - yhat_lower")).all()
    assert 0.40 <= covered(narrow, test) <= 0.60
    # The scores, by hand: the model's own interval on each series' last 6 fit values.
    head, held = split(train, 6)
    own = StatsForecaster(model="dynamic_theta", season_length=1, freq="YS", max_horizon=6,
                          intervals="native").fit(head).predict(6)
    both = held.merge(own, on=["series_id", "event_timestamp"])
    side = np.where(both["y"] >= both["yhat"], both["yhat_upper"] - both["yhat"], both["yhat"] - both["yhat_lower"])
    np.testing.assert_allclose(model.calibration_scores_, np.sort(np.abs(both["y"] - both["yhat"]) / side))
    assert model.predict(6, level=90).equals(wide)


def test_too_short_data_keeps_the_models_own_intervals():
    for n, scores in ((8, 0), (9, 5)):  # 8 points: no window; 9: 5 scores, too few for 90% or 95%
        train = random_walks(5, n)
        model = StatsForecaster(model="dynamic_theta", season_length=1, freq="YS", max_horizon=6).fit(train)
        native = StatsForecaster(model="dynamic_theta", season_length=1, freq="YS", max_horizon=6,
                                 intervals="native").fit(train)
        assert len(model.calibration_scores_) == scores
        pd.testing.assert_frame_equal(model.predict(6), native.predict(6))
        pd.testing.assert_frame_equal(model.predict(6, level=95), native.predict(6, level=95))


def test_per_series_cross_validation_reuses_the_members_calibration_fits(monkeypatch):
    """The members' conformal calibration and the per-series choice's window hold out the same
    steps: the point-only members of the cross-validation are those calibration fits."""
    frame = random_walks(40, 24, seed=3)
    fits = []
    original = StatsForecaster.fit

    def counting(self, X, y=None):
        fits.append((self.model, self.intervals, len(X)))
        return original(self, X, y)

    monkeypatch.setattr(StatsForecaster, "fit", counting)
    model = PerSeriesChoice(members=("dynamic_theta", "auto_ets"), windows=1, season_length=1, freq="YS",
                            max_horizon=6).fit(frame)
    assert model.cv_horizon_ == 6
    assert sorted(fits) == sorted([("dynamic_theta", "conformal", len(frame)), ("auto_ets", "conformal", len(frame)),
                                   ("dynamic_theta", "native", len(frame) - 40 * 6),
                                   ("auto_ets", "native", len(frame) - 40 * 6)])
