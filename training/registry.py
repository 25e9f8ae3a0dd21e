"""The model registry: one registered model per use case, the ``champion`` alias moved only
by the promotion gate (:mod:`training.gate`) or an explicit promote/rollback, and every move
in an append-only ledger kept *in the registry itself*.

The ledger is one registered-model tag per move on the use case's registered model, key
``pomona.ledger.<UTC time %Y%m%dT%H%M%S.%fZ>.<8 hex>`` (sortable: the keys' order is the time
order), value the entry as JSON (at most 5000 characters: the width of MLflow's
``registered_model_tags.value`` column). Every machine that reaches the same tracking server
therefore reads the same history; nothing is kept in the workspace but the lock files."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from filelock import FileLock, Timeout
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode
from mlflow.tracking import MlflowClient

from models.scoring import ModelBundle
from pomona.errors import PomonaError
from pomona.usecases import feature_service_name, registered_model_name, use_cases
from pomona.workspace import Workspace
from training.gate import LOWER_IS_BETTER, TARGETS, improvement  # noqa: F401  (their home is training.gate)

ALIAS = "champion"
LEDGER_PREFIX = "pomona.ledger."
LEDGER_KEYS = ("time", "use_case", "action", "from_version", "to_version", "reason")  # required in an entry
VALUE_LIMIT = 5000  # registered_model_tags.value is VARCHAR(5000) in MLflow's SQL schema
LOCK_TIMEOUT = 120.0  # seconds a mover waits for another one on the same workspace


def _missing(exc: MlflowException) -> bool:
    return exc.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST)


def _key(when: datetime, tail: str) -> str:
    return f"{LEDGER_PREFIX}{when.astimezone(UTC):%Y%m%dT%H%M%S.%fZ}.{tail}"


def _key_time(key: str) -> datetime | None:
    try:
        return datetime.strptime(key[len(LEDGER_PREFIX):].rsplit(".", 1)[0], "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _encode(entry: dict) -> str:
    """The entry as JSON within :data:`VALUE_LIMIT` (a long reason is cut, then the details)."""
    plain = lambda o: o.item() if hasattr(o, "item") else str(o)  # noqa: E731  numpy scalars, paths
    value = json.dumps(entry, default=plain)
    if len(value) > VALUE_LIMIT:
        cut = max(0, len(entry["reason"]) - (len(value) - VALUE_LIMIT) - 8)
        entry = {**entry, "reason": entry["reason"][:cut] + "..."}
        value = json.dumps(entry, default=plain)
    if len(value) > VALUE_LIMIT:
        value = json.dumps({**entry, "details": {"truncated": True}}, default=plain)
    return value


def _tags(client: MlflowClient, use_case: str) -> list[tuple[str, str]]:
    """The ledger's (key, value) tags of ``use_case``, in time order; [] without a registered model."""
    try:
        rm = client.get_registered_model(registered_model_name(use_case))
    except MlflowException as exc:
        if _missing(exc):
            return []
        raise
    return sorted((k, v) for k, v in (rm.tags or {}).items() if k.startswith(LEDGER_PREFIX))


def _parse(name: str, key: str, value: str) -> dict:
    """One ledger entry, or a one-line :class:`PomonaError` naming the damaged tag."""
    try:
        entry = json.loads(value)
        why = None if isinstance(entry, dict) else "not a JSON object"
    except ValueError as exc:
        entry, why = None, f"invalid JSON: {exc}"
    if why is None and (missing := [k for k in LEDGER_KEYS if k not in entry]):
        why = f"missing {', '.join(missing)}"
    if why is not None:
        raise PomonaError(f"ledger entry {key} of registered model {name} is damaged ({why}); delete that tag "
                          f"(MLflow UI, or MlflowClient().delete_registered_model_tag({name!r}, {key!r})) and "
                          f"check that the '{ALIAS}' alias is the version you expect")
    return {**entry, "id": key}


def _legacy_import(ws: Workspace, client: MlflowClient) -> None:
    """Copy the well-formed entries of the old local ledger (``registry/ledger.jsonl``) into the
    registry once, then rename the file ``ledger.jsonl.imported``. An entry's key derives from its
    time and the line's hash, so an interrupted import that runs again writes the same tags;
    lines that do not parse, and entries of a use case without a registered model here, are skipped."""
    path = ws.root / "registry" / "ledger.jsonl"
    if not path.exists():
        return
    with _locked(ws, "ledger-import"):
        if not path.exists():
            return
        known: dict[str, bool] = {}
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
                when = datetime.fromisoformat(entry["time"])
                name = registered_model_name(entry["use_case"])
            except (ValueError, TypeError, KeyError, PomonaError):
                continue
            if name not in known:
                known[name] = bool(client.search_registered_models(f"name = '{name}'"))
            if not known[name] or any(k not in entry for k in LEDGER_KEYS):
                continue
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
            client.set_registered_model_tag(name, _key(when, hashlib.sha1(line.encode()).hexdigest()[:8]),
                                            _encode(entry))
        path.rename(path.with_name("ledger.jsonl.imported"))


