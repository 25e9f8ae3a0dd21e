"""Combinations and the per-series choice: the estimator contract on every frequency, the
combination as the median or mean of its members, members with exogenous inputs, and the
choice made by cross-validation inside the fit data only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_models_forecasting_stats import FREQS, check_contract, check_forecasts, coverage, intermittent, make_series

from models.forecasting import CANDIDATES
from models.forecasting_ensemble import COMBINATION, Combination, PerSeriesChoice

BOUNDS = ["yhat", "yhat_lower", "yhat_upper"]
FAST_GBM = {"lightgbm": dict(n_estimators=20, n_jobs=1)}


@pytest.mark.parametrize("freq", FREQS)
@pytest.mark.parametrize("name", ["combination", "per_series"])
def test_contract_on_every_frequency(name, freq):
    season, lengths = FREQS[freq]
    frame = make_series(freq, lengths, season)
    model = CANDIDATES[name]().set_params(season_length=season, freq=freq, max_horizon=6)
    check_contract(model, frame, freq)
    assert set(model.members_) == {"auto_ets", "dynamic_theta", "auto_ces"} and model.exog_ == []
    assert all(m.freq == freq and m.season_length == season and m.max_horizon_ == 6 for m in model.members_.values())
    assert model.max_horizon_ == 6 and model.boosters() == ()
    if name == "per_series":
        assert set(model.choice_.index) == set(model.series_)
        assert set(model.choice_) <= {"auto_ets", "dynamic_theta", "auto_ces", COMBINATION}


@pytest.mark.parametrize("cls", [Combination, PerSeriesChoice])
def test_intermittent_series(cls):
    frame = intermittent()
    model = cls(season_length=7, freq="D", max_horizon=7).fit(frame)
    out = check_forecasts(model, frame, 7, "D")
    assert (out[BOUNDS] >= 0).all().all()
    np.testing.assert_allclose(out.loc[out["series_id"] == "zero", "yhat"], 0.0, atol=1e-6)


@pytest.mark.parametrize("how,agg", [("median", np.median), ("mean", np.mean)])
def test_combination_aggregates_its_members(how, agg):
    frame = make_series("MS", [40, 52, 60], 12)
    model = Combination(how=how, season_length=12, freq="MS", max_horizon=8).fit(frame)
    out = model.predict(8, level=80)
    each = np.stack([m.predict(8, level=80)[BOUNDS].to_numpy() for m in model.members_.values()])
    np.testing.assert_allclose(out[BOUNDS].to_numpy(), agg(each, axis=0))
    one = model.predict(8, series=["s2"])
    each = np.stack([m.predict(8, series=["s2"])[BOUNDS].to_numpy() for m in model.members_.values()])
    np.testing.assert_allclose(one[BOUNDS].to_numpy(), agg(each, axis=0))


def test_member_params_and_a_global_member_with_exogenous_inputs():
    frame = make_series("D", [70, 80, 90], 7, promo=True)
    last = frame.groupby("series_id")["event_timestamp"].transform("max")
    train, future = frame[frame["event_timestamp"] <= last - pd.Timedelta(days=5)], frame[
        frame["event_timestamp"] > last - pd.Timedelta(days=5)]
    model = Combination(members=("auto_ets", "lightgbm"), how="mean", member_params=FAST_GBM,
                        season_length=7, freq="D", max_horizon=5).fit(train)
    gbm = model.members_["lightgbm"]
    assert model.exog_ == ["promo"] and gbm.n_estimators == 20 and gbm.max_horizon == 5
    with pytest.raises(ValueError, match="promo"):
        model.predict(5)
    out = model.predict(5, X_future=future)
    both = (model.members_["auto_ets"].predict(5)[BOUNDS].to_numpy() + gbm.predict(5, future)[BOUNDS].to_numpy()) / 2
    np.testing.assert_allclose(out[BOUNDS].to_numpy(), both)
    assert model.boosters() == (tuple(gbm.boosters()) if hasattr(gbm, "boosters") else ())


def test_bad_parameters_raise():
    frame = make_series("D", [40, 50], 7)
    for bad, match in ((dict(how="max"), "how"), (dict(members=("auto_ets", "prophet")), "members"),
                       (dict(members=()), "members"), (dict(member_params={"auto_arima": {}}), "member_params")):
        with pytest.raises(ValueError, match=match):
            Combination(**bad).fit(frame)
    with pytest.raises(ValueError, match="windows"):
        PerSeriesChoice(windows=0).fit(frame)


def seasonal_and_flat(n: int = 70, seed: int = 0) -> pd.DataFrame:
    """Two series that repeat a weekly pattern exactly, two flat ones with noise, one short one."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-01-01", periods=n, freq="D", tz="UTC")
    week = np.array([10.0, 30, 50, 20, 80, 40, 5])
    ys = {"seasonal0": np.tile(week, n)[:n] + 100, "seasonal1": np.tile(week[::-1], n)[:n] + 50,
          "flat0": 100 + rng.normal(0, 10, n), "flat1": 60 + rng.normal(0, 10, n)}
    frames = [pd.DataFrame({"series_id": k, "event_timestamp": ts, "y": v}) for k, v in ys.items()]
    frames.append(pd.DataFrame({"series_id": "short", "event_timestamp": ts[-20:], "y": 100 + rng.normal(0, 10, 20)}))
    return pd.concat(frames, ignore_index=True)


