"""The registry of use cases: built-ins, explicit ``register()`` (a notebook's way), and errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from models.scoring import candidates
from pomona import schemas
from pomona.errors import PomonaError
from pomona.usecases import UseCase, check_use_case, get, layer_module, register, unregister, use_cases
from training.config import load_train_config

PLUGIN = Path(__file__).with_name("returns_plugin")


@pytest.fixture
def returns_registered(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN))
    from pomona_returns import RETURNS

    register(RETURNS)
    yield RETURNS
    unregister("returns")
    for name in [m for m in sys.modules if m.startswith("pomona_returns")]:
        del sys.modules[name]


def test_the_built_in_use_cases_come_first():
    assert use_cases()[:4] == ("recommendations", "ranking", "fraud", "forecasting")
    assert get("fraud").modules["serving"] == "serving.fraud" and get("fraud").config.name == "fraud.yaml"


def test_a_registered_use_case_is_found_by_every_layer(returns_registered):
    assert "returns" in use_cases() and check_use_case("returns") == "returns"
    assert layer_module("returns", "serving").ROUTE == "predict_return"
    assert schemas.main_table("returns") == "orders" and "returned" in schemas.tables("returns")["orders"]
    assert set(candidates("returns")) == {"logistic"}
    cfg = load_train_config("returns")
    assert cfg.use_case == "returns" and cfg.split.kind == "temporal"


def test_registering_is_checked(returns_registered):
    register(returns_registered)  # the same one again: nothing changes
    other = UseCase("returns", dict(returns_registered.modules), returns_registered.config)
    with pytest.raises(PomonaError, match="already registered"):
        register(UseCase("returns", {**other.modules, "models": "models.fraud"}, other.config))
    with pytest.raises(PomonaError, match="lower-case Python identifier"):
        UseCase("Bad-Name", other.modules, other.config)
    with pytest.raises(PomonaError, match="no module for serving"):
        UseCase("partial", {k: v for k, v in other.modules.items() if k != "serving"}, other.config)
    with pytest.raises(PomonaError, match="takes a UseCase"):
        register("returns")


def test_an_unknown_use_case_is_one_line_naming_the_known_ones():
    with pytest.raises(PomonaError, match=r"unknown use case 'nope'; expected one of: recommendations, ranking"):
        check_use_case("nope")
    with pytest.raises(PomonaError, match="unknown layer"):
        layer_module("fraud", "frontend")
