"""SageMaker deployment: local mode (the SDK's ModelBuilder in-process) answers as the BentoML
service's handler and the MLflow pyfunc do; the real-AWS path against moto's AWS emulation
(every request also checked against botocore's SageMaker service model); the packaged model
data answering through the container entry points; bad configurations failing before any AWS
call."""

from __future__ import annotations

import importlib
import json
import tarfile
from pathlib import Path

import mlflow.pyfunc
import pandas as pd
import pytest
from botocore.validate import ParamValidator
from conftest import (
    AWS_REGION,
    SAGEMAKER_BUCKET,
    SAGEMAKER_ROLE,
    invoke_model_data,
    offline_aws,
    sagemaker_config,
    sagemaker_model_data,
    small_world,
    train_champions,
)
from test_training import FAST

import features
from features.store import reset_cache
from pomona.app.cli import main
from pomona.errors import PomonaError
from pomona.workspace import Workspace
from serving import runtime
from serving.sagemaker import deploy
from serving.sagemaker.checks import service_model
from serving.sagemaker.config import load_config
from serving.sagemaker.inference import answer, fixed_champion

pytestmark = pytest.mark.slow  # ~2 minutes: a world, four trainings, four local endpoints, moto

ROLE, REGION, BUCKET = SAGEMAKER_ROLE, AWS_REGION, SAGEMAKER_BUCKET


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("sagemaker")
    home = tmp / "home"
    mp.setenv("POMONA_HOME", str(home))
    offline_aws(mp)
    ws = small_world(home)
    features.materialize(ws)
    train_champions(ws, tmp, FAST)
    yield ws
    reset_cache()
    mp.undo()


# --- local mode: one scoring path ------------------------------------------------------------

def requests_for(use_case: str, account: int) -> list[dict]:
    return {
        "recommendations": [{"user_id": 5, "k": 5}, {"user_id": 987654321, "k": 3}],
        "ranking": [{"query": "red running shoes", "product_ids": [5, 1, 9, 3]},
                    {"query": "lamp", "product_ids": [2, 987654321]}],
        "fraud": [{"transaction_id": 1, "account_id": account, "merchant_id": 43, "amount": 420.0,
                   "timestamp": "2026-01-07T10:00:00Z", "device_id": 7, "country": "US", "channel": "web"}],
        "forecasting": [{"store_id": 8, "product_id": 200, "horizon": 7}, {"series_id": "no-such", "horizon": 2}],
    }[use_case]


def pyfunc_answer(use_case: str, ws: Workspace, loaded: runtime.Loaded, request: dict) -> dict:
    """What the MLflow pyfunc of the same version says for the same request's features."""
    model = mlflow.pyfunc.load_model(f"models:/pomona-{use_case}/{loaded.version}")
    if use_case == "recommendations":
        out = model.predict(pd.DataFrame({"user_id": [request["user_id"]]}), params={"k": request["k"]})
        return dict(zip(out["product_id"].astype(int), out["score"]))
    if use_case == "ranking":
        rows = [{"product_id": p, "query": request["query"]} for p in request["product_ids"]]
        frame = features.online_features("ranking", rows, ws).assign(  # + the pyfunc signature's ids
            query=request["query"], query_id=0, event_timestamp=pd.Timestamp("2026-01-07"))  # naive: MLflow's schema
        return dict(zip(request["product_ids"], model.predict(frame)["score"]))
    if use_case == "fraud":
        row = {k: request.get(k) for k in features.request_schema("fraud", ws) if k != "txn_unix"}
        ts = pd.Timestamp(request["timestamp"])
        frame = features.online_features("fraud", [{**row, "txn_unix": ts.timestamp()}], ws)
        frame = frame.assign(transaction_id=1, txn_unix=ts.timestamp(),
                             event_timestamp=ts.tz_localize(None) - pd.Timedelta(microseconds=1), **{k: [v] for k, v in row.items()
                                                                                    if k not in frame.columns})
        return {"fraud_probability": float(model.predict(frame)["fraud_probability"].iloc[0])}
    from serving.forecasting import _future

    series = request.get("series_id") or loaded.state["series_of"][(request["store_id"], request["product_id"])]
    future = _future(loaded, loaded.bundle.estimator, [series], request["horizon"])
    future["event_timestamp"] = future["event_timestamp"].dt.tz_localize(None)  # naive: MLflow's schema
    out = model.predict(future, params={"horizon": request["horizon"]})
    return {str(t.date()): y for t, y in zip(out["event_timestamp"], out["yhat"])}


