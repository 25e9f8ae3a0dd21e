"""Serving a workspace of imported public-format data: the request models are derived from
each FeatureService, so requests carry the dataset's own keys (a MovieLens user id, a
learning-to-rank query id, a claim's own feature values, an M4 series id).

The files are written in each public format by code (sizes a model can learn from), imported
through the real importers, applied, materialized, trained and served over HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import free_port, train_champions, wait_ready
from test_importers import VEHICLE_COLUMNS, VEHICLE_ROW, write_m4
from test_serving import post, start_server, stop_server
from test_training import FAST

import features
from features.store import reset_cache
from pomona.data.importers import import_dataset
from pomona.workspace import Workspace

pytestmark = pytest.mark.slow  # ~1.5 minutes: four imports, four trainings, a server


def write_movielens(folder: Path, users=60, items=50, per_user=15, seed=0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    popularity = np.linspace(2.0, 0.2, items) / np.linspace(2.0, 0.2, items).sum()
    lines = []
    for u in range(1, users + 1):
        for n, i in enumerate(rng.choice(items, per_user, replace=False, p=popularity)):
            lines.append(f"{u}\t{i + 1}\t{rng.integers(1, 6)}\t{880_000_000 + 3600 * (u * per_user + n)}")
    (folder / "u.data").write_text("\n".join(lines) + "\n")
    return folder


def write_svmlight(folder: Path, queries=(40, 12), docs=8, seed=0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, n in zip(("rank.train", "rank.test"), queries):
        lines = []
        for _ in range(n * docs):
            x = rng.random(5)
            label = int(min(4, x[0] * 4 + rng.random()))
            lines.append(f"{label} " + " ".join(f"{j + 1}:{v:.4f}" for j, v in enumerate(x)))
        (folder / name).write_text("\n".join(lines) + "\n")
        (folder / f"{name}.query").write_text("\n".join([str(docs)] * n) + "\n")
        paths.append(folder / name)
    return paths[0], paths[1]


def write_vehicle(folder: Path, n=600, seed=0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    template = VEHICLE_ROW.replace(",21,", ",{age},")
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    rows = []
    for i in range(n):
        age = int(rng.integers(18, 80))
        fraud = int(rng.random() < (0.35 if age < 25 else 0.04))
        rows.append(template.format(month=months[i % 12], week=1 + i % 4, day=days[i % 7], year=1994 + i % 3,
                                    fraud=fraud, n=i + 1, age=age))
    path = folder / "fraud_oracle.csv"
    path.write_text("\n".join([VEHICLE_COLUMNS, *rows]) + "\n")
    return path


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """(client, workspace) of a server answering all four use cases on imported data."""
    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("imported")
    home = tmp / "home"
    mp.setenv("POMONA_HOME", str(home))
    ws = Workspace(home)
    import_dataset(ws, "movielens-100k", write_movielens(tmp / "ml"), verify_checksum=False)
    train_path, test_path = write_svmlight(tmp / "ltr")
    import_dataset(ws, "svmlight-ranking", train_path, test_path=test_path, verify_checksum=False)
    import_dataset(ws, "vehicle-insurance-fraud", write_vehicle(tmp / "vehicle"), verify_checksum=False)
    m4_train, m4_test = write_m4(tmp / "m4", lengths=(240,) * 6)
    import_dataset(ws, "m4", m4_train, test_path=m4_test, verify_checksum=False)
    features.apply(ws)
    features.materialize(ws)
    train_champions(ws, tmp, FAST)
    port = free_port()
    proc = start_server(home, "all", port, tmp / "server.log")
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        wait_ready(client, proc, tmp / "server.log")
        yield client, ws
    finally:
        client.close()
        stop_server(proc)
        reset_cache()
        mp.undo()


def test_requests_carry_the_datasets_own_keys(imported):
    client, ws = imported
    r = post(client, "/recommend", {"user_id": 3, "k": 5}).json()
    assert len(r["items"]) == 5 and r["cold_start"] is False

    # A learning-to-rank query id and its own documents (imported ids: query 1's are 1-8).
    r = post(client, "/rank", {"query_id": 1, "product_ids": [8, 3, 1, 5]}).json()
    assert sorted(x["product_id"] for x in r["results"]) == [1, 3, 5, 8] and r["cold_start"] is False
    scores = [x["score"] for x in r["results"]]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) > 1
    assert post(client, "/rank", {"query_id": 1, "product_ids": [1, 999_999]}).json()["cold_start"] is True

    # A claim's own feature values, as sent; young drivers were the fraud pattern.
    claim = {"transaction_id": 1, "Make": "Honda", "Sex": "Female", "Fault": "Policy Holder", "Year": 1996}
    young = post(client, "/score_transaction", {**claim, "Age": 19}).json()
    old = post(client, "/score_transaction", {**claim, "Age": 60}).json()
    assert young["fraud_probability"] > old["fraud_probability"]
    assert young["decision"] in ("approve", "review", "decline") and young["cold_start"] is False

    # An M4 series id, 48 hourly steps (the model's maximum).
    r = post(client, "/forecast", {"series_id": "H2", "horizon": 48}).json()
    assert len(r["forecast"]) == 48 and r["cold_start"] is False
    assert post(client, "/forecast", {"series_id": "H99", "horizon": 3}).json()["cold_start"] is True


def test_openapi_documents_the_derived_fields(imported):
    client, _ = imported
    schemas = client.get("/docs.json").json()["components"]["schemas"]
    by_title = {s.get("title"): s for s in schemas.values()}
    assert {"query_id", "product_ids"} <= set(by_title["RankRequestIODescriptor"]["required"])
    assert "query" not in by_title["RankRequestIODescriptor"]["properties"]
    fraud = by_title["TransactionRequestIODescriptor"]["properties"]
    assert {"Age", "Make", "VehiclePrice", "transaction_id"} <= set(fraud) and "account_id" not in fraud
    assert by_title["ForecastRequestIODescriptor"]["required"] == ["horizon", "series_id"]
    assert "store_id" not in by_title["ForecastRequestIODescriptor"]["properties"]


BAD = [
    ("/rank", {"query": "shoes", "product_ids": [1, 2]}, "query_id"),       # the synthetic field: not this dataset's
    ("/rank", {"query_id": 2**70, "product_ids": [1]}, "query_id"),          # past Int64
    ("/score_transaction", {"transaction_id": 1, "Age": "old"}, "Age"),      # wrong type for the feature
    ("/score_transaction", {"transaction_id": 1, "Make": "x" * 5000}, "Make"),  # oversized text
    ("/score_transaction", {"transaction_id": 1, "account_id": 5}, "account_id"),  # not a field here
    ("/forecast", {"store_id": 1, "product_id": 2, "horizon": 3}, "series_id"),
    ("/forecast", {"series_id": "H1", "horizon": 49}, "horizon"),            # past the model's 48
]


@pytest.mark.parametrize("path,body,field", BAD, ids=[f"{p}-{f}-{i}" for i, (p, _, f) in enumerate(BAD)])
def test_bad_input_names_the_datasets_field(imported, path, body, field):
    client, _ = imported
    r = client.post(path, json=body)
    assert 400 <= r.status_code < 500, r.text
    assert field in r.json()["error"], r.text
