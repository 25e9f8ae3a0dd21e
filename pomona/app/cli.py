"""The ``pomona`` command line: the front door to every part of the platform.

Each command validates its input at the edge and turns an expected failure into one
line on stderr (``error: ...``) and a non-zero exit, never a traceback. An unexpected failure
(a bug, or a library's error nobody translated) is one line too, naming its type; the global
``--debug`` option (or ``POMONA_DEBUG=1``) prints its traceback instead.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer
from typer._click.exceptions import ClickException, NoArgsIsHelpError

from pomona.app.args import ALL, REGISTERED, REGISTRY_ERROR, Frequency, Scale, UseCaseArg, _echo_json, _ws
from pomona.app.deploy import deploy_app
from pomona.errors import PomonaError
from pomona.usecases import use_cases

app = typer.Typer(help=f"Pomona: {', '.join(REGISTERED)} on Feast + MLflow.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  rich_markup_mode=None)
data_app = typer.Typer(help="Generate the synthetic marketplace or import a public dataset.", no_args_is_help=True)
features_app = typer.Typer(help="The Feast feature store: apply, materialize, list, look up.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(features_app, name="features")
models_app = typer.Typer(help="The model registry: champions, history, promotion and rollback.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(deploy_app, name="deploy")
_DEBUG = {"on": False}  # set by --debug for the running command; main() resets it


@app.callback()
def _root(home: Optional[Path] = typer.Option(None, "--home", envvar="POMONA_HOME",
                                               help="Workspace folder holding all state (default ./.pomona)."),
          config: Optional[Path] = typer.Option(None, "--config", envvar="POMONA_CONFIG",
                                                help="Store configuration YAML (default configs/workspace.yaml)."),
          debug: bool = typer.Option(False, "--debug", help="Show the traceback of an unexpected error "
                                                           "(also POMONA_DEBUG=1).")):
    if debug:
        _DEBUG["on"] = True
    if home is not None:
        os.environ["POMONA_HOME"] = str(home)
    if config is not None:
        os.environ["POMONA_CONFIG"] = str(config)


@data_app.command("generate")
def data_generate(scale: Scale = typer.Option(Scale.small, help="small (seconds), medium or large (millions of rows)."),
                  seed: int = typer.Option(0, help="Random seed; the same seed gives the same world."),
                  force: bool = typer.Option(False, "--force", help="Replace data already in the workspace.")):
    """Write the synthetic marketplace for every use case."""
    from pomona.data.generate import generate

    manifests = generate(_ws(), scale=scale.value, seed=seed, force=force)
    for m in manifests.values():
        rows = ", ".join(f"{t}={i.rows:,}" for t, i in m.tables.items())
        typer.echo(f"{m.use_case:16s} {rows}")


@data_app.command("import")
def data_import(dataset: str = typer.Argument(..., help="A dataset name: 'pomona data formats' lists them."),
                path: Path = typer.Option(..., "--path", help="The dataset's folder as distributed, or a single file."),
                test_path: Optional[Path] = typer.Option(None, "--test-path", help="A separate test file."),
                frequency: Optional[Frequency] = typer.Option(None, "--frequency",
                                                              help="Multi-frequency collections (M4): which subset."),
                force: bool = typer.Option(False, "--force", help="Replace this use case's data."),
                no_checksum: bool = typer.Option(False, "--no-checksum",
                                                 help="Skip the md5 check of known files (for subsets or edited copies).")):
    """Convert a public dataset into its use case's canonical tables."""
    from pomona.data.importers import import_dataset

    m = import_dataset(_ws(), dataset, path, test_path=test_path,
                       frequency=frequency.value if frequency else None, force=force,
                       verify_checksum=not no_checksum)
    rows = ", ".join(f"{t}={i.rows:,}" for t, i in m.tables.items())
    typer.echo(f"imported {dataset} as {m.use_case}: {rows}")


@data_app.command("formats")
def data_formats():
    """The datasets 'pomona data import' reads, and the use case each fills."""
    from pomona.data.importers import importers

    for name, (uc, fn) in importers().items():
        typer.echo(f"{name:26s} {uc:16s} {(fn.__doc__ or '').strip().splitlines()[0] if fn.__doc__ else ''}")


@data_app.command("show")
def data_show():
    """What data the workspace holds, per use case."""
    from pomona import schemas

    ws = _ws()
    for uc in use_cases():
        folder = ws.dataset_dir(uc)
        if not (folder / "manifest.json").exists():
            typer.echo(f"{uc:16s} (none)")
            continue
        m = schemas.Manifest.read(folder)
        rows = ", ".join(f"{t}={i.rows:,}" for t, i in m.tables.items())
        typer.echo(f"{uc:16s} {m.dataset:24s} {rows}")


