"""Forecasting's training contract: validation carved per series, fits until a part, per-series
units, served forecasts after the last observation, the backtest's future inputs equal to
serving's, and every M4 frequency through import, train, evaluate and scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import small_world

import features
from features.store import reset_cache
from models.scoring import ModelBundle, score
from pomona.data.importers import import_dataset
from pomona.data.importers.m4 import FREQUENCIES
from pomona.data.writer import read_manifest
from pomona.schemas import SERIES_ID, TS, Y
from pomona.workspace import workspace
from serving import forecasting as serving
from serving.runtime import Champion, Loaded
from training import forecasting as T
from training.config import load_train_config
from training.job import make_estimator

FAST = {"n_estimators": 20, "n_jobs": 1}


def config(tmp: Path, **extra):
    path = tmp / "forecasting.yaml"
    body = {"candidates": {"seasonal_naive": {}, "lightgbm": FAST}, **extra}
    path.write_text(yaml.safe_dump(body))
    return load_train_config("forecasting", str(path))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fc")
    mp = pytest.MonkeyPatch()
    mp.setenv("POMONA_HOME", str(tmp / "home"))
    ws = small_world(tmp / "home", ["forecasting"])
    yield ws, tmp
    reset_cache()
    mp.undo()


def bundle_of(est, params) -> ModelBundle:
    return ModelBundle("forecasting", est, "forecasting_v1", "fp", "synthetic", params)


def test_validation_is_the_last_horizon_of_each_series_before_the_test_part(world):
    ws, tmp = world
    cfg = config(tmp)
    data = T.prepare(ws, cfg, read_manifest(ws, "forecasting"))
    m, f, h = data.masks, data.frame, data.extra["horizon"]
    m.check("forecasting")
    for _, g in f.groupby(SERIES_ID):
        idx = g.index.to_numpy()
        tr, va, te = m.train[idx], m.valid[idx], m.test[idx]
        assert va.sum() == h and te.sum() == h
        # by position: train, then validation, then test
        assert (np.flatnonzero(tr).max() < np.flatnonzero(va).min()) and (np.flatnonzero(va).max() < np.flatnonzero(te).min())
    assert T.BASELINE == "seasonal_naive"
    est, params = T.fit(make_estimator("forecasting", "seasonal_naive", {}, 0), data, cfg, "valid")
    ends = pd.Series(est.last_timestamp_.to_numpy(), index=est.series_)
    assert (ends == f[m.train].groupby(SERIES_ID)[TS].max().reindex(est.series_).to_numpy()).all()
    b = bundle_of(est, params)
    u = T.units(b, data, cfg, "valid")
    assert list(u.columns) == [SERIES_ID, "mase"] and list(u[SERIES_ID]) == sorted(u[SERIES_ID])
    vm, figs = T.evaluate(b, data, cfg, "valid")
    assert figs == {} and vm["mase"] > 0
    twin, _ = T.fit(make_estimator("forecasting", "seasonal_naive", {}, 0), data, cfg, "test", params)
    assert T.units(bundle_of(twin, params), data, cfg, "test")[SERIES_ID].tolist() == u[SERIES_ID].tolist()


def loaded(ws, est, params) -> Champion:
    bundle = bundle_of(est, params)
    return Champion.fixed(Loaded("forecasting", "1", bundle, serving.prepare(bundle, ws)), ws)


def test_served_forecast_starts_after_the_last_observation(world):
    ws, tmp = world
    cfg = config(tmp)
    data = T.prepare(ws, cfg, read_manifest(ws, "forecasting"))
    est, params = T.fit(make_estimator("forecasting", "lightgbm", FAST, 0), data, cfg, None)
    champion = loaded(ws, est, params)
    sid = data.frame[SERIES_ID].iloc[0]
    request = serving.request_model(ws)(series_id=sid, horizon=5)
    out = serving.handle(request, champion, ws)
    last = data.frame.loc[data.frame[SERIES_ID] == sid, TS].max()
    assert pd.Timestamp(out.forecast[0].date) == last + pd.Timedelta(days=1)
    assert len(out.forecast) == 5 and not out.cold_start


def test_backtest_forecast_equals_the_served_forecast_at_the_same_origin(world):
    """Exogenous inputs carried forward (the default declaration): one fitted model, the test
    origin; the backtest's forecast of a series is what the handler answers."""
    ws, tmp = world
    cfg = config(tmp)  # price, promo, is_holiday kept as inputs (the shipped config drops them)
    data = T.prepare(ws, cfg, read_manifest(ws, "forecasting"))
    assert data.extra["exog"] and data.extra["known"] == []
    est, params = T.fit(make_estimator("forecasting", "lightgbm", FAST, 0), data, cfg, "test")
    bundle = bundle_of(est, params)
    _, merged = T._fold(bundle, data, "test", 0)
    champion = loaded(ws, est, params)
    h = data.extra["horizon"]
    # a series whose last known promo differs from some of its actual future promos: the old
    # backtest (actual future inputs) and serving (carried) disagree there
    test = data.part("test")
    last = data.part("valid").groupby(SERIES_ID)["promo"].last()
    changing = test.groupby(SERIES_ID)["promo"].apply(lambda p: p.nunique() > 1 or p.iloc[0] != last[p.name])
    for sid in [changing[changing].index[0], data.frame[SERIES_ID].iloc[-1]]:
        served = serving.handle(serving.request_model(ws)(series_id=sid, horizon=h), champion, ws)
        back = merged[merged[SERIES_ID] == sid]
        assert [pd.Timestamp(s.date) for s in served.forecast] == list(back[TS])
        np.testing.assert_allclose([s.yhat for s in served.forecast], back["yhat"].to_numpy(), rtol=1e-12)
        np.testing.assert_allclose([s.yhat_upper for s in served.forecast], back["yhat_upper"].to_numpy(), rtol=1e-12)


