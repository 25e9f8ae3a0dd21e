"""The forecasters' shared steps take shortcuts on serving's path (the 48-step forecast's
latency, issue 12); each shortcut gives what the general path gives on the same inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.tseries.frequencies import to_offset

from models.forecasting import SeasonalNaive, future_inputs
from models.forecasting_base import FORECASTS, same_keys, steps_after


@pytest.mark.parametrize("freq", ["D", "h", "30min", "7D", "1500ms", "W-SAT", "MS", "QS", "YE"])
@pytest.mark.parametrize("unit", ["s", "us", "ns"])
def test_steps_after_is_pandas_offset_arithmetic(freq, unit):
    """Fixed-length offsets by one multiply-add, in the index's unit where it is exact (1.5 s
    is not, in seconds): the timestamps and dtype of ``last + offset * k`` step by step."""
    last = pd.DatetimeIndex(["2024-01-27", "2024-03-30 12:00", "1999-12-31"]).as_unit(unit)
    offset = to_offset(freq)
    expected = np.stack([(last + offset * k).to_numpy() for k in range(1, 49)], axis=1)
    got = steps_after(last, offset, 48)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def daily(n_series: int = 3, days: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"series_id": np.repeat([f"s{i}" for i in range(n_series)], days),
                         "event_timestamp": np.tile(pd.date_range("2024-01-01", periods=days, tz="UTC"), n_series),
                         "y": rng.integers(0, 20, n_series * days).astype(float),
                         "price": rng.random(n_series * days)})


@pytest.mark.parametrize("dtype", ["float64", "int64", "Float64"])
def test_aligned_future_inputs_attach_as_the_join_does(dtype):
    """X_future whose rows are the forecast's own steps (what serving and the backtest build)
    is attached without a join: the same frame as joining those rows shuffled, with a
    duplicate and rows of other steps."""
    model = SeasonalNaive(freq="D").fit(daily())
    model.exog_ = ["price"]  # seasonal naive ignores inputs; the shared attach step is under test
    future = model.future_index(5, ["s2", "s0"])
    aligned = future.assign(price=np.arange(len(future))).astype({"price": dtype})
    other = aligned.assign(event_timestamp=aligned["event_timestamp"] + pd.Timedelta(days=30))
    shuffled = pd.concat([aligned.iloc[[3]].assign(price=99), aligned.sample(frac=1, random_state=0), other])
    assert same_keys(future, aligned) and not same_keys(future, shuffled)
    fast = model._future_exog(future, aligned)
    pd.testing.assert_frame_equal(fast, model._future_exog(future, shuffled.astype({"price": dtype})),
                                  check_exact=True)
    assert fast["price"].dtype == dtype
    served = future_inputs(model, ["s2", "s0"], 5, None)  # carried inputs: none known, so 0
    assert same_keys(future, served)
    with pytest.raises(ValueError, match="no exogenous values"):
        model._future_exog(future, aligned.assign(price=np.nan))


def test_nonnegative_clip_is_pandas_clip():
    """Clipping at 0 keeps NaN and the sign of -0.0, as pandas' clip(lower=0.0)."""
    model = SeasonalNaive(freq="D").fit(daily())
    values = np.array([-1.5, -0.0, 0.0, 2.0, np.nan])
    out = pd.DataFrame({"series_id": "s0", "event_timestamp": pd.date_range("2024-02-01", periods=5, tz="UTC"),
                        "yhat": values, "yhat_lower": values - 1, "yhat_upper": values[::-1]}, index=range(3, 8))
    expected = out.assign(**{c: out[c].clip(lower=0.0) for c in FORECASTS})
    got = model._finish(out.assign(extra=1))
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    for c in FORECASTS:
        np.testing.assert_array_equal(np.signbit(got[c]), np.signbit(expected[c]))