def test_local_mode_answers_as_the_bentoml_handler_and_the_pyfunc(world, tmp_path, aws_calls):
    cfg = load_config(None)  # local mode: no role, region or bucket needed
    for use_case in ("recommendations", "ranking", "fraud", "forecasting"):
        loaded = runtime.load_version(use_case, world)
        champion = fixed_champion(loaded, world)
        handler = importlib.import_module(f"serving.{use_case}")
        model = handler.request_model(world)
        with deploy.deploy_local(use_case, cfg, world) as endpoint:
            for i, request in enumerate(requests_for(use_case, account=910_000_001)):
                got = endpoint.invoke(request)
                assert "error" not in got, got
                if use_case == "fraud":  # a twin cold account through the handler (scoring pushes state)
                    twin = {**request, "account_id": 910_000_002}
                    want = handler.handle(model.model_validate(twin), champion, world).model_dump(mode="json")
                    assert got == want and got["cold_start"] is True
                    other = pyfunc_answer(use_case, world, loaded, {**request, "account_id": 910_000_003})
                    assert got["fraud_probability"] == pytest.approx(other["fraud_probability"], abs=1e-12)
                    continue
                want = handler.handle(model.model_validate(request), champion, world).model_dump(mode="json")
                assert got == want, (use_case, i)
                cold_series = use_case == "forecasting" and got["cold_start"]
                expected = None if cold_series else pyfunc_answer(use_case, world, loaded, request)
                if use_case == "recommendations":
                    assert {i["product_id"]: i["score"] for i in got["items"]} == pytest.approx(expected)
                elif use_case == "ranking":
                    assert {r["product_id"]: r["score"] for r in got["results"]} == pytest.approx(expected)
                elif not cold_series:
                    assert {s["date"][:10]: s["yhat"] for s in got["forecast"]} == pytest.approx(expected)
            bad = endpoint.invoke({"bogus": 1})
            assert bad["status"] == 400 and "bogus" in bad["error"]
    assert aws_calls == []  # local mode makes no AWS call


# --- the real-AWS path, against moto -----------------------------------------------------------

