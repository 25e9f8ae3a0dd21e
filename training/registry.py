"""The model registry: one registered model per use case, the ``champion`` alias moved only
by the promotion gate (or by an explicit promote/rollback), every move in an append-only ledger."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from models.scoring import ModelBundle
from pomona.errors import PomonaError
from pomona.usecases import feature_service_name, registered_model_name, use_cases
from pomona.workspace import Workspace

ALIAS = "champion"
LOWER_IS_BETTER = {"mase", "smape", "owa", "wape", "expected_cost"}
TARGETS = {"coverage_90": 0.90}  # closer to the target is better


def ledger_path(ws: Workspace):
    return ws.root / "registry" / "ledger.jsonl"


def record(ws: Workspace, use_case: str, action: str, from_version: str | None, to_version: str | None,
           reason: str, run_id: str | None = None) -> dict:
    """Append one alias move to the ledger (one JSON object per line, flushed and fsynced)."""
    entry = {"time": datetime.now(UTC).isoformat(), "use_case": use_case, "action": action,
             "from_version": from_version, "to_version": to_version, "reason": reason, "run_id": run_id}
    path = ledger_path(ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(json.dumps(entry) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return entry


def history(ws: Workspace, use_case: str) -> list[dict]:
    path = ledger_path(ws)
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["use_case"] == use_case]


def champion_version(client: MlflowClient, use_case: str):
    """The champion's ModelVersion, or None when there is none yet."""
    try:
        return client.get_model_version_by_alias(registered_model_name(use_case), ALIAS)
    except MlflowException:
        return None


def register(client: MlflowClient, use_case: str, model_uri: str, run_id: str, tags: dict[str, str]) -> str:
    name = registered_model_name(use_case)
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description=f"Pomona {use_case} models; alias '{ALIAS}' is served.")
    mv = client.create_model_version(name, model_uri, run_id=run_id, tags={k: str(v) for k, v in tags.items()})
    return str(mv.version)


def move_champion(ws: Workspace, client: MlflowClient, use_case: str, version: str, *, action: str, reason: str,
                  run_id: str | None = None) -> dict:
    current = champion_version(client, use_case)
    client.set_registered_model_alias(registered_model_name(use_case), ALIAS, str(version))
    return record(ws, use_case, action, str(current.version) if current else None, str(version), reason, run_id)


def improvement(metric: str, a: float, b: float) -> float:
    """How much better ``a`` is than ``b`` on ``metric``, in the metric's units (positive = better)."""
    if metric in TARGETS:
        return abs(b - TARGETS[metric]) - abs(a - TARGETS[metric])
    return (b - a) if metric in LOWER_IS_BETTER else (a - b)


def gate(primary: str, challenger: dict[str, float], champion: dict[str, float] | None, margin: float,
         guards: dict[str, float]) -> tuple[bool, str]:
    """Promote only if the challenger beats the champion on ``primary`` by the relative
    ``margin`` and worsens no guard metric by more than its absolute tolerance."""
    if champion is None:
        return True, "first model for this use case"
    c, h = challenger[primary], champion[primary]
    if any(math.isnan(x) for x in (c, h)):
        return False, f"{primary} is undefined (challenger {c}, champion {h})"
    gain = improvement(primary, c, h) / (abs(h) if h else 1.0)
    if gain <= 0 or gain < margin:
        return False, (f"{primary} {c:.4f} does not beat the champion's {h:.4f} by the required margin "
                       f"{margin:.1%} (relative change {gain:+.2%})")
    for metric, tol in guards.items():
        if metric in challenger and metric in champion:
            a, b = challenger[metric], champion[metric]
            if -improvement(metric, a, b) > tol:
                return False, f"guard {metric} worsens from {b:.4f} to {a:.4f} (tolerance {tol})"
    return True, f"{primary} {c:.4f} beats the champion's {h:.4f} ({gain:+.2%})"


def rollback_target(ws: Workspace, use_case: str) -> str:
    """The champion before the current one, following promotions and earlier rollbacks."""
    stack: list[str] = []
    for entry in history(ws, use_case):
        if entry["action"] == "rollback":
            if stack:
                stack.pop()
        elif entry["to_version"] is not None:
            stack.append(entry["to_version"])
    if len(stack) < 2:
        raise PomonaError(f"{use_case} has no previous champion to roll back to")
    return stack[-2]


def list_models(client: MlflowClient) -> list[dict]:
    out = []
    for uc in use_cases():
        name = registered_model_name(uc)
        try:
            versions = client.search_model_versions(f"name='{name}'")
        except MlflowException:
            versions = []
        champ = champion_version(client, uc)
        out.append({"use_case": uc, "registered_model": name, "versions": len(versions),
                    "champion_version": str(champ.version) if champ else None,
                    "champion_run_id": champ.run_id if champ else None})
    return out


