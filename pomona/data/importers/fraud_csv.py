"""Fraud CSVs -> the fraud use case's ``transactions`` table.

* ``vehicle-insurance-fraud``: ``fraud_oracle.csv`` (Angoss/Oracle carclaims). The data has no
  account, merchant or exact date: ``account_id`` and ``merchant_id`` are 0 for every row (no
  per-account or per-merchant history exists), ``transaction_id`` is the row number from 1,
  and ``event_timestamp`` is rebuilt from ``Year``, ``Month``, ``WeekOfMonth`` and
  ``DayOfWeek`` (see :func:`claim_dates`), so the temporal protocol (train 1994-1995, test
  1996) is a cut on ``event_timestamp``. ``PolicyNumber`` (a row id) is dropped; every other
  column is kept as a feature under its own name.
* ``creditcard-fraud``: the ULB/Kaggle ``creditcard.csv`` (``Time, V1..V28, Amount, Class``).
  ``event_timestamp`` = 2013-09-01 00:00 UTC + ``Time`` seconds (the data covers two days of
  September 2013), ``amount`` = ``Amount``; ``V1``..``V28`` are kept as numeric features.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pomona import schemas as S
from pomona.data.fraud import IS_FRAUD
from pomona.data.importers import _common as C
from pomona.data.writer import DatasetWriter
from pomona.errors import PomonaError
from pomona.schemas import Manifest
from pomona.workspace import Workspace

USE_CASE = "fraud"
KNOWN_MD5 = {"fraud_oracle.csv": "a831cf33f062a0a7c846cc5a6daa75e7"}  # as distributed
VEHICLE = "vehicle-insurance-fraud"
CREDITCARD = "creditcard-fraud"

MONTHS = {m: i for i, m in enumerate(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                      "Nov", "Dec"], start=1)}
WEEKDAYS = {d: i for i, d in enumerate(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
                                        "Sunday"])}
VEHICLE_DATE_COLUMNS = ("Year", "Month", "WeekOfMonth", "DayOfWeek")
VEHICLE_LABEL = "FraudFound_P"
VEHICLE_ROW_ID = "PolicyNumber"
# Columns that are numbers in the original file; a non-number there is an error, not a category.
VEHICLE_NUMERIC = ("WeekOfMonth", "WeekOfMonthClaimed", "Age", "RepNumber", "Deductible", "DriverRating", "Year")
CREDITCARD_START = pd.Timestamp("2013-09-01", tz="UTC")
CREDITCARD_V = tuple(f"V{i}" for i in range(1, 29))


def _lookup(df: pd.DataFrame, col: str, table: dict[str, int], where: str, words: str) -> np.ndarray:
    values = df[col].astype(str).str.strip().str.title()
    mapped = values.map(table)
    if mapped.isna().any():
        raise PomonaError(f"{where}: column {col!r} must be {words} (first bad value {df[col][mapped.isna()].iloc[0]!r})")
    return mapped.to_numpy(dtype="int64")


def claim_dates(df: pd.DataFrame, where: str) -> pd.Series:
    """The date from Year, Month, WeekOfMonth (1-5) and DayOfWeek, as UTC midnight.

    Week w of a month starts on day 1 + 7*(w-1); the date is the first ``DayOfWeek`` on or
    after that day, clipped to the month's last day so it never leaves the stated month/year.
    """
    year = C.integers(df, "Year", where).to_numpy()
    if ((year < 1800) | (year > 2200)).any():
        raise PomonaError(f"{where}: column 'Year' must be a year (first bad value {int(year[(year < 1800) | (year > 2200)][0])})")
    month = _lookup(df, "Month", MONTHS, where, "a month Jan..Dec")
    weekday = _lookup(df, "DayOfWeek", WEEKDAYS, where, "a weekday Monday..Sunday")
    week = C.integers(df, "WeekOfMonth", where).to_numpy()
    if ((week < 1) | (week > 5)).any():
        raise PomonaError(f"{where}: column 'WeekOfMonth' must be 1..5 (first bad value {int(week[(week < 1) | (week > 5)][0])})")
    month_start = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
    month_end = (month_start + 1).astype("datetime64[D]") - 1
    base = month_start.astype("datetime64[D]") + (week - 1) * 7
    base_weekday = (base.astype("int64") + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
    day = np.minimum(base + (weekday - base_weekday) % 7, month_end)
    return pd.Series(day.astype("datetime64[us]"), index=df.index).dt.tz_localize("UTC")


def vehicle_transactions(path: Path) -> pd.DataFrame:
    raw = C.read_csv(path)
    where = str(path)
    C.require_columns(raw, (*VEHICLE_DATE_COLUMNS, VEHICLE_LABEL), path)
    ts = claim_dates(raw, where)
    out = pd.DataFrame({
        S.TRANSACTION_ID: np.arange(1, len(raw) + 1, dtype="int64"),
        S.ACCOUNT_ID: np.zeros(len(raw), dtype="int64"),  # the data has no account
        S.MERCHANT_ID: np.zeros(len(raw), dtype="int64"),  # nor a merchant
        S.TS: ts,
        IS_FRAUD: raw[VEHICLE_LABEL],
    }, index=raw.index)
    for col in raw.columns:
        if col in (VEHICLE_LABEL, VEHICLE_ROW_ID) or col in out.columns:
            continue
        s = raw[col]
        if col in VEHICLE_NUMERIC or (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)):
            out[col] = C.numeric(raw, col, where)
        else:
            out[col] = s.where(s.isna(), s.astype(str))
    return out.reset_index(drop=True)


def creditcard_transactions(path: Path) -> pd.DataFrame:
    raw = C.read_csv(path)
    where = str(path)
    C.require_columns(raw, ("Time", *CREDITCARD_V, "Amount", "Class"), path)
    seconds = C.numeric(raw, "Time", where)
    out = pd.DataFrame({
        S.TRANSACTION_ID: np.arange(1, len(raw) + 1, dtype="int64"),
        S.ACCOUNT_ID: np.zeros(len(raw), dtype="int64"),  # anonymised: no card id
        S.MERCHANT_ID: np.zeros(len(raw), dtype="int64"),  # nor a merchant
        S.TS: (CREDITCARD_START + pd.to_timedelta(seconds.to_numpy(dtype="float64"), unit="s")).astype("datetime64[us, UTC]"),
        IS_FRAUD: raw["Class"].to_numpy(),
        "amount": C.numeric(raw, "Amount", where).astype("float64").to_numpy(),
    })
    for col in CREDITCARD_V:
        out[col] = C.numeric(raw, col, where).astype("float64").to_numpy()
    return out


def _run(ws: Workspace, name: str, file: Path, read, *, force: bool, verify_checksum: bool) -> Manifest:
    C.check_target(ws, USE_CASE, force)
    md5 = C.check_md5(file, verify_checksum, KNOWN_MD5)
    df = read(file)
    with DatasetWriter(ws, USE_CASE, name, source=C.source(file=(file, md5)), force=force) as w:
        w.append("transactions", df)
    return Manifest.read(ws.dataset_dir(USE_CASE))


def import_vehicle_insurance(ws: Workspace, path: Path, *, test_path=None, frequency=None, force: bool = False,
                             verify_checksum: bool = True) -> Manifest:
    C.not_used(VEHICLE, test_path=test_path, frequency=frequency)
    return _run(ws, VEHICLE, C.find_file(path, "fraud_oracle.csv", VEHICLE), vehicle_transactions,
                force=force, verify_checksum=verify_checksum)


def import_creditcard(ws: Workspace, path: Path, *, test_path=None, frequency=None, force: bool = False,
                      verify_checksum: bool = True) -> Manifest:
    """No md5 is published for ``creditcard.csv``: the file's md5 is recorded, not checked."""
    C.not_used(CREDITCARD, test_path=test_path, frequency=frequency)
    return _run(ws, CREDITCARD, C.find_file(path, "creditcard.csv", CREDITCARD), creditcard_transactions,
                force=force, verify_checksum=verify_checksum)


__all__ = ["import_vehicle_insurance", "import_creditcard", "claim_dates"]
