"""The forecasting goals on real data (``../shared/data``; skipped with a reason when absent):
the default config, through the platform (import -> features apply -> pomona train), chooses on
validation and is scored once on the test part. Floors sit a little past the measured figures
so that noise does not fail CI; docs/benchmarks.md (section 6) states the exact figures and the
goals (M3 Quarterly's goal, 8.96, is not met yet: 9.15 measured; M3 Yearly's is: 15.79).

M4 Hourly's default job takes ~20 minutes on 2 cores (a global LightGBM and MSTL on 414 series
of ~900 hours, fit for validation, test and the refit): it is marked ``heavy``, left out of
``make test`` and run by ``make test-heavy``."""

from __future__ import annotations

import pytest
from conftest import shared

import features
from pomona.data.importers import import_dataset
from training.job import train

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

# dataset: (folder, floor on the winner's test sMAPE or OWA, the goal)
GOALS = {
    "m3-quarterly": ("forecasting/m3-quarterly", "smape", 9.10, 8.96),
    "m3-yearly": ("forecasting/m3-yearly", "smape", 16.00, 15.93),
    "m4-hourly": ("forecasting/m4-hourly", "owa", 0.45, 0.44),
}


def run_default(name: str, tmp_path, monkeypatch):
    folder, metric, floor, goal = GOALS[name]
    path = shared(folder)
    home = tmp_path / "home"
    monkeypatch.setenv("POMONA_HOME", str(home))
    from pomona.workspace import workspace

    ws = workspace(home)
    import_dataset(ws, "m4", path, force=True)
    features.apply(ws, ["forecasting"])
    result = train("forecasting", seed=0, ws=ws, log=lambda m: None)
    board = {c["name"]: c for c in result.candidates}
    winner, naive = board[result.winner], board["seasonal_naive"]
    assert winner["metrics"][metric] <= floor, (name, result.winner, winner["metrics"], f"goal {goal}")
    if result.winner != "seasonal_naive":
        assert winner["metrics"]["smape"] < naive["metrics"]["smape"] and winner["metrics"]["mase"] < naive["metrics"]["mase"]
    # Conformal intervals (the models' own held 0.69 of M3 Yearly's test values): 0.90-0.95 measured.
    assert 0.85 <= winner["metrics"]["coverage_90"] <= 0.97, winner["metrics"]
    return result


@pytest.mark.parametrize("name", ["m3-quarterly", "m3-yearly"])
def test_default_config_meets_the_m3_goals(name, tmp_path, monkeypatch):
    run_default(name, tmp_path, monkeypatch)


@pytest.mark.heavy
def test_default_config_meets_the_m4_hourly_goal(tmp_path, monkeypatch):
    run_default("m4-hourly", tmp_path, monkeypatch)
