"""MovieLens 100K (GroupLens) -> recommendations: interactions, users, products.

``path`` is the GroupLens folder (``u.data``, ``u.item``, ``u.user``) or ``u.data`` itself;
``u.item``/``u.user`` are looked up beside it and are optional (without them the users and
products tables hold only ids and first-rating times). Each user's and movie's
``event_timestamp`` is its first rating time, so a point-in-time join never sees a user or
movie before it existed; users and movies without ratings are left out. The users' zip code
and the movies' video release date and IMDb URL are dropped.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from pomona import schemas as S
from pomona.data.importers import _common as C
from pomona.data.writer import DatasetWriter
from pomona.errors import PomonaError
from pomona.schemas import Manifest
from pomona.workspace import Workspace

NAME = "movielens-100k"
KNOWN_MD5 = {"u.data": "5f514ee583447b26891e0b3515665060"}  # as distributed
USE_CASE = "recommendations"
GENRES = ("unknown", "action", "adventure", "animation", "childrens", "comedy", "crime", "documentary",
          "drama", "fantasy", "film_noir", "horror", "musical", "mystery", "romance", "sci_fi", "thriller",
          "war", "western")  # u.genre, snake-cased, in column order
ITEM_COLUMNS = ("movie_id", "title", "release_date", "video_release_date", "imdb_url",
                *(f"genre_{g}" for g in GENRES))
USER_COLUMNS = ("user_id", "age", "gender", "occupation", "zip_code")


def _read_pipe(path: Path, names: tuple[str, ...]) -> pd.DataFrame:
    df = C.read_csv(path, sep="|", header=None, encoding="latin-1", dtype=str, keep_default_na=False,
                    quoting=csv.QUOTE_NONE)
    if df.shape[1] != len(names):
        raise PomonaError(f"{path}: expected {len(names)} '|'-separated fields ({', '.join(names[:5])}, ...), "
                          f"found {df.shape[1]}")
    df.columns = list(names)
    return df


def read_ratings(path: Path) -> pd.DataFrame:
    """``u.data`` (tab-separated ``user item rating timestamp``) as canonical interactions."""
    df = C.read_csv(path, sep="\t", header=None, dtype=str)
    if df.shape[1] != 4:
        raise PomonaError(f"{path}: expected 4 tab-separated fields (user_id, item_id, rating, timestamp), "
                          f"found {df.shape[1]}")
    df.columns = ["user_id", "item_id", "rating", "timestamp"]
    where = str(path)
    seconds = C.integers(df, "timestamp", where)
    try:
        ts = pd.to_datetime(seconds, unit="s", utc=True)
    except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime) as exc:
        raise PomonaError(f"{where}: column 'timestamp' holds unix seconds out of range ({exc})") from None
    return pd.DataFrame({
        S.USER_ID: C.integers(df, "user_id", where),
        S.PRODUCT_ID: C.integers(df, "item_id", where),
        S.TS: ts,
        S.EVENT_TYPE: "rating",
        S.WEIGHT: C.numeric(df, "rating", where).astype("float64"),
    })


def read_items(path: Path) -> pd.DataFrame:
    """``u.item`` as product features: title, release_year (-1 when unknown), genre flags."""
    df = _read_pipe(path, ITEM_COLUMNS)
    where = str(path)
    dates = df["release_date"].str.strip()
    parsed = pd.to_datetime(dates, format="%d-%b-%Y", errors="coerce")
    bad = dates[parsed.isna() & (dates != "")]
    if not bad.empty:
        raise PomonaError(f"{where}: column 'release_date' must be dates like 01-Jan-1995 "
                          f"(first bad value {bad.iloc[0]!r})")
    out = pd.DataFrame({S.PRODUCT_ID: C.integers(df, "movie_id", where), "title": df["title"],
                        "release_year": parsed.dt.year.fillna(-1).astype("int64")})
    for g in GENRES:
        out[f"genre_{g}"] = C.integers(df, f"genre_{g}", where)
    return out


def read_users(path: Path) -> pd.DataFrame:
    """``u.user`` as user features: age, gender, occupation."""
    df = _read_pipe(path, USER_COLUMNS)
    where = str(path)
    return pd.DataFrame({S.USER_ID: C.integers(df, "user_id", where), "age": C.integers(df, "age", where),
                         "gender": df["gender"], "occupation": df["occupation"]})


def _entities(ratings: pd.DataFrame, key: str, features: pd.DataFrame | None, file: Path | None) -> pd.DataFrame:
    """One row per rated ``key`` with its first rating time, joined to its features."""
    first = ratings.groupby(key, sort=True)[S.TS].min().reset_index()
    if features is None:
        return first
    if features[key].duplicated().any():
        raise PomonaError(f"{file}: duplicate id {features[key][features[key].duplicated()].iloc[0]}")
    unknown = ~first[key].isin(features[key])
    if unknown.any():
        raise PomonaError(f"{file}: {int(unknown.sum())} id(s) rated in u.data are missing "
                          f"(first: {first[key][unknown].iloc[0]})")
    return first.merge(features, on=key, how="left")


def import_movielens(ws: Workspace, path: Path, *, test_path=None, frequency=None, force: bool = False,
                     verify_checksum: bool = True) -> Manifest:
    C.not_used(NAME, test_path=test_path, frequency=frequency)
    data = C.find_file(path, "u.data", NAME)
    C.check_target(ws, USE_CASE, force)
    item_file: Path | None = data.parent / "u.item"
    user_file: Path | None = data.parent / "u.user"
    item_file = item_file if item_file and item_file.is_file() else None
    user_file = user_file if user_file and user_file.is_file() else None

    data_md5 = C.check_md5(data, verify_checksum, KNOWN_MD5)
    ratings = read_ratings(data)
    users = _entities(ratings, S.USER_ID, read_users(user_file) if user_file else None, user_file)
    products = _entities(ratings, S.PRODUCT_ID, read_items(item_file) if item_file else None, item_file)

    src = C.source(u_data=(data, data_md5),
                   u_item=(item_file, C.md5sum(item_file)) if item_file else None,
                   u_user=(user_file, C.md5sum(user_file)) if user_file else None)
    with DatasetWriter(ws, USE_CASE, NAME, source=src, force=force) as w:
        w.append("interactions", ratings)
        w.append("users", users)
        w.append("products", products, text_columns=("title",) if item_file else ())
    return Manifest.read(ws.dataset_dir(USE_CASE))


__all__ = ["import_movielens", "GENRES"]
