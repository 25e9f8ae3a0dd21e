"""What every use case's training module shares: the prepared data and the task interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pomona.errors import PomonaError
from pomona.schemas import TS
from training.splits import Masks


@dataclass
class Data:
    """A use case's point-in-time training frame and how it is split."""

    frame: pd.DataFrame
    masks: Masks
    label: str
    protocol: str
    extra: dict[str, Any] = field(default_factory=dict)

    def window(self, until: str | None = "valid") -> tuple:
        """First and last timestamps of the rows fit on before ``until`` (None: every row)."""
        ts = self.frame.loc[self.masks.upto(until), TS] if TS in self.frame.columns else pd.Series(dtype="object")
        return (ts.min(), ts.max()) if len(ts) else (None, None)

    def part(self, name: str) -> pd.DataFrame:
        """The rows of one part: ``train``, ``valid`` or ``test``."""
        return self.frame[getattr(self.masks, name)]

    def upto(self, until: str | None) -> pd.DataFrame:
        """The rows a model is fit on before scoring ``until`` (see :meth:`Masks.upto`)."""
        return self.frame[self.masks.upto(until)]


def model_input(frame: pd.DataFrame, label: str, drop: tuple[str, ...] = ()) -> pd.DataFrame:
    """The frame a model scores: what serving builds (features, keys, request fields), no label."""
    return frame.drop(columns=[c for c in (label, "split", *drop) if c in frame.columns])


def require_rows(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    if frame.empty:
        raise PomonaError(f"the training frame for {what} is empty; generate or import data, then "
                          f"'pomona features apply'")
    return frame
