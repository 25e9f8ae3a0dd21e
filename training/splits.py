"""Held-out data, never random where time matters.

Each function returns boolean masks (or cut-off times) over a frame in canonical columns.
``resolve`` turns a config's ``kind: auto`` into the protocol the use case names for its dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pomona.errors import PomonaError
from pomona.schemas import SPLIT


def resolve(kind: str, default: str) -> str:
    """The split kind to use: ``auto`` maps to ``default``, the use case's (and dataset's) protocol."""
    return default if kind == "auto" else kind


@dataclass
class Masks:
    train: np.ndarray
    test: np.ndarray
    valid: np.ndarray | None = None  # a part of train (the end of it for temporal splits)

    def check(self, what: str) -> Masks:
        for name in ("train", "test"):
            if not getattr(self, name).any():
                raise PomonaError(f"empty {name}ing window for {what}; check the split in the config")
        return self


def temporal(ts: pd.Series, test_fraction: float, validation_fraction: float,
             test_start: str | None = None) -> Masks:
    """Train on the past, test on the last ``test_fraction`` of time (or from ``test_start``);
    validation is the last ``validation_fraction`` of the training period."""
    ts = pd.to_datetime(ts, utc=True)
    lo, hi = ts.min(), ts.max()
    cut = pd.Timestamp(test_start, tz="UTC") if test_start else lo + (hi - lo) * (1 - test_fraction)
    train = (ts < cut).to_numpy()
    vcut = lo + (cut - lo) * (1 - validation_fraction)
    valid = (train & (ts >= vcut).to_numpy())
    return Masks(train=train, test=~train, valid=valid)


def per_user(users: pd.Series, test_fraction: float, seed: int) -> Masks:
    """Per-user random split, as Microsoft Recommenders' ``python_stratified_split``: one
    uniform draw per row from ``np.random.RandomState(seed)`` (in the data's own row order)
    orders each user's rows, and the first ``1 - test_fraction`` of each user train."""
    draw = np.random.RandomState(seed).rand(len(users))
    df = pd.DataFrame({"u": users.to_numpy(), "r": draw, "i": np.arange(len(users))}).sort_values(["u", "r"])
    g = df.groupby("u", sort=False)
    frac = ((g.cumcount() + 1) / g["u"].transform("count")).to_numpy()
    train = np.zeros(len(users), dtype=bool)
    train[df["i"].to_numpy()] = frac <= 1 - test_fraction
    return Masks(train=train, test=~train)


def official(split: pd.Series) -> Masks:
    """The dataset's own train/test column (LETOR's rank.test, M4's test horizon)."""
    values = set(split.unique())
    if not values <= {"train", "test"}:
        raise PomonaError(f"the {SPLIT!r} column holds {sorted(values)}; expected 'train' and 'test'")
    return Masks(train=(split == "train").to_numpy(), test=(split == "test").to_numpy())


__all__ = ["Masks", "official", "per_user", "resolve", "temporal"]
