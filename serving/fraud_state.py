"""The account's velocity state after each served transaction, computed incrementally and
exactly as :func:`features.fraud.account_state` computes it in batch.

The state needs the account's transactions, not only its previous state (a window's sum
loses the events that leave it), so the log keeps each account's transactions: the offline
ones (read lazily from the dataset) followed by those this process has served. For
transactions that arrive in time order this equals ``account_state`` over the offline
transactions plus the served ones, row for row (windows are ``(t - w, t]``, the running mode
keeps the earliest value on ties). Known limits, stated precisely:

* transactions served by another process (several workers or replicas) or before a restart
  are not in this log: the windows then miss them (the online store still has the last
  pushed state, but it is overwritten by this process's next push);
* a transaction older than the account's latest one is inserted in time order: the windows
  and ``last_txn_unix`` are then those of the account's latest transaction (the batch's last
  row), but the running modes count it in arrival order;
* a transaction without ``device_id``/``country`` leaves the modes unchanged.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from features.fraud import ACCOUNT_COLUMNS, WINDOWS
from pomona.data.writer import read_manifest
from pomona.schemas import ACCOUNT_ID, TS
from pomona.workspace import Workspace

NS = 1_000_000_000
_WINDOWS_NS = {label: int(w.value) for label, w in WINDOWS.items()}  # pd.Timedelta.value: ns


@dataclass
class _Mode:
    """Running mode (ties: the value that reached the top count first)."""

    counts: dict = field(default_factory=dict)
    best: object = None

    def add(self, value) -> None:
        if value is None:
            return
        self.counts[value] = self.counts.get(value, 0) + 1
        if self.best is None or self.counts[value] > self.counts[self.best]:
            self.best = value


@dataclass
class _Account:
    times: list[int] = field(default_factory=list)  # ns since epoch, sorted
    amounts: list[float] = field(default_factory=list)
    device: _Mode = field(default_factory=_Mode)
    country: _Mode = field(default_factory=_Mode)

    def add(self, t_ns: int, amount: float, device, country) -> None:
        if not self.times or t_ns >= self.times[-1]:
            self.times.append(t_ns)
            self.amounts.append(amount)
        else:  # out of order: keep times sorted, amounts aligned
            pos = bisect_right(self.times, t_ns)
            self.times.insert(pos, t_ns)
            self.amounts.insert(pos, amount)
        self.device.add(device)
        self.country.add(country)


class AccountLog:
    """Transactions per account, offline history first; :meth:`record` returns the new state."""

    def __init__(self, history: pd.DataFrame):
        self.columns = [c for c in ACCOUNT_COLUMNS if _available(c, history.columns)]
        history = history.sort_values(TS, kind="stable").reset_index(drop=True)
        self._history = history
        self._rows = history.groupby(ACCOUNT_ID, sort=False).indices
        self._accounts: dict[int, _Account] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_workspace(cls, ws: Workspace) -> AccountLog:
        manifest = read_manifest(ws, "fraud")
        path = ws.dataset_dir("fraud") / manifest.tables["transactions"].file
        names = pq.read_schema(path).names
        cols = [c for c in (ACCOUNT_ID, TS, "amount", "device_id", "country") if c in names]
        return cls(pd.read_parquet(path, columns=cols))

    def _account(self, account_id: int) -> _Account:
        acc = self._accounts.get(account_id)
        if acc is None:
            acc = _Account()
            rows = self._rows.get(account_id)
            if rows is not None:
                h = self._history.iloc[rows]
                times = h[TS].astype("datetime64[ns, UTC]").astype("int64").to_numpy()
                amounts = h["amount"].to_numpy(float) if "amount" in h else np.zeros(len(h))
                devices = h["device_id"].tolist() if "device_id" in h else [None] * len(h)
                countries = h["country"].tolist() if "country" in h else [None] * len(h)
                for t, a, d, c in zip(times.tolist(), amounts.tolist(), devices, countries):
                    acc.add(t, a, d, c)
            self._accounts[account_id] = acc
        return acc

    def record(self, account_id: int, ts: pd.Timestamp, amount: float, device_id=None, country=None) -> dict:
        """Add one transaction; return the account's state row (``account_id``,
        ``event_timestamp`` and the view's columns) as of its latest transaction."""
        t_ns = int(pd.Timestamp(ts).tz_convert("UTC").value)
        with self._lock:
            acc = self._account(int(account_id))
            acc.add(t_ns, float(amount), device_id, country)
            return self._state(int(account_id), acc)

    def _state(self, account_id: int, acc: _Account) -> dict:
        last = acc.times[-1]
        row: dict = {ACCOUNT_ID: account_id, TS: pd.Timestamp(last, tz="UTC")}
        for label, width in _WINDOWS_NS.items():
            start = bisect_right(acc.times, last - width)  # window (last - w, last]
            row[f"txn_count_{label}"] = float(len(acc.times) - start)
            row[f"txn_amount_{label}"] = float(np.sum(acc.amounts[start:]))
        row["amount_mean_30d"] = row["txn_amount_30d"] / row["txn_count_30d"]
        row["primary_device"] = acc.device.best
        row["home_country"] = acc.country.best
        row["last_txn_unix"] = last / NS
        return {k: v for k, v in row.items() if k in (ACCOUNT_ID, TS, *self.columns)}


def _available(column: str, have) -> bool:
    needs = {"primary_device": "device_id", "home_country": "country"}
    if column in needs:
        return needs[column] in have
    if column.startswith("txn_amount") or column == "amount_mean_30d":
        return "amount" in have
    return True


_LOGS: dict[str, AccountLog] = {}
_LOGS_LOCK = threading.Lock()


def account_log(ws: Workspace) -> AccountLog:
    """The process's log for the workspace (built once, on first use)."""
    key = str(ws.root)
    with _LOGS_LOCK:
        if key not in _LOGS:
            _LOGS[key] = AccountLog.from_workspace(ws)
        return _LOGS[key]
