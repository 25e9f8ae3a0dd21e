"""The promotion gate (training.gate.decide): a paired bootstrap promotes signal, not noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from pomona.errors import PomonaError
from training import gate

N = 2000
FAST = {"n_resamples": 300}  # enough for these effects, quick on a shared core


def mean_of(column: str):
    return lambda units: float(units[column].mean())


def ap(units: pd.DataFrame) -> float:
    """Average precision (no ties in these scores), in numpy: sklearn's costs ~15 ms a call."""
    y = units["y"].to_numpy()[np.argsort(-units["p"].to_numpy(), kind="stable")]
    hits = np.cumsum(y)
    return float((hits / np.arange(1, len(y) + 1))[y == 1].mean()) if 0 < hits[-1] < len(y) else float("nan")


def per_user(scores: np.ndarray) -> pd.DataFrame:  # (n_users,) NDCG of each user
    return pd.DataFrame({"user_id": np.arange(len(scores)), "ndcg_at_10": scores})


def decide(ours: pd.DataFrame, theirs: pd.DataFrame, statistic, primary: str = "ndcg_at_10", margin: float = 0.005,
           guards: dict | None = None, challenger: dict | None = None, champion: dict | None = None, **kw):
    """The gate on two frames of units; the point metrics (for the guards) default to none."""
    return gate.decide(primary, challenger or {}, champion if champion is not None else {}, ours, theirs,
                       statistic, margin, guards or {}, **{**FAST, **kw})


@pytest.fixture
def base() -> np.ndarray:
    return np.random.default_rng(0).beta(2, 8, N)  # per-user NDCG, mean 0.2


def test_no_champion_promotes_the_first_model():
    d = gate.decide("ndcg_at_10", {"ndcg_at_10": 0.1}, None, None, None, mean_of("ndcg_at_10"), 0.01, {})
    assert d == gate.Decision(True, "first model for this use case", None, None, None)


def test_identical_predictions_are_refused(base):
    d = decide(per_user(base), per_user(base.copy()), mean_of("ndcg_at_10"))
    assert not d.promote and d.difference == 0 and d.low == 0 and d.high == 0, d.reason


def test_noise_is_refused_signal_is_promoted(base):
    rng = np.random.default_rng(1)
    noisy = np.clip(base + rng.normal(0, 0.05, N), 0, 1)  # the same model, perturbed: mean change ~0.001
    d = decide(per_user(noisy), per_user(base), mean_of("ndcg_at_10"))
    assert not d.promote and d.low < 0 < d.high, d.reason
    better = np.clip(base + 0.02 + rng.normal(0, 0.05, N), 0, 1)  # +10% relative
    d = decide(per_user(better), per_user(base), mean_of("ndcg_at_10"))
    assert d.promote and d.low > 0 and d.low <= d.difference <= d.high, d.reason
    # The reason states both values, the difference, its interval, the relative change and the margin.
    for part in ("ndcg_at_10 0.2", "vs champion 0.2", "95% CI +0.0", "relative +", "margin 0.5%"):
        assert part in d.reason, d.reason
    # A margin above what the lower bound shows refuses the same challenger.
    d = decide(per_user(better), per_user(base), mean_of("ndcg_at_10"), margin=0.5)
    assert not d.promote and "does not exceed the margin" in d.reason


def test_a_worse_model_has_an_interval_below_zero(base):
    d = decide(per_user(base - 0.03), per_user(base), mean_of("ndcg_at_10"))
    assert not d.promote and d.high < 0 and d.difference < 0


def test_average_precision_over_transactions_noise_and_signal():
    rng = np.random.default_rng(2)
    y = (rng.random(N) < 0.1).astype(int)
    p = np.clip(0.3 * y + rng.random(N) * 0.7, 0, 1)
    units = lambda q: pd.DataFrame({"y": y, "p": q})  # noqa: E731
    noise = np.clip(p + rng.normal(0, 0.01, N), 0, 1)
    assert not decide(units(noise), units(p), ap, primary="average_precision").promote
    assert ap(units(p)) == pytest.approx(average_precision_score(y, p))
    sharper = np.clip(0.5 * y + rng.random(N) * 0.5, 0, 1)
    d = decide(units(sharper), units(p), ap, primary="average_precision")
    assert d.promote and d.low > 0, d.reason