def test_aws_deploy_update_batch_and_delete_against_moto(world, tmp_path, aws_calls):
    from moto import mock_aws

    cfg = sagemaker_config(tmp_path, store_config=str(Path(__file__).parents[1] / "configs" / "redis.yaml"),
                           environment={"REDIS_URL": "redis.internal:6379"})
    with mock_aws():
        import boto3

        s3 = boto3.client("s3", region_name=REGION)
        sm = boto3.client("sagemaker", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        aws_calls.clear()
        progress = []
        first = deploy.deploy_aws("fraud", cfg, world, progress=progress.append, poll_seconds=0.01)
        assert first["status"] == "InService" and first["endpoint"] == "pomona-fraud"
        assert any("InService" in line for line in progress) and "invoke_endpoint" in first["invoke"]

        model = sm.describe_model(ModelName=first["model_name"])
        env = model["PrimaryContainer"]["Environment"]
        assert model["ExecutionRoleArn"] == ROLE and env["REDIS_URL"] == "redis.internal:6379"
        assert env["SAGEMAKER_PROGRAM"] == "inference.py"
        tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=model["ModelArn"])["Tags"]}
        assert tags["pomona:model-version"] == first["model_version"] and tags["pomona:feature-service"] == "fraud_v1"
        assert tags["pomona:feature-fingerprint"] == features.fingerprint(features.feature_store(world), "fraud")
        endpoint = sm.describe_endpoint(EndpointName="pomona-fraud")
        config_ = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        assert config_["ProductionVariants"][0]["InstanceType"] == "ml.m5.large"
        key = first["model_data"].split(f"s3://{BUCKET}/", 1)[1]
        archive = tmp_path / "model.tar.gz"
        s3.download_file(BUCKET, key, str(archive))
        with tarfile.open(archive) as tar:
            names = set(tar.getnames())
        assert {"code/inference.py", "code/requirements.txt", "pomona_bento.json", "pomona_store.yaml",
                "code/serving/sagemaker/inference.py"} <= names
        assert any(n.startswith("pomona_model/fraud/") for n in names)
        assert any(n.startswith("workspace/data/fraud/") for n in names)  # the account log's history

        # A second deployment moves the endpoint with UpdateEndpoint, which moto does not implement:
        # the failure rolls back what that run created and the endpoint keeps serving the first.
        before = s3.list_objects_v2(Bucket=BUCKET)["KeyCount"]
        with pytest.raises(PomonaError, match="rolled back: The update_endpoint action has not been implemented"):
            deploy.deploy_aws("fraud", cfg, world, progress=progress.append, poll_seconds=0.01)
        assert sm.describe_endpoint(EndpointName="pomona-fraud")["EndpointConfigName"] == first["model_name"]
        assert [m["ModelName"] for m in sm.list_models()["Models"]] == [first["model_name"]]
        assert len(sm.list_endpoint_configs()["EndpointConfigs"]) == 1
        assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == before
        assert ("UpdateEndpoint", {"EndpointName": "pomona-fraud"}) in [
            (op, {"EndpointName": p["EndpointName"]}) for _, op, p in aws_calls if op == "UpdateEndpoint"]

        job = deploy.batch("fraud", cfg, world, f"s3://{BUCKET}/requests/", f"s3://{BUCKET}/answers/",
                           progress=progress.append)
        described = sm.describe_transform_job(TransformJobName=job["job"])
        assert described["TransformInput"]["SplitType"] == "Line" and described["ModelName"] == job["model_name"]

        # Every SageMaker request validates against botocore's own service model.
        made = [(op, params) for service, op, params in aws_calls if service == "sagemaker"]
        assert {"CreateModel", "CreateEndpointConfig", "CreateEndpoint", "UpdateEndpoint",
                "CreateTransformJob"} <= {op for op, _ in made}
        for op, params in made:
            report = ParamValidator().validate(params, service_model().operation_model(op).input_shape)
            assert not report.has_errors(), (op, report.generate_report())

        deleted = deploy.delete("fraud", cfg, progress=progress.append)
        assert deleted["endpoint"] == ["pomona-fraud"] and len(deleted["models"]) == 2  # endpoint's + batch's
        assert sm.list_endpoints()["Endpoints"] == [] and sm.list_endpoint_configs()["EndpointConfigs"] == []
        assert sm.list_models()["Models"] == []
        assert s3.list_objects_v2(Bucket=BUCKET, Prefix="pomona/fraud/").get("KeyCount", 0) == 0


def test_packaged_model_data_answers_through_the_container_entry_points(world, tmp_path, monkeypatch):
    """The model data's ``model_fn``/``input_fn``/``predict_fn``/``output_fn`` (what the
    container calls) answer as the handler does."""
    p, extracted, model = sagemaker_model_data("recommendations", world, tmp_path, monkeypatch)
    assert "serving.sagemaker.inference" in (extracted / "code" / "inference.py").read_text()
    assert model[1].current.version == p.version
    out = invoke_model_data(model, {"user_id": 5, "k": 4})
    champion = fixed_champion(runtime.load_version("recommendations", world), world)
    assert out == answer("recommendations", champion, {"user_id": 5, "k": 4}, world)
    assert len(out["items"]) == 4


# --- safety before cost --------------------------------------------------------------------------