CHOICE = dict(members=("seasonal_naive", "auto_ets"), season_length=7, freq="D", max_horizon=7)


def test_choice_follows_the_best_member_per_series():
    """Seasonal naive is exact on a repeating week; on white noise around a level it is the worst
    choice (two noises) and ETS (about the level) wins. The short series joins no window."""
    frame = seasonal_and_flat()
    model = PerSeriesChoice(include_combination=False, **CHOICE).fit(frame)
    assert model.cv_horizon_ == 7
    assert model.choice_.to_dict() == {"flat0": "auto_ets", "flat1": "auto_ets", "seasonal0": "seasonal_naive",
                                       "seasonal1": "seasonal_naive", "short": COMBINATION}
    assert model.cv_mae_.loc["short"].isna().all() and model.cv_mae_.loc["seasonal0", "seasonal_naive"] == 0
    out = model.predict(7)  # each series from its choice
    for sid, choice in model.choice_.items():
        want = (Combination(**CHOICE).fit(frame) if choice == COMBINATION else model.members_[choice]).predict(
            7, series=[sid])
        np.testing.assert_allclose(out.loc[out["series_id"] == sid, BOUNDS].to_numpy(), want[BOUNDS].to_numpy())
    with_combination = PerSeriesChoice(**CHOICE).fit(frame)
    assert list(with_combination.cv_mae_.columns) == ["seasonal_naive", "auto_ets", COMBINATION]
    best = with_combination.cv_mae_.drop(index="short").idxmin(axis=1)
    assert (with_combination.choice_.drop(index="short") == best).all()


def test_choice_depends_only_on_the_rows_fit_receives():
    """The job cuts its test part off before fit; rows after the cut, however wild, change
    nothing. Fitting with them included does change the cross-validation (the check has teeth)."""
    frame = seasonal_and_flat()
    cut = pd.Timestamp("2024-02-26", tz="UTC")
    train = frame[frame["event_timestamp"] <= cut].reset_index(drop=True)
    poisoned = frame.copy()
    poisoned.loc[poisoned["event_timestamp"] > cut, "y"] = 1e9  # a "test" part nobody may read
    a = PerSeriesChoice(**CHOICE).fit(train)
    b = PerSeriesChoice(**CHOICE).fit(poisoned[poisoned["event_timestamp"] <= cut])
    pd.testing.assert_series_equal(a.choice_, b.choice_)
    pd.testing.assert_frame_equal(a.cv_mae_, b.cv_mae_)
    pd.testing.assert_frame_equal(a.predict(7), b.predict(7))
    leaky = PerSeriesChoice(**CHOICE).fit(poisoned)
    assert not leaky.cv_mae_.fillna(0).equals(a.cv_mae_.fillna(0))


def test_series_too_short_for_any_window_get_the_combination():
    """h = max_horizon cut so that the median series keeps 8 values before the first origin;
    series without those 8 values before it join no window and get the combination."""
    frame = make_series("YS", [14, 12, 9], 1)
    fast = dict(members=("auto_ets", "dynamic_theta"), season_length=1, freq="YS", max_horizon=6)
    model = PerSeriesChoice(**fast).fit(frame)
    assert model.cv_horizon_ == 2 and model.choice_["s2"] == COMBINATION  # (12 - 8) // 2 windows; 9 < 8 + 2 * 2
    assert model.cv_mae_.loc[["s0", "s1"]].notna().all().all() and model.cv_mae_.loc["s2"].isna().all()
    assert PerSeriesChoice(**fast, windows=3).fit(frame).cv_horizon_ == 1
    tiny = frame[frame.groupby("series_id").cumcount() < 9]
    none = PerSeriesChoice(**fast).fit(tiny)
    assert none.cv_horizon_ == 0 and (none.choice_ == COMBINATION).all()
    check_forecasts(none, tiny, 6, "YS")


def test_combination_interval_coverage_near_nominal():
    covered = coverage(Combination(season_length=7, freq="D", max_horizon=14, level=90))
    assert 0.7 <= covered <= 1.0, covered
