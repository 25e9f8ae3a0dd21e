"""M4 competition wide CSVs -> forecasting ``demand`` (long: series_id, event_timestamp, y, split).

``path`` is a folder holding ``<Freq>-train.csv`` and ``<Freq>-test.csv`` (original names) or the
train file, with ``test_path`` for the test file (default: ``<Freq>-test.csv`` beside it). The
frequency comes from ``frequency`` or the file name's prefix. Each row is a series: the id
(``H1``...) then its values, ragged rows padded with empty cells. M4 publishes no dates, so
each series gets synthetic regular timestamps starting 2000-01-01 00:00 UTC at the frequency's
step; the test values continue right after the train values. The test file must hold exactly
the official horizon of values for every train series.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pomona import schemas as S
from pomona.data.importers import _common as C
from pomona.data.writer import DatasetWriter
from pomona.errors import PomonaError
from pomona.schemas import Manifest
from pomona.workspace import Workspace

NAME = "m4"
KNOWN_MD5 = {"Hourly-train.csv": "5838f531d0a29ba6aa70a90f72c82686",  # as distributed
             "Hourly-test.csv": "d3f313cdb3417c30297ae4beec188266"}
USE_CASE = "forecasting"
CHUNK_SERIES = 500  # series per written chunk: bounds memory on the large subsets


@dataclass(frozen=True)
class Freq:
    prefix: str  # file name prefix as distributed
    alias: str  # pandas frequency alias
    season_length: int  # M4's seasonal period
    horizon: int  # M4's official forecast horizon
    step: np.timedelta64 | None  # fixed step, or None for calendar steps
    months: int = 0  # calendar step in months (monthly, quarterly, yearly)


FREQUENCIES: dict[str, Freq] = {
    "hourly": Freq("Hourly", "h", 24, 48, np.timedelta64(1, "h")),
    "daily": Freq("Daily", "D", 1, 14, np.timedelta64(1, "D")),
    # M4 weeks start 2000-01-01, a Saturday: pandas' plain "W" is anchored on Sundays.
    "weekly": Freq("Weekly", "W-SAT", 1, 13, np.timedelta64(7, "D")),
    "monthly": Freq("Monthly", "MS", 12, 18, None, 1),
    "quarterly": Freq("Quarterly", "QS", 4, 8, None, 3),
    "yearly": Freq("Yearly", "YS", 1, 6, None, 12),
}
START = np.datetime64("2000-01-01T00:00:00", "us")


def timestamps(freq: Freq, positions: np.ndarray) -> pd.Series:
    """UTC timestamps of 0-based step ``positions`` from 2000-01-01 at ``freq``."""
    if freq.step is not None:
        ts = START + positions * freq.step.astype("timedelta64[us]")
    else:
        ts = (np.datetime64("2000-01", "M") + positions * freq.months).astype("datetime64[us]")
    return pd.Series(ts).dt.tz_localize("UTC")


@dataclass
class Wide:
    """A wide M4 file: ids, values (series, steps) with NaN padding, and lengths per series."""

    ids: np.ndarray
    values: np.ndarray
    lengths: np.ndarray


def read_wide(path: Path) -> Wide:
    df = C.read_csv(path)
    if df.shape[1] < 2:
        raise PomonaError(f"{path}: expected an id column and value columns, found {df.shape[1]} column(s)")
    id_col = df.columns[0]
    ids = df[id_col]
    if ids.isna().any():
        raise PomonaError(f"{path}: column {id_col!r} (series id) has an empty value at row {int(ids.isna().argmax()) + 2}")
    ids = ids.astype(str).str.strip()
    if ids.duplicated().any():
        raise PomonaError(f"{path}: duplicate series id {ids[ids.duplicated()].iloc[0]!r}")
    block = df.iloc[:, 1:]
    for col in block.columns:  # non-numeric cells make a column object-typed; name the first bad one
        if not pd.api.types.is_numeric_dtype(block[col]):
            num = pd.to_numeric(block[col], errors="coerce")
            bad = num.isna() & block[col].notna()
            if bad.any():
                raise PomonaError(f"{path}: column {col!r} must be numbers (first bad value "
                                  f"{block[col][bad].iloc[0]!r} in series {ids[bad].iloc[0]})")
            block[col] = num
    values = block.to_numpy(dtype="float64")  # (series, steps)
    if np.isinf(values).any():
        raise PomonaError(f"{path}: infinite value in series {ids.iloc[int(np.isinf(values).any(axis=1).argmax())]}")
    present = ~np.isnan(values)
    lengths = present.sum(axis=1)
    gaps = present != (np.arange(values.shape[1]) < lengths[:, None])
    if gaps.any():
        row = int(gaps.any(axis=1).argmax())
        raise PomonaError(f"{path}: series {ids.iloc[row]} has an empty value before its last value "
                          f"(column {block.columns[int(gaps[row].argmax())]!r})")
    if (lengths == 0).any():
        raise PomonaError(f"{path}: series {ids.iloc[int((lengths == 0).argmax())]} has no values")
    return Wide(ids.to_numpy(dtype=object), values, lengths)


def _frequency(name: str | None, file_name: str) -> Freq:
    prefix = file_name.split("-", 1)[0].lower()
    if name is not None:
        key = name.lower()
        if key not in FREQUENCIES:
            raise PomonaError(f"unknown M4 frequency {name!r}; expected one of: {', '.join(FREQUENCIES)}")
        if prefix in FREQUENCIES and prefix != key:
            raise PomonaError(f"--frequency {key} does not match the file {file_name!r} ({prefix})")
        return FREQUENCIES[key]
    if prefix in FREQUENCIES:
        return FREQUENCIES[prefix]
    raise PomonaError(f"cannot tell the M4 frequency from {file_name!r}; pass --frequency "
                      f"({'|'.join(FREQUENCIES)})")


def _files(path: Path, test_path: Path | None, frequency: str | None) -> tuple[Freq, Path, Path]:
    path = C.existing(path)
    if path.is_dir():
        if frequency is None:
            found = [k for k, f in FREQUENCIES.items() if (path / f"{f.prefix}-train.csv").is_file()]
            if len(found) != 1:
                raise PomonaError(f"cannot tell the M4 frequency in {str(path)!r} "
                                  f"({'found ' + ', '.join(found) if found else 'no <Freq>-train.csv'}); "
                                  f"pass --frequency ({'|'.join(FREQUENCIES)})")
            frequency = found[0]
        freq = _frequency(frequency, "")
        train = C.find_file(path, f"{freq.prefix}-train.csv", NAME)
        test = C.existing_file(test_path, "--test-path") if test_path else C.find_file(path, f"{freq.prefix}-test.csv", NAME)
        return freq, train, test
    freq = _frequency(frequency, path.name)
    if test_path is not None:
        return freq, path, C.existing_file(test_path, "--test-path")
    sibling = path.with_name(path.name.replace("-train", "-test"))
    if "-train" not in path.name or not sibling.is_file():
        raise PomonaError(f"{NAME}: no test file for {path.name}; pass it with --test-path")
    return freq, path, sibling


def _align(train: Wide, test: Wide, freq: Freq, test_file: Path) -> np.ndarray:
    """Test values reordered to the train series' order: (series, horizon)."""
    order = pd.Index(test.ids).get_indexer(train.ids)
    if (order < 0).any():
        raise PomonaError(f"{test_file}: series {train.ids[int((order < 0).argmax())]} of the train file is missing")
    extra = ~pd.Index(test.ids).isin(train.ids)
    if extra.any():
        raise PomonaError(f"{test_file}: series {test.ids[int(extra.argmax())]} is not in the train file")
    wrong = test.lengths != freq.horizon
    if wrong.any():
        i = int(wrong.argmax())
        raise PomonaError(f"{test_file}: series {test.ids[i]} has {int(test.lengths[i])} test values; "
                          f"the {freq.prefix} horizon is {freq.horizon}")
    return test.values[order, : freq.horizon]