# --------------------------------------------------------------------------- loading a model


@dataclass(frozen=True)
class LoadedModel:
    """A registered model version's bundle, its feature contract checked against the store."""

    use_case: str
    version: str
    uri: str
    bundle: ModelBundle


def check_contract(bundle: ModelBundle, use_case: str, ws: Workspace, version: str) -> None:
    """Raise a one-line :class:`PomonaError` unless ``bundle`` was trained on the live
    FeatureService with the same definitions (fingerprint): one rule for every consumer."""
    import features

    expected = feature_service_name(use_case)
    if bundle.use_case != use_case:
        raise PomonaError(f"model {registered_model_name(use_case)} v{version} is a {bundle.use_case} model")
    if bundle.feature_service != expected:
        raise PomonaError(f"{use_case} champion v{version} was trained on FeatureService "
                          f"{bundle.feature_service!r}, but serving reads {expected!r}")
    live = features.fingerprint(features.feature_store(ws), use_case)
    if bundle.fingerprint != live:
        raise PomonaError(f"{use_case} champion v{version} was trained on {expected} with fingerprint "
                          f"{bundle.fingerprint}, but the feature store has {live}; re-apply the definitions "
                          f"it was trained on or train and promote a new model")


def resolve_version(client: MlflowClient, use_case: str, version: int | str | None = None):
    """The ModelVersion of the champion (``version=None``) or of ``version``; one-line errors."""
    name = registered_model_name(use_case)
    if version is None:
        mv = champion_version(client, use_case)
        if mv is None:
            raise PomonaError(f"{use_case} has no champion in the registry; run 'pomona train {use_case}' first")
        return mv
    try:
        return client.get_model_version(name, str(version))
    except MlflowException:
        raise PomonaError(f"{name} has no version {version}") from None


def load_model(use_case: str, ws: Workspace, version: int | str | None = None, *,
               path: str | Path | None = None) -> LoadedModel:
    """The one way a model is loaded for use: the champion of ``use_case`` (or ``version``)
    from the registry, or, with ``path``, the MLflow model folder packaged in a Bento or a
    SageMaker model (``version`` then says which version it is), with its feature contract
    checked. The alias is resolved to a version number first, so one load answers with one
    version even if the alias moves meanwhile."""
    from training import pyfunc, tracking

    if path is not None:
        uri, shown = str(path), f"the packaged {use_case} model at {path}"
        version = str(version) if version is not None else "packaged"
    else:
        mv = resolve_version(tracking.connect(ws), use_case, version)
        version, uri = str(mv.version), f"models:/{registered_model_name(use_case)}/{mv.version}"
        shown = f"{registered_model_name(use_case)} v{version}"
    try:
        bundle = pyfunc.load_bundle(uri)
    except Exception as exc:  # MLflow raises many kinds (missing artifacts, unpickling)
        raise PomonaError(f"cannot load {shown}: {str(exc).splitlines()[0]}") from None
    check_contract(bundle, use_case, ws, version)
    return LoadedModel(use_case, version, uri, bundle)


def export_model(use_case: str, ws: Workspace, dest: Path) -> tuple[LoadedModel, Path, str]:
    """Download the champion's MLflow model folder into ``dest`` and check its contract:
    the loaded model (from the downloaded copy), the local folder and the version's run id."""
    import mlflow

    from training import tracking

    mv = resolve_version(tracking.connect(ws), use_case)
    dest.mkdir(parents=True, exist_ok=True)
    name = registered_model_name(use_case)
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{mv.version}", dst_path=str(dest))
    except Exception as exc:  # MLflow raises many kinds (missing artifacts)
        raise PomonaError(f"cannot export {name} v{mv.version}: {str(exc).splitlines()[0]}") from None
    loaded = load_model(use_case, ws, str(mv.version), path=local)
    return loaded, Path(local), str(mv.run_id or "")


def input_example(use_case: str, version: str):
    """The input example logged with ``version`` (a DataFrame of model-input rows), or None."""
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(f"models:/{registered_model_name(use_case)}/{version}").input_example


def promote(ws: Workspace, client: MlflowClient, use_case: str, version: int | str, reason: str) -> dict:
    """Make an existing ``version`` the champion (manual promotion, recorded in the ledger)."""
    mv = resolve_version(client, use_case, version)
    return move_champion(ws, client, use_case, str(mv.version), action="promote", reason=reason)