def test_known_in_advance_inputs_come_from_the_plan(world):
    ws, tmp = world
    cfg = config(tmp, known_in_advance=["promo"])
    data = T.prepare(ws, cfg, read_manifest(ws, "forecasting"))
    est, params = T.fit(make_estimator("forecasting", "lightgbm", FAST, 0), data, cfg, "test")
    assert params["known_in_advance"] == ["promo"]
    _, merged = T._fold(bundle_of(est, params), data, "test", 0)
    champion = loaded(ws, est, params)
    sid = data.frame[SERIES_ID].iloc[0]
    h = data.extra["horizon"]
    plan = [{"promo": float(v)} for v in data.part("test").loc[lambda d: d[SERIES_ID] == sid, "promo"]]
    served = serving.handle(serving.request_model(ws)(series_id=sid, horizon=h, plan=plan), champion, ws)
    np.testing.assert_allclose([s.yhat for s in served.forecast], merged.loc[merged[SERIES_ID] == sid, "yhat"])
    from serving.errors import RequestError

    with pytest.raises(RequestError, match="promo"):
        serving.handle(serving.request_model(ws)(series_id=sid, horizon=h), champion, ws)


# ------------------------------------------------------------------ every M4 frequency

# Realistic shapes: M4's shortest series per frequency are about these lengths.
LENGTHS = {"yearly": (14, 20, 31), "quarterly": (16, 24, 40), "monthly": (42, 60, 80), "weekly": (80, 93, 120),
           "daily": (93, 100, 140), "hourly": (700, 748, 748)}


def write_m4(folder: Path, key: str, seed: int = 0) -> Path:
    """A small M4-format train/test pair: positive seasonal series with trend and noise."""
    f = FREQUENCIES[key]
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lengths = LENGTHS[key]
    rows_train, rows_test = [], []
    for s, n in enumerate(lengths):
        t = np.arange(n + f.horizon)
        season = 1 + 0.2 * np.sin(2 * np.pi * t / max(f.season_length, 2)) if f.season_length > 1 else 1.0
        y = (100 * (s + 1) + 2 * t) * season + rng.normal(0, 3, t.size)
        rows_train.append([f"{f.prefix[0]}{s + 1}", *np.round(y[:n], 2), *[""] * (max(lengths) - n)])
        rows_test.append([f"{f.prefix[0]}{s + 1}", *np.round(y[n:], 2)])
    header = lambda k: ",".join(f'"V{i + 1}"' for i in range(k + 1))  # noqa: E731
    (folder / f"{f.prefix}-train.csv").write_text(
        header(max(lengths)) + "\n" + "\n".join(",".join(map(str, r)) for r in rows_train) + "\n")
    (folder / f"{f.prefix}-test.csv").write_text(
        header(f.horizon) + "\n" + "\n".join(",".join(map(str, r)) for r in rows_test) + "\n")
    return folder


@pytest.mark.parametrize("key", list(FREQUENCIES))
def test_every_m4_frequency_trains_evaluates_and_scores(key, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("POMONA_HOME", str(home))
    ws = workspace(home)
    try:
        import_dataset(ws, "m4", write_m4(tmp_path / "m4", key), verify_checksum=False)
        features.apply(ws, ["forecasting"])
        cfg = config(tmp_path, max_horizon=48)  # past what short yearly series can calibrate
        data = T.prepare(ws, cfg, read_manifest(ws, "forecasting"))
        h = FREQUENCIES[key].horizon
        assert data.extra["horizon"] == h and data.extra["max_horizon"] == 48
        for name, params in cfg.candidates.items():
            est, bp = T.fit(make_estimator("forecasting", name, params, 0), data, cfg, "valid")
            vm, _ = T.evaluate(bundle_of(est, bp), data, cfg, "valid")
            twin, _ = T.fit(make_estimator("forecasting", name, params, 0), data, cfg, "test", bp)
            tm, _ = T.evaluate(bundle_of(twin, bp), data, cfg, "test")
            assert np.isfinite(vm["mase"]) and np.isfinite(tm["mase"]) and np.isfinite(tm["smape"]), (name, vm, tm)
            final, _ = T.fit(make_estimator("forecasting", name, params, 0), data, cfg, None, bp)
            out = score(bundle_of(final, bp), pd.DataFrame({SERIES_ID: [str(data.frame[SERIES_ID].iloc[0])]}),
                        horizon=48)
            assert len(out) == 48 and out[["yhat", "yhat_lower", "yhat_upper"]].notna().all().all()
            assert (out["yhat_lower"] <= out["yhat_upper"]).all()
            last = data.frame.loc[data.frame[SERIES_ID] == data.frame[SERIES_ID].iloc[0], TS].max()
            assert out[TS].iloc[0] > last
        assert (data.frame[Y] > 0).all()
    finally:
        reset_cache()