@contextmanager
def _locked(ws: Workspace, name: str) -> Iterator[None]:
    path = ws.root / "registry" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=LOCK_TIMEOUT)
    except Timeout:
        raise PomonaError(f"another promotion or rollback holds {path} for over {LOCK_TIMEOUT:.0f}s; "
                          f"retry, or delete the file if no pomona process is running") from None
    try:
        yield
    finally:
        lock.release()


def record(ws: Workspace, use_case: str, action: str, from_version: str | None, to_version: str | None,
           reason: str, run_id: str | None = None, *, details: dict | None = None,
           client: MlflowClient | None = None) -> dict:
    """Append one alias move to the ledger (one tag on the registered model) and return the entry.

    It does not lock: :func:`move_champion` calls it under the use case's lock. The entry's time
    is after the last entry's, so that the keys' order is the order of the moves."""
    if client is None:
        from training import tracking

        client = tracking.connect(ws)
    now = datetime.now(UTC)
    tags = _tags(client, use_case)
    last = _key_time(tags[-1][0]) if tags else None
    if last is not None and now <= last:  # a clock behind the last writer's
        now = last + timedelta(microseconds=1)
    entry = {"time": now.isoformat(), "use_case": use_case, "action": action, "from_version": from_version,
             "to_version": to_version, "reason": reason, "run_id": run_id, "details": details}
    key = _key(now, uuid.uuid4().hex[:8])
    client.set_registered_model_tag(registered_model_name(use_case), key, _encode(entry))
    return {**entry, "id": key}


def history(ws: Workspace, use_case: str, *, client: MlflowClient | None = None) -> list[dict]:
    """Every move of ``use_case``'s champion alias, oldest first (each entry with its tag key as
    ``id``). A damaged entry raises a one-line :class:`PomonaError` naming its key."""
    if client is None:
        from training import tracking

        client = tracking.connect(ws)
    _legacy_import(ws, client)
    name = registered_model_name(use_case)
    return [_parse(name, k, v) for k, v in _tags(client, use_case)]


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
                  run_id: str | None = None, details: dict | None = None) -> dict:
    """Point the ``champion`` alias at ``version`` and append the move to the ledger.

    Reading the current alias, moving it and writing the entry happen under a file lock,
    ``<workspace>/registry/<use_case>.lock``: movers that share a workspace on one machine (or
    on a file system whose locks work across machines) are serialised, so each entry's
    ``from_version`` is the previous entry's ``to_version`` and the last entry names the alias.
    Movers on different machines with their own workspaces are not serialised by it: two moves
    at the same instant both land in the ledger, the alias is the later write's, and the chain
    shows the overlap; run promotions from one place (the scheduler) when that matters."""
    with _locked(ws, use_case):
        _legacy_import(ws, client)
        return _move(ws, client, use_case, str(version), action, reason, run_id, details)


def _move(ws: Workspace, client: MlflowClient, use_case: str, version: str, action: str, reason: str,
          run_id: str | None, details: dict | None) -> dict:
    current = champion_version(client, use_case)
    client.set_registered_model_alias(registered_model_name(use_case), ALIAS, version)
    return record(ws, use_case, action, str(current.version) if current else None, version, reason, run_id,
                  details=details, client=client)


def rollback_target(ws: Workspace, use_case: str, *, client: MlflowClient | None = None) -> str:
    """The champion before the current one, following promotions and earlier rollbacks."""
    stack: list[str] = []
    for entry in history(ws, use_case, client=client):
        if entry["action"] == "rollback":
            if stack:
                stack.pop()
        elif entry["to_version"] is not None:
            stack.append(entry["to_version"])
    if len(stack) < 2:
        raise PomonaError(f"{use_case} has no previous champion to roll back to")
    return stack[-2]


def rollback(ws: Workspace, client: MlflowClient, use_case: str, reason: str = "rollback") -> dict:
    """Put the previous champion back: the target is read from the ledger under the same lock
    as the move, so two rollbacks (or a rollback and a promotion) never act on a stale history."""
    with _locked(ws, use_case):
        _legacy_import(ws, client)
        target = rollback_target(ws, use_case, client=client)
        return _move(ws, client, use_case, target, "rollback", reason, None, None)


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


def promote(ws: Workspace, client: MlflowClient, use_case: str, version: int | str, reason: str, *,
            details: dict | None = None) -> dict:
    """Make an existing ``version`` the champion (manual promotion, recorded in the ledger)."""
    mv = resolve_version(client, use_case, version)
    return move_champion(ws, client, use_case, str(mv.version), action="promote", reason=reason, details=details)