BAD = [
    (["--region", REGION, "--bucket", BUCKET], "--role-arn is required"),
    (["--role-arn", "arn:aws:iam::123:role/x", "--region", REGION, "--bucket", BUCKET], "not an IAM role ARN"),
    (["--role-arn", "arn:aws:iam::123456789012:user/pomona", "--region", REGION, "--bucket", BUCKET],
     "not an IAM role ARN"),
    (["--role-arn", ROLE, "--region", REGION, "--bucket", BUCKET, "--instance-type", "ml.m5.gigantic"],
     "ml.m5.gigantic"),
    (["--role-arn", ROLE, "--region", "mars-north-1", "--bucket", BUCKET], "mars-north-1"),
    (["--role-arn", ROLE, "--region", REGION, "--bucket", "Not_A_Bucket"], "Not_A_Bucket"),
    (["--role-arn", ROLE, "--region", REGION, "--bucket", BUCKET, "--mode", "cloud"], "--mode"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[m for _, m in BAD])
def test_bad_configuration_fails_before_any_aws_call(world, args, message, aws_calls, capsys):
    assert main(["deploy", "sagemaker", "fraud", *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert aws_calls == []


def test_no_champion_and_broken_contract_fail_before_any_aws_call(world, tmp_path, aws_calls, capsys,
                                                                   monkeypatch):
    args = ["--role-arn", ROLE, "--region", REGION, "--bucket", BUCKET]
    empty = tmp_path / "empty"
    small_world(empty, ["fraud"])
    assert main(["--home", str(empty), "deploy", "sagemaker", "fraud", *args]) == 1
    assert "no champion" in capsys.readouterr().err
    monkeypatch.setenv("POMONA_HOME", str(world.root))
    reset_cache()
    monkeypatch.setattr(features, "fingerprint", lambda store, use_case: "0000deadbeef0000")
    assert main(["--home", str(world.root), "deploy", "sagemaker", "fraud", *args]) == 1
    assert "0000deadbeef0000" in capsys.readouterr().err
    assert main(["--home", str(world.root), "deploy", "sagemaker-batch", "fraud", "--input", "/local/path",
                 "--output", f"s3://{BUCKET}/out/", *args]) == 1
    assert "--input must be an s3:// URI" in capsys.readouterr().err
    assert aws_calls == []


def test_dry_run_prints_the_plan_and_calls_nothing(world, aws_calls, capsys):
    args = ["--role-arn", ROLE, "--region", "eu-west-1", "--bucket", BUCKET, "--instance-type", "ml.c5.xlarge"]
    assert main(["--home", str(world.root), "deploy", "sagemaker", "fraud", "--dry-run", *args]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["endpoint"] == "pomona-fraud" and plan["instance_type"] == "ml.c5.xlarge"
    assert plan["instance_count"] == 1 and plan["model_data"].startswith(f"s3://{BUCKET}/pomona/fraud/v")
    assert "eu-west-1" in plan["image"] and plan["environment"]["SAGEMAKER_REGION"] == "eu-west-1"
    assert plan["tags"]["pomona:feature-service"] == "fraud_v1" and plan["tags"]["pomona:model-version"]
    assert set(plan["requests"]) == {"CreateModel", "CreateEndpointConfig", "CreateEndpoint"}
    assert main(["--home", str(world.root), "deploy", "sagemaker-batch", "fraud", "--dry-run", "--input",
                 f"s3://{BUCKET}/in/", "--output", f"s3://{BUCKET}/out/", *args[:-2]]) == 0
    batch = json.loads(capsys.readouterr().out)
    assert batch["transform_job"]["TransformOutput"]["S3OutputPath"] == f"s3://{BUCKET}/out/"
    assert aws_calls == []


def test_cli_local_mode_answers_requests(world, tmp_path, aws_calls, capsys):
    body = tmp_path / "request.json"
    body.write_text(json.dumps({"user_id": 987654321, "k": 2}))
    assert main(["--home", str(world.root), "deploy", "sagemaker", "recommendations", "--mode", "local",
                 "--request", '{"user_id": 5, "k": 3}', "--request", f"@{body}"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [len(x["response"]["items"]) for x in lines] == [3, 2]
    assert [x["response"]["cold_start"] for x in lines] == [False, True]
    assert main(["--home", str(world.root), "deploy", "sagemaker", "recommendations", "--mode", "local",
                 "--request", "[1, 2]"]) == 1
    assert "--request must be a JSON object" in capsys.readouterr().err
    assert aws_calls == []