def test_guards_refuse_a_better_model_that_worsens_a_guard_metric(base):
    better, champion_units = per_user(base + 0.05), per_user(base)
    stat = mean_of("ndcg_at_10")
    ours = {"ndcg_at_10": stat(better), "catalog_coverage": 0.30, "expected_cost": 10.0}
    theirs = {"ndcg_at_10": stat(champion_units), "catalog_coverage": 0.40, "expected_cost": 9.0}
    d = decide(better, champion_units, stat, guards={"catalog_coverage": 0.05}, challenger=ours, champion=theirs)
    assert not d.promote and "guard catalog_coverage worsens from 0.4000 to 0.3000" in d.reason
    assert d.low > 0  # the comparison is still reported
    assert decide(better, champion_units, stat, guards={"catalog_coverage": 0.2}, challenger=ours,
                  champion=theirs).promote
    # A lower-is-better guard: a higher cost is worse.
    d = decide(better, champion_units, stat, guards={"expected_cost": 0.5}, challenger=ours, champion=theirs)
    assert not d.promote and "expected_cost (lower is better)" in d.reason
    assert decide(better, champion_units, stat, guards={"expected_cost": 2.0}, challenger=ours,
                  champion=theirs).promote


def test_lower_is_better_primary(base):
    errors = 1 + base  # per-series MASE around 1.2
    series = lambda e: pd.DataFrame({"unique_id": [f"s{i}" for i in range(N)], "mase": e})  # noqa: E731
    d = decide(series(errors - 0.1), series(errors), mean_of("mase"), primary="mase")
    assert d.promote and d.difference == pytest.approx(0.1) and d.low > 0, d.reason
    assert "mase (lower is better)" in d.reason
    d = decide(series(errors + 0.1), series(errors), mean_of("mase"), primary="mase")
    assert not d.promote and d.high < 0


def test_target_metric_closer_is_better():
    cover = lambda hit: pd.DataFrame({"unique_id": np.arange(N), "covered": hit})  # noqa: E731
    rng = np.random.default_rng(3)
    close, far = (rng.random(N) < 0.9).astype(float), (rng.random(N) < 0.7).astype(float)
    d = decide(cover(close), cover(far), mean_of("covered"), primary="coverage_90")
    assert d.promote and d.low > 0, d.reason


def test_nan_refuses(base):
    d = decide(per_user(base), per_user(base), lambda u: float("nan"), challenger={"ndcg_at_10": 0.2},
               champion={"ndcg_at_10": 0.1})
    assert not d.promote and "undefined" in d.reason and d.difference is None


@pytest.mark.parametrize("change,needle", [
    (lambda f: f.iloc[:-1], "the challenger has 1999 and the champion 2000"),
    (lambda f: f.iloc[::-1], "not in the same order"),
    (lambda f: f.assign(user_id=f["user_id"][::-1].to_numpy()), "differ in column 'user_id'"),
    (lambda f: f.rename(columns={"ndcg_at_10": "ndcg"}), "columns"),
])
def test_mismatched_units_are_a_clear_error(base, change, needle):
    with pytest.raises(PomonaError, match="units") as err:
        decide(change(per_user(base)), per_user(base), mean_of("ndcg_at_10"))
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_a_champion_without_units_is_an_error(base):
    with pytest.raises(PomonaError, match="evaluation units"):
        gate.decide("ndcg_at_10", {"ndcg_at_10": 0.2}, {"ndcg_at_10": 0.1}, per_user(base), None,
                    mean_of("ndcg_at_10"), 0.01, {})


def test_seeded_and_reproducible(base):
    ours = per_user(np.clip(base + np.random.default_rng(4).normal(0.005, 0.05, N), 0, 1))
    a, b = (decide(ours, per_user(base), mean_of("ndcg_at_10"), seed=5) for _ in range(2))
    assert a == b


def test_direction_rules_stay_importable_from_the_registry():
    from training import registry

    assert registry.LOWER_IS_BETTER is gate.LOWER_IS_BETTER and registry.TARGETS is gate.TARGETS
