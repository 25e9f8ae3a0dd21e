"""Helpers shared by the importers: locating files, md5 checks and checked reading.

Every failure here is a :class:`PomonaError` with a one-line message naming the file,
column or value at fault, raised before any data is written.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from pomona.errors import PomonaError
from pomona.workspace import Workspace


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_md5(path: Path, verify: bool, known: dict[str, str]) -> str:
    """Return the file's md5; if ``verify`` and the file is a known one (``known``: file name ->
    md5 as distributed; checked only for a file with its original name), it must match."""
    actual = md5sum(path)
    expected = known.get(path.name)
    if verify and expected is not None and actual != expected:
        raise PomonaError(
            f"{path} has md5 {actual}, expected {expected} for the original {path.name}; "
            f"the copy may be corrupted (pass --no-checksum for a subset or an edited copy)"
        )
    return actual


def existing(path: Path | str, what: str = "path") -> Path:
    """``path`` as a Path, or an error if it does not exist."""
    path = Path(path).expanduser()
    if not path.exists():
        raise PomonaError(f"{what} {str(path)!r} does not exist")
    return path


def existing_file(path: Path | str, what: str = "path") -> Path:
    """``path`` as a Path, or an error if it is not an existing file."""
    path = existing(path, what)
    if not path.is_file():
        raise PomonaError(f"{what} {str(path)!r} is not a file")
    return path


def find_file(path: Path, name: str, dataset: str) -> Path:
    """``path`` itself if it is a file, else ``path/name`` (which must exist)."""
    path = existing(path)
    if path.is_file():
        return path
    candidate = path / name
    if not candidate.is_file():
        raise PomonaError(f"{dataset}: no {name} in folder {str(path)!r}")
    return candidate


def check_target(ws: Workspace, use_case: str, force: bool) -> None:
    """Fail early (before reading any data) when the use case already holds data."""
    target = ws.dataset_dir(use_case)
    if (target / "manifest.json").exists() and not force:
        raise PomonaError(f"{use_case} already holds data in {target}; pass --force to replace it")


def not_used(dataset: str, **options) -> None:
    """Reject options that the importer does not take, naming them."""
    for name, value in options.items():
        if value is not None:
            raise PomonaError(f"{dataset} does not take --{name.replace('_', '-')}")


def read_csv(path: Path, **kwargs) -> pd.DataFrame:
    """``pd.read_csv`` with unreadable, malformed or empty files turned into one-line errors."""
    try:
        df = pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError:
        raise PomonaError(f"{path} is empty") from None
    except OSError as exc:
        raise PomonaError(f"{path} could not be read ({exc.strerror or exc})") from None
    except (pd.errors.ParserError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PomonaError(f"{path} could not be parsed: {first}") from None
    if df.empty:
        raise PomonaError(f"{path} has no rows")
    return df


def require_columns(df: pd.DataFrame, columns, path: Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        have = ", ".join(map(str, df.columns[:12])) + (", ..." if len(df.columns) > 12 else "")
        raise PomonaError(f"{path}: missing column(s) {', '.join(missing)} (have: {have})")


def numeric(df: pd.DataFrame, col, where: str, *, allow_missing: bool = False) -> pd.Series:
    """Column ``col`` as numbers, or an error naming the column and its first bad value."""
    s = df[col]
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        num = s.astype("float64") if not pd.api.types.is_integer_dtype(s) else s
    else:
        num = pd.to_numeric(s, errors="coerce")
        bad = s[num.isna() & s.notna()]
        if not bad.empty:
            raise PomonaError(f"{where}: column {col!r} must be numbers (first bad value {bad.iloc[0]!r})")
    values = num.to_numpy(dtype="float64")
    if not allow_missing and np.isnan(values).any():
        raise PomonaError(f"{where}: column {col!r} has missing values (first at row {int(np.argmax(np.isnan(values))) + 1})")
    if np.isinf(values).any():
        raise PomonaError(f"{where}: column {col!r} has infinite values")
    return num


def integers(df: pd.DataFrame, col, where: str) -> pd.Series:
    """Column ``col`` as int64, or an error naming the column and its first bad value."""
    num = numeric(df, col, where)
    frac = num != np.round(num)
    if frac.any():
        raise PomonaError(f"{where}: column {col!r} must be integers (first bad value {df[col][frac].iloc[0]!r})")
    return num.astype("int64")


def source(**files: tuple[Path, str] | None) -> dict[str, str]:
    """Provenance for the manifest: each file's absolute path and md5 (from :func:`check_md5`)."""
    out: dict[str, str] = {}
    for key, entry in files.items():
        if entry is not None:
            path, md5 = entry
            out[key] = str(Path(path).resolve())
            out[f"{key}_md5"] = md5
    return out
