"""The training job, as a recipe: frame -> split -> fit -> evaluate -> log -> register -> promote.

Every step is a plain function of the use case's module (``training/<use-case>.py``); this
module holds the order, the MLflow runs and the promotion gate. A job that fails or is
interrupted marks its runs FAILED and never moves the ``champion`` alias.
"""

from __future__ import annotations

import inspect
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import features
from models.scoring import ModelBundle, candidates
from pomona.data.writer import read_manifest
from pomona.errors import PomonaError
from pomona.usecases import check_use_case, feature_service_name, layer_module
from pomona.workspace import Workspace, workspace
from training import registry, tracking
from training.config import TrainConfig, load_train_config
from training.pyfunc import load_bundle


def task(use_case: str):
    """The use case's training module: ``prepare``, ``fit``, ``evaluate``, ``example``, ``PRIMARY``."""
    return layer_module(use_case, "training")


@dataclass
class JobResult:
    use_case: str
    experiment_id: str
    parent_run_id: str
    candidates: list[dict]
    primary_metric: str
    winner: str
    registered_version: str
    promoted: bool
    reason: str
    champion_version: str | None
    timings: dict[str, float] = field(default_factory=dict)
    bundles: dict[str, ModelBundle] = field(default_factory=dict, repr=False)  # the fitted candidates

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("timings", "bundles")}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_estimator(use_case: str, name: str, params: dict, seed: int | None):
    est = candidates(use_case)[name]()
    est.set_params(**params)
    if seed is not None and "random_state" in est.get_params():
        est.set_params(random_state=seed)
    return est


