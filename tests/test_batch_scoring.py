"""Batch scoring (``serving.batch``): parquet and CSV in, parquet out in input order with the
model version; an older version on request; bad input as one line with no file left; the
feature contract; and batch-online parity for fraud."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from test_training import CRIPPLED, FAST

import features
from models.scoring import score
from pomona.data.writer import load_table
from pomona.errors import PomonaError
from serving.batch import cli, load_model, score_file
from training import registry, tracking
from training.common import model_input
from training.job import train
from training.tracking import _naive_times

FRAUD_PRED = ["fraud_probability", "decision", "threshold", "model_version"]


@pytest.fixture(scope="module")
def world(module_world, tmp_path_factory):
    """The small world with fraud v1 (weak), fraud v2 (champion), ranking and recommendations."""
    cfg = tmp_path_factory.mktemp("configs")

    def config(name: str, candidates: dict) -> str:
        path = cfg / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"candidates": candidates}))
        return str(path)

    quiet = {"seed": 0, "ws": module_world, "log": lambda m: None}
    first = train("fraud", config("fraud-weak", CRIPPLED["fraud"]), **quiet)
    second = train("fraud", config("fraud", FAST["fraud"]), **quiet)
    assert second.promoted and (first.registered_version, second.registered_version) == ("1", "2")
    train("ranking", config("ranking", FAST["ranking"]), **quiet)
    train("recommendations", config("recommendations", {"most_popular": {}}), **quiet)
    return module_world


@pytest.fixture(scope="module")
def transactions(world) -> pd.DataFrame:
    """400 transactions, shuffled, as a caller sends them (their own time, no txn_unix, no label)."""
    tx = load_table(world, "fraud", "transactions")
    tx = tx.sample(400, random_state=1).reset_index(drop=True)
    return tx[["transaction_id", "account_id", "merchant_id", "event_timestamp", "amount", "device_id",
               "country", "channel"]]


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False) if path.suffix == ".csv" else frame.to_parquet(path, index=False)
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or p.suffix == ".parquet")


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_fraud_file_is_scored_in_input_order_as_training_scores_it(world, transactions, tmp_path, suffix):
    src = write(transactions, tmp_path / f"tx{suffix}")
    out = tmp_path / "scored.parquet"
    res = score_file("fraud", src, out, ws=world, chunk_rows=150, progress=False)
    assert res["rows_in"] == res["rows_out"] == 400 and res["chunks"] == 3 and res["model_version"] == "2"
    got = pd.read_parquet(out)
    assert list(got.columns) == list(transactions.columns) + FRAUD_PRED
    assert got["transaction_id"].tolist() == transactions["transaction_id"].tolist()
    assert (got["model_version"] == 2).all() and got["model_version"].dtype == "int64"
    assert str(got["event_timestamp"].dt.tz) == "UTC"
    assert (got["event_timestamp"] == transactions["event_timestamp"]).all()
    assert leftovers(tmp_path) == sorted(["scored.parquet"] + ([src.name] if suffix == ".parquet" else []))
    # Training's frame for the same transactions (state before each, 1 us earlier) scores the same.
    entity = features.definitions("fraud", world).entity_frame()
    entity = entity.set_index("transaction_id").loc[transactions["transaction_id"]].reset_index()
    frame = features.training_frame("fraud", entity, world)
    frame = frame.set_index("transaction_id").loc[transactions["transaction_id"]].reset_index()
    expected = score(load_model("fraud", ws=world).bundle, model_input(frame, "is_fraud"))
    np.testing.assert_allclose(got["fraud_probability"], expected["fraud_probability"], rtol=1e-9)
    assert got["decision"].tolist() == expected["decision"].tolist()


def test_csv_and_parquet_inputs_give_the_same_scores(world, transactions, tmp_path):
    outs = []
    for suffix in (".parquet", ".csv"):
        src = write(transactions, tmp_path / f"tx{suffix}")
        outs.append(pd.read_parquet(score_file("fraud", src, tmp_path / f"out{suffix}.parquet", ws=world,
                                               progress=False)["output"]))
    pd.testing.assert_frame_equal(outs[0], outs[1])


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_ranking_rows_get_the_pyfunc_score(world, tmp_path, suffix):
    judgments = features.definitions("ranking", world).entity_frame()
    rows = judgments.drop(columns=["relevance", "split"]).sample(300, random_state=2).reset_index(drop=True)
    out = tmp_path / "ranked.parquet"
    res = score_file("ranking", write(rows, tmp_path / f"rows{suffix}"), out, ws=world, chunk_rows=100,
                     progress=False)
    got = pd.read_parquet(out)
    assert list(got.columns) == list(rows.columns) + ["score", "model_version"]
    assert got[["query_id", "product_id"]].equals(rows[["query_id", "product_id"]])
    assert res["model_version"] == "1" and (got["model_version"] == 1).all()
    # The champion's pyfunc on the same point-in-time frame gives the same scores.
    frame = features.training_frame("ranking", rows.assign(_row=np.arange(len(rows))), world)
    frame = frame.sort_values("_row").drop(columns="_row").reset_index(drop=True)
    pyfunc = mlflow.pyfunc.load_model("models:/pomona-ranking@champion")
    np.testing.assert_allclose(got["score"], pyfunc.predict(_naive_times(frame))["score"], rtol=1e-9)


def test_model_version_scores_with_an_older_version(world, transactions, tmp_path):
    src = write(transactions.head(50), tmp_path / "tx.parquet")
    champ = pd.read_parquet(score_file("fraud", src, tmp_path / "v2.parquet", ws=world, progress=False)["output"])
    old = pd.read_parquet(score_file("fraud", src, tmp_path / "v1.parquet", model_version=1, ws=world,
                                     progress=False)["output"])
    assert (champ["model_version"] == 2).all() and (old["model_version"] == 1).all()
    assert not np.allclose(champ["fraud_probability"], old["fraud_probability"])
    assert str(registry.champion_version(tracking.connect(world), "fraud").version) == "2"
    with pytest.raises(PomonaError, match="pomona-fraud has no version 7"):
        score_file("fraud", src, tmp_path / "v7.parquet", model_version=7, ws=world, progress=False)
    assert not (tmp_path / "v7.parquet").exists()


def test_recommendations_give_k_rows_per_user_row_in_order(world, tmp_path):
    users = pd.DataFrame({"user_id": [5, 1, 10**9, 5]})  # a repeat and a user never seen
    got = pd.read_parquet(score_file("recommendations", write(users, tmp_path / "u.csv"), tmp_path / "r.parquet",
                                     ws=world, progress=False)["output"])
    k = len(got) // 4
    assert k == 10 and list(got.columns) == ["user_id", "product_id", "score", "rank", "cold_start", "model_version"]
    assert got["user_id"].tolist() == [5] * k + [1] * k + [10**9] * k + [5] * k
    assert got["rank"].tolist() == list(range(1, k + 1)) * 4
    assert got["cold_start"].tolist() == [False] * 2 * k + [True] * k + [False] * k


def _bad_inputs(tx: pd.DataFrame, folder: Path) -> dict:
    missing = write(tx.drop(columns=["amount", "account_id"]), folder / "missing.parquet")
    bad_time = tx.astype({"event_timestamp": str})
    bad_time.loc[7, "event_timestamp"] = "yesterday-ish"
    late_bad_time = tx.astype({"event_timestamp": str})
    late_bad_time.loc[len(tx) - 3, "event_timestamp"] = "not a time"  # in the last chunk
    bad_key = tx.astype({"account_id": str})
    bad_key.loc[3, "account_id"] = "acct-9"
    (folder / "zero.csv").write_text("")
    (folder / "rows.json").write_text("[]")
    return {
        "no such file": (folder / "absent.parquet", "does not exist"),
        "unknown extension": (folder / "rows.json", "unknown extension '.json'"),
        "missing columns": (missing, "lacks column(s) account_id, amount"),
        "unparsable time": (write(bad_time, folder / "bad_time.csv"), "row 8 has 'yesterday-ish' in 'event_timestamp'"),
        "unparsable time after chunks were written": (write(late_bad_time, folder / "late.csv"), "not a time"),
        "missing time": (write(tx.assign(event_timestamp=pd.NaT), folder / "nat.parquet"), "missing value"),
        "numbers as times": (write(tx.assign(event_timestamp=1), folder / "num.csv"), "holds numbers"),
        "key that is not an integer": (write(bad_key, folder / "bad_key.csv"), "account_id='acct-9' is not an integer"),
        "empty parquet": (write(tx.head(0), folder / "empty.parquet"), "has no rows"),
        "header-only CSV": (write(tx.head(0), folder / "empty.csv"), "has no rows"),
        "zero-byte CSV": (folder / "zero.csv", "is empty"),
    }


BAD = ["no such file", "unknown extension", "missing columns", "unparsable time",
       "unparsable time after chunks were written", "missing time", "numbers as times",
       "key that is not an integer", "empty parquet", "header-only CSV", "zero-byte CSV"]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_line_and_leaves_no_file(world, transactions, tmp_path, case):
    inputs = tmp_path / "in"
    inputs.mkdir()
    src, message = _bad_inputs(transactions.head(120), inputs)[case]
    outdir = tmp_path / "out"
    outdir.mkdir()
    with pytest.raises(PomonaError) as err:
        score_file("fraud", src, outdir / "scored.parquet", ws=world, chunk_rows=50, progress=False)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert list(outdir.iterdir()) == []  # neither the output nor its temporary file


def test_mismatched_feature_contract_is_refused(world, transactions, tmp_path, monkeypatch):
    src = write(transactions.head(10), tmp_path / "tx.parquet")
    monkeypatch.setattr(features, "fingerprint", lambda store, use_case: "0123456789abcdef")
    with pytest.raises(PomonaError, match="fingerprint .* but the feature store has 0123456789abcdef"):
        score_file("fraud", src, tmp_path / "out.parquet", ws=world, progress=False)
    assert not (tmp_path / "out.parquet").exists()


def test_cli_prints_one_summary_line(world, transactions, tmp_path, capsys):
    src = write(transactions.head(20), tmp_path / "tx.csv")
    cli("fraud", src, tmp_path / "out.parquet", chunk_rows=8, ws=world)
    out = capsys.readouterr()
    assert out.out.count("\n") == 1 and out.out.startswith("scored 20 fraud rows with pomona-fraud version 2")
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == 20


def test_batch_and_online_scores_agree_for_the_same_entity_and_time(world, tmp_path):
    """After materializing to the data's end, a transaction at that time scores the same in
    batch (offline point-in-time join, state before the transaction) and online (online
    store plus the same on-demand transform), through the same champion bundle."""
    span = features.materialize(world, use_cases=["fraud"])
    at = pd.Timestamp(span["end"]).tz_convert("UTC") if pd.Timestamp(span["end"]).tzinfo \
        else pd.Timestamp(span["end"]).tz_localize("UTC")
    tx = load_table(world, "fraud", "transactions").sort_values("event_timestamp")
    last = tx.groupby("account_id").tail(1)
    recent = last[last["event_timestamp"] > at - pd.Timedelta(days=29)].head(15)  # state alive at `at`
    stale = last[last["event_timestamp"] < at - pd.Timedelta(days=31)].head(2)  # expired: defaults both ways
    rows = pd.concat([recent, stale]).reset_index(drop=True)
    rows = rows[["transaction_id", "account_id", "merchant_id", "amount", "device_id", "country", "channel"]]
    rows = rows.assign(amount=rows["amount"] * 3.0, event_timestamp=at)
    assert len(recent) >= 10
    batch = pd.read_parquet(score_file("fraud", write(rows, tmp_path / "tx.parquet"), tmp_path / "out.parquet",
                                       ws=world, progress=False)["output"])
    bundle = load_model("fraud", ws=world).bundle
    request = rows.drop(columns=["transaction_id", "event_timestamp"]).assign(
        txn_unix=(at - pd.Timestamp(0, tz="UTC")).total_seconds())
    online = score(bundle, features.online_features("fraud", request, world))
    np.testing.assert_allclose(batch["fraud_probability"], online["fraud_probability"], rtol=1e-9, atol=1e-12)
    assert batch["decision"].tolist() == online["decision"].tolist()
    assert batch["fraud_probability"].nunique() > 1