@app.command("train")
def train_cmd(use_case: UseCaseArg,
              config: Optional[Path] = typer.Option(None, "--config", help="Training YAML (default configs/<use-case>.yaml)."),
              seed: Optional[int] = typer.Option(None, "--seed", help="Seed for every candidate's random_state."),
              as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout; logs go to stderr."),
              accept_contract_change: bool = typer.Option(
                  False, "--accept-contract-change",
                  help="Promote even if the champion was trained on another feature contract (no comparison "
                       "is possible; recorded in the ledger).")):
    """Train the use case's candidates on the workspace's data, track them, gate the champion."""
    from training.job import train

    result = train(use_case.value, str(config) if config else None, seed=seed, ws=_ws(),
                   accept_contract_change=accept_contract_change)
    if as_json:
        typer.echo(json.dumps(result.to_json(), default=str))
        return
    for line in result.leaderboard():
        typer.echo(line)


@models_app.command("list")
def models_list(as_json: bool = typer.Option(False, "--json")):
    """Registered models and their champions."""
    from training import registry, tracking

    rows = registry.list_models(tracking.connect(_ws()))
    if as_json:
        _echo_json(rows)
        return
    for r in rows:
        typer.echo(f"{r['registered_model']:24s} versions={r['versions']:<3d} champion={r['champion_version']}")


@models_app.command("history")
def models_history(use_case: UseCaseArg, as_json: bool = typer.Option(False, "--json")):
    """Every move of the use case's champion alias (the append-only ledger in the registry)."""
    from training import registry

    rows = registry.history(_ws(), use_case.value)
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        typer.echo(f"{use_case.value}: no champion yet")
    for r in rows:
        typer.echo(f"{str(r['time'])[:19]}  {r['action']:9s} {str(r['from_version']):>4s} -> "
                   f"{str(r['to_version']):<4s} {r['reason']}" + (f" (run {r['run_id'][:8]})" if r.get("run_id") else "")
                   + (" [feature contract change]" if (r.get("details") or {}).get("contract_change") else ""))


@models_app.command("promote")
def models_promote(use_case: UseCaseArg, version: int = typer.Argument(..., min=1),
                   reason: str = typer.Option("manual promotion", "--reason")):
    """Make a registered version the champion (recorded in the ledger)."""
    from training import registry, tracking

    ws = _ws()
    registry.promote(ws, tracking.connect(ws), use_case.value, version, reason)
    typer.echo(f"{use_case.value}: champion is now version {version}")


@models_app.command("rollback")
def models_rollback(use_case: UseCaseArg):
    """Put the previous champion back."""
    from training import registry, tracking

    ws = _ws()
    entry = registry.rollback(ws, tracking.connect(ws), use_case.value)
    typer.echo(f"{use_case.value}: champion rolled back to version {entry['to_version']}")


@app.command("score")
def score_cmd(use_case: UseCaseArg,
              input_path: Path = typer.Option(..., "--input", help="Entity rows with event_timestamp (.parquet or .csv)."),
              output_path: Path = typer.Option(..., "--output", help="Where to write the scored rows (.parquet)."),
              model_version: Optional[int] = typer.Option(None, "--model-version", min=1,
                                                          help="Score with this registered version, not the champion."),
              chunk_rows: int = typer.Option(100_000, "--chunk-rows", min=1,
                                             help="Rows read, joined and scored at a time (bounds memory).")):
    """Score a file of entity rows with the champion (or a version): point-in-time features, parquet out."""
    from serving.batch import cli as score_batch

    score_batch(use_case.value, input_path, output_path, model_version=model_version, chunk_rows=chunk_rows,
                ws=_ws(), echo=typer.echo)


@app.command("build")
def build_cmd(use_case: str = typer.Argument(..., help=f"{' | '.join(REGISTERED)} | {ALL}")):
    """Build a Bento of the use case's service with its champion inside (bentoml build)."""
    from serving.build import build

    r = build(use_case, _ws())
    typer.echo(f"built {r['tag']} (model v{r['labels'].get('model_version', '?')}) in {r['bentoml_home']}; "
               f"serve: BENTOML_HOME={r['bentoml_home']} bentoml serve {r['tag']}")


@app.command("serve")
def serve_cmd(use_case: str = typer.Argument(ALL, help=f"{' | '.join(REGISTERED)} | {ALL}"),
              port: int = typer.Option(3000, "--port", help="Port on 127.0.0.1 (POMONA_SERVE_HOST to change).")):
    """Serve the champion(s) over HTTP with BentoML, on live features from the online store."""
    from serving.cli import serve

    raise typer.Exit(serve(use_case, port, _ws()))


