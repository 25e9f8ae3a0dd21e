"""``pomona deploy``: the SageMaker commands (their bodies are in ``serving/sagemaker/cli.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pomona.app.args import UseCaseArg, _ws

deploy_app = typer.Typer(help="Deploy a champion to Amazon SageMaker (endpoint, local mode, Batch Transform).",
                         no_args_is_help=True)


def _sagemaker_options(role_arn, region, instance_type, bucket, endpoint_name) -> dict:
    return {"role_arn": role_arn, "region": region, "instance_type": instance_type, "bucket": bucket,
            "endpoint_name": endpoint_name}


ROLE_OPT = typer.Option(None, "--role-arn", help="IAM role SageMaker assumes (arn:aws:iam::<account>:role/<name>).")
REGION_OPT = typer.Option(None, "--region", help="AWS region (default: configs/sagemaker.yaml, $AWS_DEFAULT_REGION).")
BUCKET_OPT = typer.Option(None, "--bucket", help="S3 bucket for the model data.")
SM_CONFIG_OPT = typer.Option(None, "--sagemaker-config", help="Deployment YAML (default configs/sagemaker.yaml).")


@deploy_app.command("sagemaker")
def deploy_sagemaker_cmd(
        use_case: UseCaseArg, role_arn: Optional[str] = ROLE_OPT, region: Optional[str] = REGION_OPT,
        instance_type: Optional[str] = typer.Option(None, "--instance-type", help="e.g. ml.m5.large"),
        endpoint_name: Optional[str] = typer.Option(None, "--endpoint-name", help="Default pomona-<use-case>."),
        bucket: Optional[str] = BUCKET_OPT, config: Optional[Path] = SM_CONFIG_OPT,
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan as JSON; call nothing."),
        mode: str = typer.Option("aws", "--mode", help="aws (a real endpoint) | local (ModelBuilder in-process)."),
        request: Optional[list[str]] = typer.Option(None, "--request",
                                                    help="Local mode: a JSON request (or @file) to answer; repeatable.")):
    """Deploy the champion to a SageMaker real-time endpoint (or run it locally, or print the plan)."""
    from serving.sagemaker.cli import deploy_cmd

    deploy_cmd(use_case.value, _ws(), config=config, mode=mode, dry_run=dry_run, requests=request or [],
               echo=typer.echo, **_sagemaker_options(role_arn, region, instance_type, bucket, endpoint_name))


@deploy_app.command("sagemaker-delete")
def deploy_sagemaker_delete_cmd(
        use_case: UseCaseArg, region: Optional[str] = REGION_OPT,
        endpoint_name: Optional[str] = typer.Option(None, "--endpoint-name", help="Default pomona-<use-case>."),
        bucket: Optional[str] = BUCKET_OPT, config: Optional[Path] = SM_CONFIG_OPT):
    """Tear down the use case's endpoint and the models, configurations and model data this tool created."""
    from serving.sagemaker.cli import delete_cmd

    delete_cmd(use_case.value, config=config, echo=typer.echo, region=region, bucket=bucket,
               endpoint_name=endpoint_name)


@deploy_app.command("sagemaker-batch")
def deploy_sagemaker_batch_cmd(
        use_case: UseCaseArg,
        input_uri: str = typer.Option(..., "--input", help="s3:// prefix of JSON-lines requests."),
        output_uri: str = typer.Option(..., "--output", help="s3:// prefix for the answers."),
        role_arn: Optional[str] = ROLE_OPT, region: Optional[str] = REGION_OPT,
        instance_type: Optional[str] = typer.Option(None, "--instance-type", help="Batch instance type."),
        bucket: Optional[str] = BUCKET_OPT, config: Optional[Path] = SM_CONFIG_OPT,
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan as JSON; call nothing.")):
    """Run a SageMaker Batch Transform job with the champion over requests in S3."""
    from serving.sagemaker.cli import batch_cmd

    batch_cmd(use_case.value, _ws(), config=config, input_uri=input_uri, output_uri=output_uri, dry_run=dry_run,
              echo=typer.echo, role_arn=role_arn, region=region, batch_instance_type=instance_type, bucket=bucket)
