"""The fingerprint covers the code that computes features: a changed window, label delay or
shared builder changes it once ``apply`` derives the tables with it; comments, docstrings and
identical runs do not, and every process reads the same value."""

from __future__ import annotations

import dataclasses
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from test_importers import write_creditcard

import features
import features.fraud
import features.tables
from features.base import code_hash
from pomona import usecases
from pomona.data.importers import import_dataset

FRAUD_SOURCE = Path(features.fraud.__file__).read_text()
WINDOW = 'WINDOWS = {"1h": pd.Timedelta(hours=1)'
LABEL_DELAY = "LABEL_DELAY = pd.Timedelta(days=7)"


@pytest.fixture
def variants(tmp_path, monkeypatch):
    """``variant(name, source)``: import ``source`` as a top-level module ``name``."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def variant(name: str, source: str):
        (tmp_path / f"{name}.py").write_text(source)
        importlib.invalidate_caches()
        monkeypatch.delitem(sys.modules, name, raising=False)
        return importlib.import_module(name)

    yield variant
    for name in [p.stem for p in tmp_path.glob("*.py")]:
        sys.modules.pop(name, None)


def test_code_hash_follows_the_code_not_its_comments(variants, tmp_path, monkeypatch):
    base = code_hash(features.fraud)
    assert base == code_hash(features.fraud)
    assert code_hash(variants("same_fraud", FRAUD_SOURCE)) == base  # its own name does not count
    commented = FRAUD_SOURCE.replace('"""Fraud features', '"""Fraud features, reworded', 1) \
        .replace(LABEL_DELAY, LABEL_DELAY + "  # a new comment")
    assert code_hash(variants("commented_fraud", commented)) == base
    assert WINDOW in FRAUD_SOURCE and LABEL_DELAY in FRAUD_SOURCE
    window = FRAUD_SOURCE.replace(WINDOW, 'WINDOWS = {"1h": pd.Timedelta(hours=2)')
    delay = FRAUD_SOURCE.replace(LABEL_DELAY, "LABEL_DELAY = pd.Timedelta(days=3)")
    assert len({base, code_hash(variants("window_fraud", window)), code_hash(variants("delay_fraud", delay))}) == 3

    # A shared builder (features/tables.py) that fraud derives its tables with.
    builder = Path(features.tables.__file__).read_text()
    assert "(days * step).sum()" in builder
    changed = tmp_path / "tables_changed.py"
    changed.write_text(builder.replace("(days * step).sum()", "(days * step).mean()"))
    monkeypatch.setattr(features.tables, "__file__", str(changed))
    assert code_hash(features.fraud) != base


def test_code_hash_is_the_same_in_another_process():
    out = subprocess.run([sys.executable, "-c", "import features.fraud as m; from features.base import code_hash; "
                          "print(code_hash(m))"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == code_hash(features.fraud)


def fingerprint(ws) -> str:
    return features.fingerprint(features.feature_store(ws), "fraud")


def test_the_fingerprint_records_the_code_that_derived_the_tables(ws, tmp_path, variants):
    import_dataset(ws, "creditcard-fraud", write_creditcard(tmp_path / "cc", n=40))
    features.apply(ws, ["fraud"])
    first = fingerprint(ws)
    features.apply(ws, ["fraud"])
    assert fingerprint(ws) == first  # an identical run
    assert features.definitions("fraud", ws).service.tags["pomona.code"] == code_hash(features.fraud)
    out = subprocess.run([sys.executable, "-c", "import features; "
                          "print(features.fingerprint(features.feature_store(), 'fraud'))"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "POMONA_HOME": str(ws.root)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == first  # the serving process reads the same fingerprint

    original = usecases.get("fraud")
    delayed = variants("delay_fraud", FRAUD_SOURCE.replace(LABEL_DELAY, "LABEL_DELAY = pd.Timedelta(days=3)"))
    try:
        usecases.register(dataclasses.replace(original, modules={**original.modules, "features": delayed.__name__}),
                          replace=True)
        assert fingerprint(ws) == first  # the store still serves tables the old code derived
        features.apply(ws, ["fraud"])
        assert fingerprint(ws) != first
    finally:
        usecases.register(original, replace=True)
    features.apply(ws, ["fraud"])
    assert fingerprint(ws) == first  # back to the code of the first run