@app.command("demo")
def demo(scale: Scale = typer.Option(Scale.small, help="Size of the synthetic marketplace."),
         seed: int = typer.Option(0, help="Random seed.")):
    """Run the main job on the embedded default: generate, apply, materialize, look up, train."""
    from pomona.app import demo as demo_mod

    demo_mod.run(_ws().ensure_writable(), scale.value, seed, echo=typer.echo)


def _parse_time(value: Optional[str], name: str) -> Optional[datetime]:
    if value is None:
        return None
    import pandas as pd

    try:
        return pd.Timestamp(value).tz_localize("UTC") if pd.Timestamp(value).tzinfo is None \
            else pd.Timestamp(value).tz_convert("UTC")
    except (ValueError, TypeError):
        raise PomonaError(f"{name} {value!r} is not a time (use ISO 8601, e.g. 2025-06-30T12:00:00)") from None


@features_app.command("apply")
def features_apply(use_case: Optional[list[UseCaseArg]] = typer.Argument(None, help="Default: every use case with data.")):
    """Build the derived feature tables and register entities, views and FeatureServices."""
    import features

    defs = features.apply(_ws(), [u.value for u in use_case] if use_case else None)
    for uc, d in defs.items():
        views = [p.name for p in d.service.feature_view_projections]
        typer.echo(f"{uc:16s} {d.service_name}: {len(views)} views ({', '.join(views)})")


@features_app.command("materialize")
def features_materialize(start: Optional[str] = typer.Option(None, help="ISO time; default: the earliest feature row."),
                         end: Optional[str] = typer.Option(None, help="ISO time; default: the latest feature row."),
                         use_case: Optional[list[UseCaseArg]] = typer.Argument(None)):
    """Load the latest feature values in [start, end] into the online store."""
    import time

    import features

    t0 = time.perf_counter()
    out = features.materialize(_ws(), _parse_time(start, "--start"), _parse_time(end, "--end"),
                               [u.value for u in use_case] if use_case else None)
    secs = time.perf_counter() - t0
    if out["views"]:
        typer.echo(f"materialized {len(out['views'])} views, {out['source_rows']:,} feature rows "
                   f"from {out['start']} to {out['end']} in {secs:.1f}s")
    for uc, why in out["skipped"].items():
        typer.echo(f"{uc}: nothing to write to the online store: {why}")


@features_app.command("list")
def features_list(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")):
    """Feature views, on-demand views and FeatureServices with their features."""
    import features

    items = features.describe(_ws())
    if as_json:
        _echo_json(items)
        return
    for it in items:
        extra = f" fingerprint={it['fingerprint']}" if "fingerprint" in it else ""
        keys = (f" keys={','.join(it['entities'])} ttl={it['ttl']} materialized_until={it['materialized_until']}"
                if "entities" in it else "")
        req = f" request={','.join(it['request_fields'])}" if it.get("request_fields") else ""
        typer.echo(f"{it['kind']:15s} {it['name']}{keys}{req}{extra}")
        typer.echo(f"{'':15s}   {', '.join(it['features'])}")


@features_app.command("online")
def features_online(use_case: UseCaseArg,
                    entity: list[str] = typer.Option(..., "--entity", "-e",
                                                     help="key=value of the entity row (repeat), e.g. -e user_id=3")):
    """Look up the online feature vector of one entity row."""
    import features

    row: dict = {}
    for item in entity:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PomonaError(f"--entity {item!r} must look like key=value")
        try:
            row[key] = int(value)
        except ValueError:
            try:
                row[key] = float(value)
            except ValueError:
                row[key] = value
    df = features.online_features(use_case.value, [row], _ws())
    _echo_json(df.iloc[0].to_dict())


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning every failure into one line and an exit code (with
    ``--debug`` or ``POMONA_DEBUG=1``, an unexpected one into its traceback)."""
    _DEBUG["on"] = False
    if REGISTRY_ERROR is not None:
        typer.echo(f"error: {REGISTRY_ERROR}", err=True)
        return 1
    try:
        app(args=argv, standalone_mode=False)
    except PomonaError as exc:
        typer.echo(f"error: {_first_line(exc)}", err=True)
        return 1
    except NoArgsIsHelpError as exc:  # `pomona` or `pomona data` alone: show the help
        typer.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return 0
    except ClickException as exc:  # usage errors: unknown command, bad option value, ...
        typer.echo(f"error: {exc.format_message()}", err=True)
        return exc.exit_code
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        return 130
    except Exception as exc:  # the CLI's edge: a bug or an untranslated library error
        if _DEBUG["on"] or os.environ.get("POMONA_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}:
            traceback.print_exc()
        else:
            typer.echo(f"error: unexpected {type(exc).__name__}: {_first_line(exc)}; "
                       f"rerun with --debug for the traceback", err=True)
        return 1
    return 0


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else repr(exc)


if __name__ == "__main__":
    sys.exit(main())
