"""SVMlight learning-to-rank files (e.g. LightGBM's lambdarank sample) -> ranking judgments.

``path`` is a folder holding ``rank.train`` and ``rank.test`` or a single train file with
``test_path`` for the test file. Each line is ``label [qid:Q] index:value ...``. Group ids
come from ``<file>.query`` (one group size per line, in order) when it exists, else from the
``qid:`` fields. Query ids are renumbered 1.. across train then test, documents get a running
``product_id`` 1.. across both files, ``event_timestamp`` is a constant (the data has no time)
and every feature index seen in either file becomes a column ``f_<index>`` (0.0 where absent).
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

NAME = "svmlight-ranking"
KNOWN_MD5 = {"rank.train": "8178c79fb07eccc322c81c87fa7a28ec",  # as distributed
             "rank.test": "7b3da47f84c45d0f9c9ea6da6d731cd0"}
USE_CASE = "ranking"
TIMESTAMP = pd.Timestamp("2000-01-01", tz="UTC")  # the data has no time; one constant for all rows


@dataclass
class Parsed:
    """One SVMlight file: labels, group index per document and sparse (row, index, value) triples."""

    labels: np.ndarray  # (n_docs,) int64
    groups: np.ndarray  # (n_docs,) int64, 0-based group number within the file
    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray


def _number(token: str, what: str, where: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise PomonaError(f"{where}: {what} {token!r} is not a number") from None
    if not np.isfinite(value):
        raise PomonaError(f"{where}: {what} {token!r} is not finite")
    return value


def parse(path: Path) -> Parsed:
    """Parse ``path`` and attach its group ids (from ``<path>.query`` or ``qid:``)."""
    labels: list[int] = []
    qids: list[str | None] = []
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError:
        raise PomonaError(f"{path} is not a text SVMlight file") from None
    except OSError as exc:
        raise PomonaError(f"{path} could not be read ({exc.strerror or exc})") from None
    for lineno, line in enumerate(lines, start=1):
        tokens = line.split("#", 1)[0].split()
        if not tokens:
            continue
        where = f"{path} line {lineno}"
        label = _number(tokens[0], "label", where)
        if label != int(label):
            raise PomonaError(f"{where}: label {tokens[0]!r} is not an integer relevance grade")
        doc = len(labels)
        labels.append(int(label))
        qid = None
        for tok in tokens[1:]:
            key, sep, value = tok.partition(":")
            if not sep:
                raise PomonaError(f"{where}: expected index:value, found {tok!r}")
            if key == "qid":
                qid = value
                continue
            if not key.isdigit():
                raise PomonaError(f"{where}: feature index {key!r} is not a non-negative integer")
            rows.append(doc)
            cols.append(int(key))
            vals.append(_number(value, f"value of feature {key}", where))
        qids.append(qid)
    if not labels:
        raise PomonaError(f"{path} is empty (no documents)")
    return Parsed(np.asarray(labels, dtype="int64"), _groups(path, qids),
                  np.asarray(rows, dtype="int64"), np.asarray(cols, dtype="int64"), np.asarray(vals, dtype="float64"))


def _groups(path: Path, qids: list[str | None]) -> np.ndarray:
    n = len(qids)
    query_file = path.with_name(path.name + ".query")
    if query_file.is_file():
        tokens = query_file.read_text().split()
        if not all(t.isdigit() and int(t) > 0 for t in tokens):
            bad = next(t for t in tokens if not (t.isdigit() and int(t) > 0))
            raise PomonaError(f"{query_file}: group sizes must be positive integers (first bad value {bad!r})")
        sizes = np.asarray([int(t) for t in tokens], dtype="int64")
        if sizes.sum() != n:
            raise PomonaError(f"{query_file}: group sizes add up to {int(sizes.sum())} but {path.name} "
                              f"has {n} documents")
        return np.repeat(np.arange(len(sizes), dtype="int64"), sizes)
    if all(q is None for q in qids):
        raise PomonaError(f"{path}: no group ids: neither {query_file.name} beside it nor qid: fields in the lines")
    if any(q is None for q in qids):
        first = next(i for i, q in enumerate(qids) if q is None)
        raise PomonaError(f"{path}: document {first + 1} has no qid: field while others do")
    return pd.factorize(pd.Series(qids))[0].astype("int64")


def _files(path: Path, test_path: Path | None) -> tuple[Path, Path]:
    path = C.existing(path)
    if path.is_dir():
        train = C.find_file(path, "rank.train", NAME)
        test = C.existing_file(test_path, "--test-path") if test_path else C.find_file(path, "rank.test", NAME)
        return train, test
    if test_path is None:
        raise PomonaError(f"{NAME}: {path} is a single file; pass the test file with --test-path "
                          f"(or give the folder holding rank.train and rank.test)")
    return path, C.existing_file(test_path, "--test-path")


def judgments(train: Parsed, test: Parsed) -> pd.DataFrame:
    """Both files as one canonical judgments frame with dense ``f_<index>`` feature columns."""
    indices = np.union1d(train.cols, test.cols)
    n_train, n = len(train.labels), len(train.labels) + len(test.labels)
    dense = np.zeros((n, len(indices)), dtype="float64")  # (documents, features)
    dense[train.rows, np.searchsorted(indices, train.cols)] = train.vals
    dense[n_train + test.rows, np.searchsorted(indices, test.cols)] = test.vals
    n_train_groups = int(train.groups.max()) + 1
    frame = pd.DataFrame({
        S.QUERY_ID: np.concatenate([train.groups + 1, test.groups + 1 + n_train_groups]),
        S.PRODUCT_ID: np.arange(1, n + 1, dtype="int64"),
        S.TS: pd.Series(TIMESTAMP, index=range(n)).astype("datetime64[us, UTC]"),
        S.RELEVANCE: np.concatenate([train.labels, test.labels]),
        S.SPLIT: np.repeat(np.array(["train", "test"], dtype=object), [n_train, n - n_train]),
    })
    features = pd.DataFrame(dense, columns=[f"f_{i}" for i in indices])
    return pd.concat([frame, features], axis=1)


def import_svmlight(ws: Workspace, path: Path, *, test_path: Path | None = None, frequency=None,
                    force: bool = False, verify_checksum: bool = True) -> Manifest:
    C.not_used(NAME, frequency=frequency)
    train_file, test_file = _files(path, test_path)
    C.check_target(ws, USE_CASE, force)
    md5s = {f: C.check_md5(f, verify_checksum, KNOWN_MD5) for f in (train_file, test_file)}
    df = judgments(parse(train_file), parse(test_file))
    src = C.source(train=(train_file, md5s[train_file]), test=(test_file, md5s[test_file]))
    with DatasetWriter(ws, USE_CASE, NAME, source=src, force=force) as w:
        w.append("judgments", df)
    return Manifest.read(ws.dataset_dir(USE_CASE))


__all__ = ["import_svmlight"]
