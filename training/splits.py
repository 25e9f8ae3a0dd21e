"""Held-out data in three parts, never random where time matters.

Every protocol has a training part (candidates are fit on it), a validation part (candidates
and hyperparameters are chosen on it) and a test part (scored once, for the chosen model and
the baseline). Each function returns :class:`Masks`, three disjoint boolean masks over a frame
in canonical columns, in that order of time where time exists. A published protocol with no
validation part (MovieLens' 75/25, LETOR's ``rank.test``, M4's test horizon) keeps its test
part, and validation is carved out of its training part the same way (``carve``).
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


PARTS = ("train", "valid", "test")


@dataclass
class Masks:
    """Three disjoint parts: fit on ``train``, choose on ``valid``, report ``test`` once."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    def check(self, what: str) -> Masks:
        for name, shown in zip(PARTS, ("training", "validation", "test"), strict=True):
            if not getattr(self, name).any():
                raise PomonaError(f"empty {shown} part for {what}; check the split in the config")
        if (self.train & self.valid).any() or ((self.train | self.valid) & self.test).any():
            raise PomonaError(f"the training, validation and test parts of {what} overlap")
        return self

    def upto(self, until: str | None) -> np.ndarray:
        """The rows a model is fit on before scoring ``until``: ``"valid"`` -> train,
        ``"test"`` -> train and validation, ``None`` -> every row (the refit)."""
        if until is None:
            return np.ones_like(self.train)
        if until not in PARTS[1:]:
            raise ValueError(f"until must be 'valid', 'test' or None, not {until!r}")
        return self.train if until == "valid" else self.train | self.valid


def temporal(ts: pd.Series, test_fraction: float, validation_fraction: float,
             test_start: str | None = None) -> Masks:
    """Train on the past, test on the last ``test_fraction`` of time (or from ``test_start``);
    validation is the last ``validation_fraction`` of the training period."""
    ts = pd.to_datetime(ts, utc=True)
    lo, hi = ts.min(), ts.max()
    cut = pd.Timestamp(test_start, tz="UTC") if test_start else lo + (hi - lo) * (1 - test_fraction)
    before = (ts < cut).to_numpy()
    vcut = lo + (cut - lo) * (1 - validation_fraction)
    valid = before & (ts >= vcut).to_numpy()
    return Masks(train=before & ~valid, valid=valid, test=~before)


def _per_user_first(users: pd.Series, keep: float, seed: int) -> np.ndarray:
    """Microsoft Recommenders' ``python_stratified_split``: one uniform draw per row from
    ``np.random.RandomState(seed)`` (in the data's own row order) orders each user's rows,
    and the first ``keep`` of each user are True."""
    draw = np.random.RandomState(seed).rand(len(users))
    df = pd.DataFrame({"u": users.to_numpy(), "r": draw, "i": np.arange(len(users))}).sort_values(["u", "r"])
    g = df.groupby("u", sort=False)
    frac = ((g.cumcount() + 1) / g["u"].transform("count")).to_numpy()
    first = np.zeros(len(users), dtype=bool)
    first[df["i"].to_numpy()] = frac <= keep
    return first


def per_user(users: pd.Series, test_fraction: float, validation_fraction: float, seed: int) -> Masks:
    """Per-user random split: the published 1 - ``test_fraction`` / ``test_fraction`` split of
    each user's rows (seed ``seed``, unchanged), then ``validation_fraction`` of each user's
    training rows carved out the same way (seed ``seed + 1``) for validation."""
    before = _per_user_first(users, 1 - test_fraction, seed)
    kept = np.flatnonzero(before)
    train = np.zeros(len(users), dtype=bool)
    train[kept] = _per_user_first(users.iloc[kept], 1 - validation_fraction, seed + 1)
    return Masks(train=train, valid=before & ~train, test=~before)


def carve(before: np.ndarray, groups: pd.Series, order: pd.Series | None, validation_fraction: float,
          seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split the rows ``before`` the test part into (train, valid) by whole groups (queries,
    series): the last ``validation_fraction`` of the groups by ``order`` (their first time),
    or a seeded random share of them when there is no order."""
    keys = pd.Series(groups[before].unique())
    if order is not None:
        first = order[before].groupby(groups[before]).min().reindex(keys)
        keys = keys.iloc[np.lexsort((keys.to_numpy(), first.to_numpy()))].reset_index(drop=True)
    else:
        keys = keys.iloc[np.random.RandomState(seed).permutation(len(keys))].reset_index(drop=True)
    n_valid = max(1, int(round(len(keys) * validation_fraction)))
    valid = before & groups.isin(set(keys.iloc[len(keys) - n_valid:])).to_numpy()
    return before & ~valid, valid


def official(split: pd.Series) -> np.ndarray:
    """The rows before the dataset's own test part (LETOR's rank.test, M4's test horizon):
    the ``split`` column must hold 'train' and 'test'."""
    values = set(split.unique())
    if not values <= {"train", "test"}:
        raise PomonaError(f"the {SPLIT!r} column holds {sorted(values)}; expected 'train' and 'test'")
    return (split == "train").to_numpy()


__all__ = ["PARTS", "Masks", "carve", "official", "per_user", "resolve", "temporal"]
