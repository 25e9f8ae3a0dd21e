"""Demand forecasting data: one long table of (series, step, value) with the dataset's own
train/test split and any known-in-advance inputs (price, promotion, holidays). Synthetic rows
are daily store x product demand; M4 / M3 CSVs import at their own frequency."""

from __future__ import annotations

from pomona.data import _demand
from pomona.schemas import PRODUCT_ID, SERIES_ID, SPLIT, STORE_ID, TS, Y

TABLES = {"demand": {SERIES_ID: "str", TS: "time", Y: "float", SPLIT: "str"}}
OPTIONAL_TABLES: dict = {}
NON_FEATURE_COLUMNS = {"demand": frozenset({STORE_ID, PRODUCT_ID})}
IMPORTERS = {"m4": "pomona.data.importers.m4:import_m4"}
# What the synthetic dataset's manifest says about its series.
SYNTHETIC = {"frequency": "D", "season_length": 7, "horizon": _demand.HORIZON}


def chunks(scale) -> int:
    return -(-scale.stores // scale.store_block)


def generate(syn, w) -> None:
    """Daily demand of every store x product series."""
    for chunk in _demand.demand(syn.world, syn.scale, syn.seed):
        w.append("demand", chunk)
        syn.tick()
