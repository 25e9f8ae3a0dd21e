"""The training protocol: three disjoint parts, selection on validation only, the test part
scored once, and the registered model refit on every row."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from conftest import small_world
from test_training import FAST, write_config

from features.store import reset_cache
from models.scoring import score
from pomona.data.writer import read_manifest
from pomona.schemas import PRODUCT_ID, TS, USER_ID
from training import splits
from training.config import load_train_config
from training.job import task, train


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("protocol") / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("POMONA_HOME", str(home))
    yield small_world(home, ["recommendations", "ranking", "fraud"])
    mp.undo()
    reset_cache()


def test_splits_are_three_disjoint_parts_and_keep_the_published_test_part():
    users = pd.Series(np.repeat(np.arange(50), 20))
    m = splits.per_user(users, 0.25, 0.2, seed=42)
    assert not (m.train & m.valid).any() and not ((m.train | m.valid) & m.test).any()
    assert (m.train | m.valid | m.test).all()
    # The published 75/25 split is unchanged by carving validation out of its training part.
    before = splits._per_user_first(users, 0.75, 42)
    assert (m.test == ~before).all()
    ts = pd.Series(pd.date_range("2025-01-01", periods=100, freq="D", tz="UTC"))
    t = splits.temporal(ts, 0.2, 0.25)
    assert ts[t.train].max() < ts[t.valid].min() and ts[t.valid].max() < ts[t.test].min()
    assert list(np.flatnonzero(t.upto("test"))) == list(range(80)) and t.upto(None).all()
    queries = pd.Series(np.repeat(np.arange(30), 5))
    train, valid = splits.carve(np.arange(150) < 100, queries, None, 0.2, seed=1)
    assert set(queries[valid]).isdisjoint(set(queries[train])) and queries[valid].nunique() == 4


def test_selection_uses_validation_only_and_tests_once(world, tmp_path, monkeypatch):
    """A candidate that is best on test but worse on validation is not chosen, and only the
    chosen candidate and the baseline are scored on the test part."""
    mod = task("ranking")
    calls: list[tuple[str, str]] = []
    real = mod.evaluate

    def rigged(bundle, data, cfg, part="test"):
        m, figs = real(bundle, data, cfg, part)
        name = type(bundle.estimator).__name__
        calls.append((name, part))
        lambdamart = name == "LambdaMART"
        m["ndcg_at_10"] = {("valid", True): 0.40, ("valid", False): 0.50,
                           ("test", True): 0.90, ("test", False): 0.10}[(part, lambdamart)]
        return m, figs

    monkeypatch.setattr(mod, "evaluate", rigged)
    cfg = write_config(tmp_path, "ranking", FAST["ranking"])
    result = train("ranking", str(cfg), seed=0, ws=world)
    assert result.winner == "strongest_feature"
    board = {c["name"]: c for c in result.candidates}
    assert board["strongest_feature"]["metrics"]["ndcg_at_10"] == 0.10  # the test figure, reported as is
    assert board["lambdamart"]["metrics"] == {} and not board["lambdamart"]["tested"]
    assert sum(part == "test" for _, part in calls) == 1  # the winner is also the baseline: one test score


def test_registered_recommender_was_fit_on_all_data(world, tmp_path):
    cfg = write_config(tmp_path, "recommendations", {"most_popular": {}, "ease": {"l2": 200.0}})
    result = train("recommendations", str(cfg), seed=0, ws=world)
    data = task("recommendations").prepare(world, load_train_config("recommendations", cfg),
                                           read_manifest(world, "recommendations"))
    users = data.part("test")[[USER_ID]].drop_duplicates().head(200)
    recs = score(result.bundles["registered"], users, k=20)
    seen = set(zip(data.frame[USER_ID].astype(int), data.frame[PRODUCT_ID].astype(int)))
    held_out = set(zip(data.part("test")[USER_ID].astype(int), data.part("test")[PRODUCT_ID].astype(int)))
    served = set(zip(recs[USER_ID].astype(int), recs[PRODUCT_ID].astype(int)))
    assert served and not served & held_out and not served & seen
    # The evaluated twin, fit before the test part, does recommend held-out items (that is what it is scored on).
    twin = score(result.bundles[result.winner], users, k=20)
    assert set(zip(twin[USER_ID].astype(int), twin[PRODUCT_ID].astype(int))) & held_out


def test_registered_fraud_model_window_ends_at_the_data_end_and_keeps_the_threshold(world, tmp_path):
    cfg = write_config(tmp_path, "fraud", FAST["fraud"])
    result = train("fraud", str(cfg), seed=0, ws=world)
    data = task("fraud").prepare(world, load_train_config("fraud", cfg), read_manifest(world, "fraud"))
    client = mlflow.MlflowClient()
    mv = client.get_model_version("pomona-fraud", result.registered_version)
    assert pd.Timestamp(mv.tags["window_end"]) == data.frame[TS].max()
    assert mv.tags["refit"] == "true"
    winner = next(c for c in result.candidates if c["name"] == result.winner)
    selection = mlflow.get_run(winner["run_id"]).data.params
    assert float(selection["scoring.threshold"]) == result.bundles["registered"].params["threshold"]
    # refit: false registers the evaluated twin, whose window ends before the test part.
    twin_cfg = write_config(tmp_path, "fraud", FAST["fraud"], refit=False)
    twin = train("fraud", str(twin_cfg), seed=0, ws=world)
    mv = client.get_model_version("pomona-fraud", twin.registered_version)
    assert pd.Timestamp(mv.tags["window_end"]) < data.part("test")[TS].min() and mv.tags["refit"] == "false"
