"""Importers: tiny fixtures built in code per format, every bad-input path, the CLI, real data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import shared

from pomona.data.importers import IMPORTERS, import_dataset
from pomona.data.writer import load_table, read_manifest
from pomona.errors import PomonaError

NO_MD5 = dict(verify_checksum=False)

# ---------------------------------------------------------------- fixtures in each format


def write_movielens(folder: Path, *, item=True, user=True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    # user item rating timestamp (tab-separated); user 3 and item 30 rate/are rated once
    (folder / "u.data").write_text("1\t10\t5\t880000000\n1\t20\t3\t880000100\n2\t10\t4\t879999000\n"
                                   "2\t20\t1\t890000000\n3\t30\t2\t885000000\n")
    flags = lambda k: "|".join("1" if i == k else "0" for i in range(19))  # noqa: E731
    if item:
        (folder / "u.item").write_bytes(
            (f"10|Café Society (1995)|01-Jan-1995||http://x|{flags(1)}\n"
             f"20|GoldenEye (1995)|01-Jan-1995||http://y|{flags(17)}\n"
             f"30|unknown||||{flags(0)}\n"
             f"40|Never Rated (1990)|01-Jan-1990||http://z|{flags(5)}\n").encode("latin-1"))
    if user:
        (folder / "u.user").write_bytes(b"1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|32067\n"
                                        b"4|33|F|artist|12345\n")
    return folder


def write_svmlight(folder: Path, *, qid=False, query_files=True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    q = (lambda n: f" qid:{n}") if qid else (lambda n: "")
    (folder / "rank.train").write_text(f"2{q(7)} 1:0.5 3:1.5\n0{q(7)} 1:0.25\n1{q(9)} 2:2.0 # comment\n")
    (folder / "rank.test").write_text(f"4{q(7)} 5:3.0\n0{q(7)} 1:1.0\n")
    if query_files:
        (folder / "rank.train.query").write_text("2\n1\n")
        (folder / "rank.test.query").write_text("2\n")
    return folder


VEHICLE_COLUMNS = ("Month,WeekOfMonth,DayOfWeek,Make,AccidentArea,DayOfWeekClaimed,MonthClaimed,WeekOfMonthClaimed,"
                   "Sex,MaritalStatus,Age,Fault,PolicyType,VehicleCategory,VehiclePrice,FraudFound_P,PolicyNumber,"
                   "RepNumber,Deductible,DriverRating,Days_Policy_Accident,Days_Policy_Claim,PastNumberOfClaims,"
                   "AgeOfVehicle,AgeOfPolicyHolder,PoliceReportFiled,WitnessPresent,AgentType,NumberOfSuppliments,"
                   "AddressChange_Claim,NumberOfCars,Year,BasePolicy")
VEHICLE_ROW = ("{month},{week},{day},Honda,Urban,Tuesday,Jan,1,Female,Single,21,Policy Holder,Sport - Liability,"
               "Sport,more than 69000,{fraud},{n},12,300,1,more than 30,more than 30,none,3 years,26 to 30,No,No,"
               "External,none,1 year,3 to 4,{year},Liability")
VEHICLE_ROWS = [  # (month, week, day, year, fraud) -> expected date
    (("Dec", 5, "Wednesday", 1994, 0), "1994-12-31"),  # Wed of week 5 is Jan 4 -> clipped to the month end
    (("Jan", 3, "Wednesday", 1994, 1), "1994-01-19"),  # week 3 starts Sat Jan 15 -> next Wednesday
    (("Jan", 1, "Monday", 1996, 0), "1996-01-01"),  # Jan 1 1996 was a Monday
    (("Feb", 2, "Sunday", 1995, 1), "1995-02-12"),  # week 2 starts Wed Feb 8 -> Sunday Feb 12
]


def write_vehicle(folder: Path, rows=None, header=VEHICLE_COLUMNS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = rows if rows is not None else [r for r, _ in VEHICLE_ROWS]
    lines = [header] + [VEHICLE_ROW.format(month=m, week=w, day=d, year=y, fraud=f, n=i + 1)
                        for i, (m, w, d, y, f) in enumerate(rows)]
    path = folder / "fraud_oracle.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_creditcard(folder: Path, n=4, bad: tuple[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"Time": np.arange(n) * 3600.0})
    for i in range(1, 29):
        df[f"V{i}"] = rng.normal(size=n)
    df["Amount"] = np.arange(n) + 0.5
    df["Class"] = [i % 2 for i in range(n)]
    if bad:
        df[bad[0]] = df[bad[0]].astype(object)
        df.loc[1, bad[0]] = bad[1]
    path = folder / "creditcard.csv"
    df.to_csv(path, index=False, quoting=1)  # quoted like the Kaggle file
    return path


def write_m4(folder: Path, prefix="Hourly", lengths=(5, 3, 4), horizon=48, test_lengths=None,
             names=("{p}-train.csv", "{p}-test.csv")) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    width = max(lengths)
    train_lines = [",".join(f'"V{i + 1}"' for i in range(width + 1))]
    test_lines = [",".join(f'"V{i + 1}"' for i in range(horizon + 1))]
    for s, n in enumerate(lengths):
        vals = [f'"{100 * (s + 1) + t}"' for t in range(n)] + [""] * (width - n)
        train_lines.append(",".join([f'"{prefix[0]}{s + 1}"', *vals]))
        k = horizon if test_lengths is None else test_lengths[s]
        tvals = [f'"{-(t + 1)}"' for t in range(k)] + [""] * (horizon - k)
        test_lines.append(",".join([f'"{prefix[0]}{s + 1}"', *tvals]))
    train = folder / names[0].format(p=prefix)
    test = folder / names[1].format(p=prefix)
    train.write_text("\n".join(train_lines) + "\n")
    test.write_text("\n".join(test_lines) + "\n")
    return train, test


def assert_clean(ws, use_case: str) -> None:
    """Nothing written for ``use_case`` and no staging folder left behind."""
    assert not (ws.dataset_dir(use_case) / "manifest.json").exists()
    if ws.data.exists():
        assert not [p.name for p in ws.data.iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------- canonical output


def test_registry_names():
    assert set(IMPORTERS) == {"movielens-100k", "svmlight-ranking", "vehicle-insurance-fraud", "creditcard-fraud", "m4"}


def test_movielens_folder(ws, tmp_path):
    m = import_dataset(ws, "movielens-100k", write_movielens(tmp_path / "ml"), **NO_MD5)
    assert m.use_case == "recommendations" and m.dataset == "movielens-100k"
    assert {t: i.rows for t, i in m.tables.items()} == {"interactions": 5, "users": 3, "products": 3}
    inter = load_table(ws, "recommendations")
    assert list(inter.columns) == ["user_id", "product_id", "event_timestamp", "event_type", "weight"]
    assert inter["weight"].tolist() == [5.0, 3.0, 4.0, 1.0, 2.0]
    assert (inter["event_type"] == "rating").all()
    assert inter["event_timestamp"].iloc[0] == pd.Timestamp(880000000, unit="s", tz="UTC")
    users = load_table(ws, "recommendations", "users").set_index("user_id")
    assert users.loc[2, "event_timestamp"] == pd.Timestamp(879999000, unit="s", tz="UTC")  # first rating
    assert users.loc[2, "gender"] == "F" and users.loc[1, "age"] == 24 and "zip_code" not in users
    products = load_table(ws, "recommendations", "products").set_index("product_id")
    assert products.loc[10, "title"] == "Café Society (1995)"  # latin-1 decoded
    assert products.loc[30, "release_year"] == -1  # missing release date
    assert products.loc[10, "genre_action"] == 1 and products.loc[20, "genre_war"] == 1
    assert products.loc[30, "genre_unknown"] == 1 and products["genre_film_noir"].dtype == np.int64
    assert len([c for c in products.columns if c.startswith("genre_")]) == 19
    assert m.tables["products"].text_columns == ["title"]
    assert "title" not in m.tables["products"].categorical_features
    assert m.tables["users"].categorical_features == ["gender", "occupation"]


def test_movielens_u_data_file_alone(ws, tmp_path):
    folder = write_movielens(tmp_path / "ml", item=False, user=False)
    m = import_dataset(ws, "movielens-100k", folder / "u.data", **NO_MD5)
    assert m.tables["users"].rows == 3 and m.tables["products"].rows == 3
    assert list(load_table(ws, "recommendations", "products").columns) == ["product_id", "event_timestamp"]


@pytest.mark.parametrize("qid", [False, True])
def test_svmlight(ws, tmp_path, qid):
    folder = write_svmlight(tmp_path / "r", qid=qid, query_files=not qid)
    if qid:
        m = import_dataset(ws, "svmlight-ranking", folder / "rank.train", test_path=folder / "rank.test", **NO_MD5)
    else:
        m = import_dataset(ws, "svmlight-ranking", folder, **NO_MD5)
    df = load_table(ws, "ranking")
    assert m.tables["judgments"].rows == 5
    assert df["query_id"].tolist() == [1, 1, 2, 3, 3]  # test queries numbered after train's
    assert df["product_id"].tolist() == [1, 2, 3, 4, 5]
    assert df["relevance"].tolist() == [2, 0, 1, 4, 0]
    assert df["split"].tolist() == ["train"] * 3 + ["test"] * 2
    assert [c for c in df.columns if c.startswith("f_")] == ["f_1", "f_2", "f_3", "f_5"]  # union of both files
    assert df["f_3"].tolist() == [1.5, 0, 0, 0, 0] and df["f_5"].tolist() == [0, 0, 0, 3.0, 0]
    assert (df["event_timestamp"] == pd.Timestamp("2000-01-01", tz="UTC")).all()
    assert m.tables["judgments"].numeric_features == ["f_1", "f_2", "f_3", "f_5"]


def test_vehicle_insurance(ws, tmp_path):
    path = write_vehicle(tmp_path / "v")
    m = import_dataset(ws, "vehicle-insurance-fraud", path.parent, **NO_MD5)
    df = load_table(ws, "fraud")
    assert df["transaction_id"].tolist() == [1, 2, 3, 4]
    assert (df["account_id"] == 0).all() and (df["merchant_id"] == 0).all()
    assert [str(t.date()) for t in df["event_timestamp"]] == [d for _, d in VEHICLE_ROWS]
    assert df["is_fraud"].tolist() == [0, 1, 0, 1]
    assert "PolicyNumber" not in df and "FraudFound_P" not in df
    info = m.tables["transactions"]
    assert {"Age", "Deductible", "WeekOfMonth", "Year"} <= set(info.numeric_features)
    assert {"Make", "Month", "VehiclePrice", "BasePolicy"} <= set(info.categorical_features)
    assert len(info.numeric_features) + len(info.categorical_features) == 33 - 2
    assert (df["event_timestamp"].dt.year == df["Year"]).all()


def test_creditcard(ws, tmp_path):
    path = write_creditcard(tmp_path / "cc")
    m = import_dataset(ws, "creditcard-fraud", path)
    df = load_table(ws, "fraud")
    assert m.dataset == "creditcard-fraud" and len(df) == 4
    assert df["event_timestamp"].iloc[2] == pd.Timestamp("2013-09-01 02:00", tz="UTC")
    assert df["amount"].tolist() == [0.5, 1.5, 2.5, 3.5] and df["is_fraud"].tolist() == [0, 1, 0, 1]
    assert m.tables["transactions"].numeric_features == ["amount", *[f"V{i}" for i in range(1, 29)]]
    assert "Time" not in df and "Class" not in df


def test_m4_hourly(ws, tmp_path):
    train, _ = write_m4(tmp_path / "m4")
    m = import_dataset(ws, "m4", train.parent, **NO_MD5)
    assert (m.frequency, m.season_length, m.horizon) == ("h", 24, 48)
    df = load_table(ws, "forecasting")
    assert df.groupby("split").size().to_dict() == {"train": 5 + 3 + 4, "test": 3 * 48}
    h2 = df[df["series_id"] == "H2"]
    assert h2["y"].tolist()[:4] == [200.0, 201.0, 202.0, -1.0]
    assert h2["split"].tolist()[:4] == ["train"] * 3 + ["test"]
    start = pd.Timestamp("2000-01-01", tz="UTC")
    assert h2["event_timestamp"].tolist() == [start + pd.Timedelta(hours=i) for i in range(3 + 48)]


def test_m4_monthly_with_test_path_and_frequency(ws, tmp_path):
    train, test = write_m4(tmp_path / "m4", prefix="Monthly", lengths=(2, 3), horizon=18,
                           names=("mine.csv", "held-out.csv"))
    m = import_dataset(ws, "m4", train, test_path=test, frequency="monthly", **NO_MD5)
    assert (m.frequency, m.season_length, m.horizon) == ("MS", 12, 18)
    m2 = load_table(ws, "forecasting").query("series_id == 'M2'")
    ts = m2["event_timestamp"].tolist()
    assert ts[:4] == [pd.Timestamp(d, tz="UTC") for d in ("2000-01-01", "2000-02-01", "2000-03-01", "2000-04-01")]
    assert ts[-1] == pd.Timestamp("2001-09-01", tz="UTC") and len(ts) == 21


def test_m4_frequency_from_file_name(ws, tmp_path):
    train, _ = write_m4(tmp_path / "m4", prefix="Quarterly", lengths=(2,), horizon=8)
    m = import_dataset(ws, "m4", train, **NO_MD5)  # test file found beside it
    assert (m.frequency, m.horizon) == ("QS", 8)
    ts = load_table(ws, "forecasting")["event_timestamp"]
    assert ts.iloc[1] == pd.Timestamp("2000-04-01", tz="UTC")


# ---------------------------------------------------------------- bad input


def expect_error(ws, use_case, match, *args, **kwargs):
    with pytest.raises(PomonaError, match=match) as info:
        import_dataset(ws, *args, **kwargs)
    assert "\n" not in str(info.value)
    assert_clean(ws, use_case)
    return str(info.value)


def test_unknown_dataset_lists_names(ws, tmp_path):
    msg = expect_error(ws, "fraud", "unknown dataset 'movielens'", "movielens", tmp_path)
    assert all(name in msg for name in IMPORTERS)


@pytest.mark.parametrize("name,use_case", [("movielens-100k", "recommendations"), ("svmlight-ranking", "ranking"),
                                           ("vehicle-insurance-fraud", "fraud"), ("m4", "forecasting")])
def test_missing_path(ws, tmp_path, name, use_case):
    expect_error(ws, use_case, "does not exist", name, tmp_path / "nope", frequency="hourly" if name == "m4" else None)


def test_folder_without_the_file(ws, tmp_path):
    expect_error(ws, "fraud", "no fraud_oracle.csv in folder", "vehicle-insurance-fraud", tmp_path)


def test_missing_columns_are_named(ws, tmp_path):
    path = write_vehicle(tmp_path / "v", header=VEHICLE_COLUMNS.replace("Month,", "Mnth,", 1))
    expect_error(ws, "fraud", r"missing column\(s\) Month ", "vehicle-insurance-fraud", path, **NO_MD5)
    cc = write_creditcard(tmp_path / "cc")
    pd.read_csv(cc).rename(columns={"V7": "v7", "Class": "label"}).to_csv(cc, index=False)
    expect_error(ws, "fraud", r"missing column\(s\) V7, Class", "creditcard-fraud", cc)


def test_wrong_field_count(ws, tmp_path):
    folder = write_movielens(tmp_path / "ml")
    (folder / "u.data").write_text("1\t10\t5\n")
    expect_error(ws, "recommendations", "expected 4 tab-separated fields", "movielens-100k", folder, **NO_MD5)


@pytest.mark.parametrize("case", ["u.data rating", "creditcard V3", "m4 value", "vehicle Age", "svmlight value"])
def test_non_numeric_values_are_named(ws, tmp_path, case):
    if case == "u.data rating":
        folder = write_movielens(tmp_path / "ml")
        (folder / "u.data").write_text("1\t10\t5\t880000000\n1\t20\tfive\t880000100\n")
        expect_error(ws, "recommendations", r"'rating' must be numbers \(first bad value 'five'\)",
                     "movielens-100k", folder, **NO_MD5)
    elif case == "creditcard V3":
        path = write_creditcard(tmp_path / "cc", bad=("V3", "n/a?"))
        expect_error(ws, "fraud", r"'V3' must be numbers \(first bad value 'n/a\?'\)", "creditcard-fraud", path)
    elif case == "m4 value":
        train, _ = write_m4(tmp_path / "m4")
        train.write_text(train.read_text().replace('"201"', '"2O1"'))
        expect_error(ws, "forecasting", r"'V3' must be numbers \(first bad value '2O1' in series H2\)",
                     "m4", train.parent, **NO_MD5)
    elif case == "vehicle Age":
        path = write_vehicle(tmp_path / "v")
        path.write_text(path.read_text().replace(",Single,21,", ",Single,twenty,", 1))
        expect_error(ws, "fraud", r"'Age' must be numbers \(first bad value 'twenty'\)",
                     "vehicle-insurance-fraud", path, **NO_MD5)
    else:
        folder = write_svmlight(tmp_path / "r")
        (folder / "rank.test").write_text("4 5:abc\n0 1:1.0\n")
        expect_error(ws, "ranking", r"rank.test line 1: value of feature 5 'abc' is not a number",
                     "svmlight-ranking", folder, **NO_MD5)


@pytest.mark.parametrize("case", ["u.data", "vehicle month", "vehicle weekday", "vehicle week"])
def test_unparsable_timestamps(ws, tmp_path, case):
    if case == "u.data":
        folder = write_movielens(tmp_path / "ml")
        (folder / "u.data").write_text("1\t10\t5\tyesterday\n")
        expect_error(ws, "recommendations", r"'timestamp' must be numbers \(first bad value 'yesterday'\)",
                     "movielens-100k", folder, **NO_MD5)
        return
    rows = [r for r, _ in VEHICLE_ROWS]
    bad = {"vehicle month": (("Foo", 1, "Monday", 1994, 0), "'Month' must be a month Jan..Dec \\(first bad value 'Foo'\\)"),
           "vehicle weekday": (("Jan", 1, "Funday", 1994, 0), "'DayOfWeek' must be a weekday"),
           "vehicle week": (("Jan", 7, "Monday", 1994, 0), "'WeekOfMonth' must be 1..5 \\(first bad value 7\\)")}[case]
    path = write_vehicle(tmp_path / "v", rows=rows + [bad[0]])
    expect_error(ws, "fraud", bad[1], "vehicle-insurance-fraud", path, **NO_MD5)


@pytest.mark.parametrize("name,use_case,make", [
    ("movielens-100k", "recommendations", lambda d: d / "u.data"),
    ("vehicle-insurance-fraud", "fraud", lambda d: d / "fraud_oracle.csv"),
    ("creditcard-fraud", "fraud", lambda d: d / "creditcard.csv"),
])
def test_empty_file(ws, tmp_path, name, use_case, make):
    path = make(tmp_path)
    path.write_text("")
    expect_error(ws, use_case, "is empty", name, path, **NO_MD5)


def test_empty_svmlight_and_header_only_csv(ws, tmp_path):
    folder = write_svmlight(tmp_path / "r")
    (folder / "rank.test").write_text("\n")
    (folder / "rank.test.query").unlink()
    expect_error(ws, "ranking", "is empty", "svmlight-ranking", folder, **NO_MD5)
    path = write_vehicle(tmp_path / "v", rows=[])
    expect_error(ws, "fraud", "has no rows", "vehicle-insurance-fraud", path, **NO_MD5)


def test_svmlight_needs_group_ids(ws, tmp_path):
    folder = write_svmlight(tmp_path / "r", query_files=False)
    expect_error(ws, "ranking", "no group ids: neither rank.train.query", "svmlight-ranking", folder, **NO_MD5)
    write_svmlight(folder)
    (folder / "rank.train.query").write_text("2\n2\n")
    expect_error(ws, "ranking", "add up to 4 but rank.train has 3", "svmlight-ranking", folder, **NO_MD5)
    expect_error(ws, "ranking", "pass the test file with --test-path", "svmlight-ranking", folder / "rank.train")


def test_m4_bad_shapes(ws, tmp_path):
    train, _ = write_m4(tmp_path / "a", test_lengths=(48, 47, 48))
    expect_error(ws, "forecasting", "series H2 has 47 test values; the Hourly horizon is 48", "m4", train, **NO_MD5)
    train, test = write_m4(tmp_path / "b")
    test.write_text("\n".join(test.read_text().splitlines()[:-1]) + "\n")
    expect_error(ws, "forecasting", "series H3 of the train file is missing", "m4", train, **NO_MD5)
    train, _ = write_m4(tmp_path / "c", names=("x.csv", "y.csv"))
    expect_error(ws, "forecasting", "pass --frequency", "m4", train, test_path=tmp_path / "c" / "y.csv")
    train.write_text(train.read_text().replace('"101"', ""))
    expect_error(ws, "forecasting", "empty value before its last value", "m4", train,
                 test_path=tmp_path / "c" / "y.csv", frequency="hourly")


@pytest.mark.parametrize("name,use_case,make", [
    ("movielens-100k", "recommendations", lambda d: write_movielens(d)),
    ("svmlight-ranking", "ranking", lambda d: write_svmlight(d)),
    ("vehicle-insurance-fraud", "fraud", lambda d: write_vehicle(d)),
    ("m4", "forecasting", lambda d: write_m4(d)[0].parent),
])
def test_wrong_checksum(ws, tmp_path, name, use_case, make):
    path = make(tmp_path / "d")
    msg = expect_error(ws, use_case, "expected [0-9a-f]{32}.*--no-checksum", name, path)
    assert "has md5 " in msg
    import_dataset(ws, name, path, verify_checksum=False)  # the same copy is fine without the check


def test_existing_data_needs_force_and_force_leaves_others_alone(ws, tmp_path):
    import_dataset(ws, "movielens-100k", write_movielens(tmp_path / "ml"), **NO_MD5)
    import_dataset(ws, "vehicle-insurance-fraud", write_vehicle(tmp_path / "v"), **NO_MD5)
    before = read_manifest(ws, "recommendations")
    with pytest.raises(PomonaError, match="fraud already holds data .*pass --force"):
        import_dataset(ws, "creditcard-fraud", write_creditcard(tmp_path / "cc"))
    assert read_manifest(ws, "fraud").dataset == "vehicle-insurance-fraud"

    m = import_dataset(ws, "creditcard-fraud", tmp_path / "cc", force=True)
    assert m.dataset == "creditcard-fraud" and read_manifest(ws, "fraud").dataset == "creditcard-fraud"
    assert read_manifest(ws, "recommendations") == before
    assert len(load_table(ws, "recommendations")) == 5
    assert not (ws.dataset_dir("ranking")).exists() and not ws.dataset_dir("forecasting").exists()


def test_failure_inside_the_writer_keeps_old_data(ws, tmp_path):
    import_dataset(ws, "vehicle-insurance-fraud", write_vehicle(tmp_path / "v"), **NO_MD5)
    bad = write_vehicle(tmp_path / "bad", rows=[("Jan", 1, "Monday", 1994, 2)])  # label 2: caught by the schema
    with pytest.raises(PomonaError, match="is_fraud"):
        import_dataset(ws, "vehicle-insurance-fraud", bad, force=True, **NO_MD5)
    assert len(load_table(ws, "fraud")) == 4
    assert not [p for p in ws.data.iterdir() if p.name.startswith(".")]


def test_options_that_do_not_apply(ws, tmp_path):
    expect_error(ws, "recommendations", "does not take --frequency", "movielens-100k", write_movielens(tmp_path),
                 frequency="hourly")
    expect_error(ws, "forecasting", "unknown M4 frequency 'minutely'", "m4", write_m4(tmp_path / "m")[0],
                 frequency="minutely")
    expect_error(ws, "forecasting", "--frequency daily does not match the file 'Hourly-train.csv'", "m4",
                 tmp_path / "m" / "Hourly-train.csv", frequency="daily")
    expect_error(ws, "ranking", "--test-path .* is not a file", "svmlight-ranking",
                 write_svmlight(tmp_path / "r") / "rank.train", test_path=tmp_path)


# ---------------------------------------------------------------- CLI


def _pomona(*args: str, home: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "pomona"
    env = {**os.environ, "POMONA_HOME": str(home)}
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_import_and_error(tmp_path):
    home = tmp_path / "home"
    train, _ = write_m4(tmp_path / "m4")
    ok = _pomona("data", "import", "m4", "--path", str(train.parent), "--no-checksum", home=home)
    assert ok.returncode == 0, ok.stderr
    assert "imported m4 as forecasting: demand=156" in ok.stdout

    bad = _pomona("data", "import", "m4", "--path", str(train.parent), "--no-checksum", home=home)
    assert bad.returncode != 0
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--force" in lines[0]
    assert "Traceback" not in bad.stderr

    bad = _pomona("data", "import", "vehicle-insurance-fraud", "--path", str(tmp_path / "missing.csv"), home=home)
    assert bad.returncode != 0 and bad.stderr.strip().count("\n") == 0 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("error: ") and "does not exist" in bad.stderr


# ---------------------------------------------------------------- real data (checksums verified)


@pytest.mark.realdata
def test_real_movielens(ws):
    m = import_dataset(ws, "movielens-100k", shared("recommendations/movielens-100k"))
    assert {t: i.rows for t, i in m.tables.items()} == {"interactions": 100_000, "users": 943, "products": 1682}
    assert m.source["u_data_md5"] == "5f514ee583447b26891e0b3515665060"
    ts = load_table(ws, "recommendations")["event_timestamp"]
    assert ts.min() >= pd.Timestamp("1997-09-01", tz="UTC") and ts.max() < pd.Timestamp("1998-05-01", tz="UTC")


@pytest.mark.realdata
def test_real_lambdarank(ws):
    import_dataset(ws, "svmlight-ranking", shared("ranking/lightgbm-lambdarank"))
    df = load_table(ws, "ranking")
    train, test = df[df["split"] == "train"], df[df["split"] == "test"]
    assert (len(train), train["query_id"].nunique()) == (3005, 201)
    assert (len(test), test["query_id"].nunique()) == (768, 50)
    assert not set(train["query_id"]) & set(test["query_id"]) and df["product_id"].is_unique
    assert df["relevance"].between(0, 4).all()
    assert all(c.startswith("f_") for c in df.columns[5:]) and int(df.columns[-1][2:]) <= 300


@pytest.mark.realdata
def test_real_vehicle_insurance(ws):
    import_dataset(ws, "vehicle-insurance-fraud", shared("fraud/vehicle-insurance"))
    df = load_table(ws, "fraud")
    assert len(df) == 15_420 and df["is_fraud"].sum() == 923
    year = df["event_timestamp"].dt.year
    assert (year <= 1995).sum() == 11_337 and (year == 1996).sum() == 4_083
    assert (year == df["Year"]).all()


@pytest.mark.realdata
def test_real_m4_hourly(ws):
    m = import_dataset(ws, "m4", shared("forecasting/m4-hourly"))
    assert (m.frequency, m.season_length, m.horizon) == ("h", 24, 48)
    df = load_table(ws, "forecasting")
    assert df["series_id"].nunique() == 414
    assert (df["split"] == "test").sum() == 414 * 48
    sizes = df[df["split"] == "train"].groupby("series_id").size()
    assert sizes.between(700, 960).all()