def demand_chunks(train: Wide, test_values: np.ndarray, freq: Freq):
    """Yield the long ``demand`` frame, ``CHUNK_SERIES`` series at a time (train then test per series)."""
    for lo in range(0, len(train.ids), CHUNK_SERIES):
        hi = min(lo + CHUNK_SERIES, len(train.ids))
        tr = train.values[lo:hi]
        rows, cols = np.nonzero(~np.isnan(tr))  # row-major: grouped by series, in time order
        t_rows = np.repeat(np.arange(hi - lo), freq.horizon)
        t_cols = np.tile(np.arange(freq.horizon), hi - lo)
        all_rows = np.concatenate([rows, t_rows])
        positions = np.concatenate([cols, train.lengths[lo:hi][t_rows] + t_cols])
        y = np.concatenate([tr[rows, cols], test_values[lo:hi][t_rows, t_cols]])
        split = np.repeat(np.array(["train", "test"], dtype=object), [len(rows), len(t_rows)])
        order = np.lexsort((positions, all_rows))
        yield pd.DataFrame({
            S.SERIES_ID: train.ids[lo:hi][all_rows[order]],
            S.TS: timestamps(freq, positions[order]),
            S.Y: y[order],
            S.SPLIT: split[order],
        })


def import_m4(ws: Workspace, path: Path, *, test_path: Path | None = None, frequency: str | None = None,
              force: bool = False, verify_checksum: bool = True) -> Manifest:
    freq, train_file, test_file = _files(path, test_path, frequency)
    C.check_target(ws, USE_CASE, force)
    md5s = {f: C.check_md5(f, verify_checksum, KNOWN_MD5) for f in (train_file, test_file)}
    train = read_wide(train_file)
    test = read_wide(test_file)
    test_values = _align(train, test, freq, test_file)
    src = C.source(train=(train_file, md5s[train_file]), test=(test_file, md5s[test_file]))
    src["frequency"] = next(k for k, f in FREQUENCIES.items() if f is freq)
    with DatasetWriter(ws, USE_CASE, NAME, source=src, force=force, frequency=freq.alias,
                       season_length=freq.season_length, horizon=freq.horizon) as w:
        for chunk in demand_chunks(train, test_values, freq):
            w.append("demand", chunk)
    return Manifest.read(ws.dataset_dir(USE_CASE))


__all__ = ["import_m4", "FREQUENCIES"]