def train(use_case: str, config: TrainConfig | str | None = None, *, seed: int | None = None,
          ws: Workspace | None = None, log: Callable[[str], None] = _log) -> JobResult:
    """Train every candidate of ``use_case``, track them, register the winner, gate the champion."""
    ws = ws or workspace()
    check_use_case(use_case)
    cfg = config if isinstance(config, TrainConfig) else load_train_config(use_case, config)
    manifest = read_manifest(ws, use_case)
    store = features.feature_store(ws)
    fingerprint = features.fingerprint(store, use_case)  # raises if features were never applied
    service = feature_service_name(use_case)
    mod = task(use_case)
    client = tracking.connect(ws)
    exp_id = tracking.experiment(ws, use_case)
    # Where the job's time goes: MLflow calls ("log"), figure rendering ("plots"), fitting,
    # evaluation, and scoring the champion for the gate.
    timings: dict[str, float] = {"log": 0.0, "plots": 0.0, "fit": 0.0, "evaluate": 0.0, "gate": 0.0}
    t_job = time.perf_counter()

    parent = tracking.start_run(experiment_id=exp_id, run_name=f"train-{use_case}",
                              tags={"use_case": use_case, "dataset": manifest.dataset})
    try:
        t = time.perf_counter()
        data = mod.prepare(ws, cfg, manifest)
        timings["frame"] = time.perf_counter() - t
        log(f"[{use_case}] {len(data.frame):,} rows from {service} ({manifest.dataset}); split {data.protocol}")
        t = time.perf_counter()
        tracking.log_params({"split": data.protocol, "seed": seed, "candidates": ",".join(cfg.candidates),
                           "promotion.margin": cfg.promotion.margin})
        tracking.log_training_data(data.frame, name=f"{use_case}-{manifest.dataset}", label=data.label,
                                   window=data.window, service=service, fingerprint=fingerprint)
        timings["log"] += time.perf_counter() - t

        results, bundles = [], {}
        for name, params in cfg.candidates.items():
            est = make_estimator(use_case, name, params, seed)
            with tracking.start_run(experiment_id=exp_id, run_name=name, nested=True) as child:
                log(f"[{use_case}] fitting {name} ...")
                t = time.perf_counter()
                est, bundle_params = mod.fit(est, data, cfg)
                timings["fit"] += time.perf_counter() - t
                bundle = ModelBundle(use_case, est, service, fingerprint, manifest.dataset, bundle_params)
                t = time.perf_counter()
                metrics, figures = mod.evaluate(bundle, data, cfg)
                timings["evaluate"] += time.perf_counter() - t
                t = time.perf_counter()
                tracking.log_params({f"model.{k}": _short(v) for k, v in est.get_params().items()})
                tracking.log_params({f"scoring.{k}": v for k, v in bundle_params.items()})
                tracking.log_metrics({k: float(v) for k, v in metrics.items()})
                timings["log"] += time.perf_counter() - t
                t = time.perf_counter()
                for path, fig in figures.items():
                    tracking.log_figure(fig, path)
                timings["plots"] += time.perf_counter() - t
                t = time.perf_counter()
                example, example_params = mod.example(data)
                uri = tracking.log_bundle(bundle, example, example_params)
                tracking.set_tags({"candidate": name, "feature_service": service, "feature_fingerprint": fingerprint})
                timings["log"] += time.perf_counter() - t
                log(f"[{use_case}]   {name}: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
                results.append({"name": name, "run_id": child.info.run_id, "metrics": metrics, "model_uri": uri})
                bundles[name] = bundle

        best = _best(mod.PRIMARY, results)
        t = time.perf_counter()
        version = registry.register(client, use_case, best["model_uri"], best["run_id"],
                                    {"candidate": best["name"], "feature_service": service,
                                     "feature_fingerprint": fingerprint, "dataset": manifest.dataset,
                                     mod.PRIMARY: best["metrics"][mod.PRIMARY]})
        current = registry.champion_version(client, use_case)
        timings["log"] += time.perf_counter() - t
        t = time.perf_counter()
        champion_metrics, note = None, ""
        if current is not None:
            if current.tags.get("feature_fingerprint") != fingerprint:
                note = " (the champion was trained on another feature contract)"
            else:
                champ_bundle = load_bundle(f"models:/{current.name}/{current.version}")
                champion_metrics, _ = mod.evaluate(champ_bundle, data, cfg)
        timings["gate"] += time.perf_counter() - t
        t = time.perf_counter()
        promote, reason = registry.gate(mod.PRIMARY, best["metrics"], champion_metrics, cfg.promotion.margin,
                                        cfg.promotion.guards)
        reason += note
        tracking.set_tags({"winner": best["name"], "registered_version": version, "promoted": str(promote),
                         "promotion_reason": reason})
        if champion_metrics:
            tracking.log_metrics({f"champion.{k}": float(v) for k, v in champion_metrics.items()})
        timings["log"] += time.perf_counter() - t
    except BaseException:
        tracking.fail_open_runs(parent.info.run_id)
        raise
    # Only a job that finished everything above may move the alias.
    if promote:
        registry.move_champion(ws, client, use_case, version, action="promote", reason=reason,
                               run_id=parent.info.run_id)
    tracking.end_run(status="FINISHED")
    champ = registry.champion_version(client, use_case)
    timings["job"] = time.perf_counter() - t_job
    log(f"[{use_case}] winner {best['name']} registered as version {version}; "
        f"{'promoted to champion' if promote else 'not promoted'}: {reason}")
    return JobResult(use_case, exp_id, parent.info.run_id,
                     [{"name": r["name"], "run_id": r["run_id"], "metrics": r["metrics"]} for r in results],
                     mod.PRIMARY, best["name"], version, promote, reason, str(champ.version) if champ else None, timings,
                     bundles)


def _best(primary: str, results: list[dict]) -> dict:
    sign = -1 if primary in registry.LOWER_IS_BETTER else 1
    scored = [r for r in results if r["metrics"].get(primary) == r["metrics"].get(primary)]  # drop NaN
    if not scored:
        raise PomonaError(f"no candidate produced a {primary}")
    return max(scored, key=lambda r: sign * r["metrics"][primary])


def _short(v) -> str:
    text = str(v) if not inspect.isclass(v) else v.__name__
    return text[:250]
