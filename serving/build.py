"""``build(use_case, ws)``: package a use case's service and its champion as a Bento.

Steps (each a plain function):

1. :func:`export_champion` downloads ``models:/pomona-<use-case>@champion`` (the MLflow model
   folder) into the build context and checks its feature contract against the live store,
   so a Bento is never built around a model that serving would refuse.
2. :func:`stage` writes the build context under ``$POMONA_HOME/bentoml/build/<use-case>/``:
   the project's packages, ``configs/``, the store configuration in use
   (``pomona_store.yaml``), ``pomona_bento.json`` (what is packaged) and ``bentofile.yaml``.
3. :func:`bentoml_build` runs ``bentoml build`` with ``BENTOML_HOME=$POMONA_HOME/bentoml``, so
   the Bento stays in the workspace. Its labels record the use case, the model version, the
   MLflow run, the FeatureService and its fingerprint.

The Bento's service is ``serving.bento_entry:<Service>``: the same classes as ``pomona serve``,
loading the packaged model instead of the registry (no hot reload: a Bento is immutable).
The feature store is not packaged; the Bento reads ``$POMONA_HOME`` at run time (see
docs/serving.md). ``python -m serving.build fraud`` does the same without the ``pomona`` CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from pomona.config import DEFAULT_CONFIG
from pomona.errors import PomonaError
from pomona.usecases import check_use_case, use_cases
from pomona.workspace import Workspace, workspace
from serving import ALL, service_name

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pomona", "features", "models", "training", "serving", "configs")
MANIFEST = "pomona_bento.json"
STORE_CONFIG = "pomona_store.yaml"
BUILD_TIMEOUT_S = 600


def bentoml_home(ws: Workspace) -> Path:
    """Where Bentos of this workspace live: ``$POMONA_HOME/bentoml``."""
    return ws.root / "bentoml"


def bentoml_env(ws: Workspace) -> dict[str, str]:
    """The environment for ``bentoml build``/``serve``/``list`` on this workspace's Bentos."""
    return {**os.environ, "POMONA_HOME": str(ws.root), "BENTOML_HOME": str(bentoml_home(ws)),
            "BENTOML_DO_NOT_TRACK": "True"}


def export_champion(use_case: str, ws: Workspace, dest: Path) -> dict[str, str]:
    """Download the champion's MLflow model folder to ``dest`` and check its contract
    (``training.registry.export_model``).

    Returns what the Bento records about it (version, run, FeatureService, fingerprint).
    """
    from training import registry

    model, local, run_id = registry.export_model(use_case, ws, dest)
    return {"version": model.version, "path": local.resolve().relative_to(dest.parents[1]).as_posix(),
            "run_id": run_id, "feature_service": model.bundle.feature_service,
            "feature_fingerprint": model.bundle.fingerprint}


def requirements() -> list[str]:
    """The project's pinned direct dependencies (pyproject.toml), for ``bentoml containerize``."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return list(tomllib.load(fh)["project"]["dependencies"])


def labels(models: dict[str, dict[str, str]]) -> dict[str, str]:
    """Bento labels: one model -> ``model_version``, ``feature_service``, ...; several
    (``all``) -> the same keys prefixed with the use case (``fraud_model_version``...)."""
    keys = ("version", "run_id", "feature_service", "feature_fingerprint")
    out = {"use_case": ",".join(models)}
    for uc, entry in models.items():
        prefix = "" if len(models) == 1 else f"{uc}_"
        out.update({f"{prefix}{'model_version' if k == 'version' else k}": entry[k] for k in keys})
    return out


def stage(name: str, ws: Workspace) -> Path:
    """A fresh build context ``$POMONA_HOME/bentoml/build/<name>`` holding the sources."""
    ctx = bentoml_home(ws) / "build" / name
    if ctx.exists():
        shutil.rmtree(ctx)
    ctx.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, ctx / package, ignore=ignore)
    config = Path(os.environ.get("POMONA_CONFIG") or DEFAULT_CONFIG)
    shutil.copyfile(config, ctx / STORE_CONFIG)
    return ctx


def write_bentofile(ctx: Path, service: str, bento_labels: dict[str, str]) -> Path:
    import yaml

    bentofile = {
        "service": f"serving.bento_entry:{service}",
        "labels": bento_labels,
        "include": [f"{p}/**" for p in PACKAGES] + [MANIFEST, STORE_CONFIG, "pomona_model/**"],
        "exclude": ["**/__pycache__/**", "*.pyc"],
        # Exact pins already; locking would resolve against an index (none is reachable here).
        "python": {"packages": requirements(), "lock_packages": False},
        "envs": [{"name": "BENTOML_DO_NOT_TRACK", "value": "True"}],
    }
    path = ctx / "bentofile.yaml"
    path.write_text(yaml.safe_dump(bentofile, sort_keys=False))
    return path


def bentoml_build(ctx: Path, ws: Workspace) -> str:
    """Run ``bentoml build`` on ``ctx``; the new Bento's tag."""
    exe = Path(sys.executable).with_name("bentoml")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "bentoml"]
    cmd += ["build", str(ctx), "-f", str(ctx / "bentofile.yaml"), "--output", "tag"]
    try:
        proc = subprocess.run(cmd, check=False, cwd=ctx, env=bentoml_env(ws), capture_output=True, text=True,
                              timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise PomonaError(f"bentoml build did not finish in {BUILD_TIMEOUT_S} s") from None
    tags = [line.split("__tag__:", 1)[1].strip() for line in proc.stdout.splitlines() if "__tag__:" in line]
    if proc.returncode != 0 or not tags:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise PomonaError(f"bentoml build failed (exit {proc.returncode}): {tail[0]}")
    return tags[-1]


def build(use_case: str, ws: Workspace | None = None) -> dict:
    """Build the Bento of ``use_case`` (or ``"all"``) with its champion(s) inside.

    Returns ``{"tag", "path", "bentoml_home", "labels", "models"}``; raises
    :class:`PomonaError` (one line) when there is no champion, its contract is broken, or
    ``bentoml build`` fails.
    """
    ws = (ws or workspace()).ensure_writable()
    name = use_case if use_case == ALL else check_use_case(use_case)
    packaged = use_cases() if name == ALL else (name,)
    ctx = stage(name, ws)
    models = {uc: export_champion(uc, ws, ctx / "pomona_model" / uc) for uc in packaged}
    (ctx / MANIFEST).write_text(json.dumps({"use_cases": list(packaged), "models": models,
                                            "store_config": STORE_CONFIG}, indent=2))
    bento_labels = labels(models)
    write_bentofile(ctx, service_name(name), bento_labels)
    tag = bentoml_build(ctx, ws)
    bento_name, version = tag.split(":", 1)
    return {"tag": tag, "path": str(bentoml_home(ws) / "bentos" / bento_name / version),
            "bentoml_home": str(bentoml_home(ws)), "labels": bento_labels, "models": models}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.build", description=build.__doc__)
    parser.add_argument("use_case", choices=[*use_cases(), ALL])
    args = parser.parse_args(argv)
    try:
        result = build(args.use_case)
    except PomonaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
