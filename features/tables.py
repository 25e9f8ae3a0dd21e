"""Feature tables derived from canonical data: windowed aggregates stamped so they never leak.

Two kinds of windows, both computed with pandas' time-based rolling per key:

* :func:`daily_rollups` - per key and *complete* day, trailing sums over N days, stamped at
  the next midnight (a row dated D+1 00:00 only uses events of day D and before);
* :func:`event_rollups` - per key and event, trailing counts/sums over a time window that
  *include* the event, stamped at the event's time (the state after the event).

Each returns a frame with the key, ``event_timestamp`` and the aggregate columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pomona.schemas import TS


def daily_rollups(df: pd.DataFrame, key: str | list[str], sums: dict[str, str], windows_days: list[int],
                  step: pd.Timedelta = pd.Timedelta(days=1)) -> pd.DataFrame:
    """Trailing ``windows_days`` sums of ``sums`` (output prefix -> input column or ``""`` for counts).

    ``step`` is the bucket width (a day by default, an hour for hourly series).
    Rows are emitted for each key and bucket with activity, stamped at bucket end.
    """
    keys = [key] if isinstance(key, str) else list(key)
    work = df[keys].copy()
    work["_bucket"] = df[TS].dt.floor(step)
    for prefix, col in sums.items():
        work[prefix] = 1.0 if col == "" else df[col].astype("float64")
    per_bucket = work.groupby(keys + ["_bucket"], sort=True)[list(sums)].sum().reset_index()
    out = per_bucket[keys].copy()
    out[TS] = per_bucket["_bucket"] + step
    grouped = per_bucket.set_index("_bucket").groupby(keys, sort=False)
    for days in windows_days:
        # The window (t - w, t] over bucket starts holds exactly `days` buckets.
        rolled = grouped[list(sums)].rolling(days * step).sum()
        for prefix in sums:
            out[f"{prefix}_{days}{_unit(step)}"] = rolled[prefix].to_numpy()
    return out


def event_rollups(df: pd.DataFrame, key: str, windows: dict[str, pd.Timedelta], amount: str | None) -> pd.DataFrame:
    """Per event: count (and ``amount`` sum) of the key's events in each trailing window, inclusive."""
    work = df[[key, TS] + ([amount] if amount else [])].copy()
    work["_one"] = 1.0
    work = work.sort_values([key, TS], kind="stable")
    grouped = work.set_index(TS).groupby(key, sort=False)
    out = pd.DataFrame({key: work[key].to_numpy(), TS: work[TS].to_numpy()}, index=work.index)
    for label, width in windows.items():
        out[f"txn_count_{label}"] = grouped["_one"].rolling(width).sum().to_numpy()
        if amount:
            out[f"txn_amount_{label}"] = grouped[amount].rolling(width).sum().to_numpy()
    return out.sort_index()


def _unit(step: pd.Timedelta) -> str:
    return "h" if step < pd.Timedelta(days=1) else "d"


def running_mode(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For events sorted by time within each key: the most frequent value so far (ties: earliest)."""
    out = np.empty(len(values), dtype=values.dtype)
    counts: dict = {}
    best: dict = {}
    for i, (k, v) in enumerate(zip(keys.tolist(), values.tolist())):
        c = counts.setdefault(k, {})
        c[v] = c.get(v, 0) + 1
        b = best.get(k)
        if b is None or c[v] > c[b]:
            best[k] = v
        out[i] = best[k]
    return out
