"""The training job, as a recipe: frame -> split -> select -> test -> refit -> register -> gate.

1. **Select on validation.** Every candidate is fit on the training part and scored on the
   validation part; the best on the primary metric is chosen (hyperparameters too: a config
   that asks for several settings lists them as candidates).
2. **Test once.** The chosen candidate and the use case's baseline are fit on training and
   validation (the *evaluated twin*) and scored once on the test part: that is the held-out
   figure the leaderboard, ``--json`` and MLflow report.
3. **Refit.** The chosen candidate is refit with the same parameters on every row up to the
   end of the test period (``refit: true``, the default) and registered; its own nested run
   carries the twin's metrics and run id.
4. **Gate.** Champion and challenger are scored on the same test part and compared with a
   paired bootstrap (:mod:`training.gate`); see :func:`_gate`.

Every step is a plain function of the use case's module (``training/<use-case>.py``); this
module holds the order, the MLflow runs and the gate. A job that fails or is interrupted marks
its runs FAILED and never moves the ``champion`` alias.
"""

from __future__ import annotations

import inspect
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import pandas as pd
from sklearn.base import clone

import features
from models.scoring import ModelBundle, build
from pomona.data.writer import read_manifest
from pomona.errors import PomonaError
from pomona.schemas import TS
from pomona.usecases import check_use_case, feature_service_name, layer_module
from pomona.workspace import Workspace, workspace
from training import gate, registry, tracking
from training.common import Data
from training.config import TrainConfig, load_train_config
from training.pyfunc import load_bundle


def task(use_case: str):
    """The use case's training module: ``prepare``, ``fit``, ``evaluate``, ``units``, ``example``, ``PRIMARY``."""
    return layer_module(use_case, "training")


@dataclass
class Candidate:
    name: str
    run_id: str
    params: dict  # the estimator's hyperparameters from the config
    bundle_params: dict  # what the selection fit chose (a fraud threshold), kept by later fits
    validation_metrics: dict[str, float]
    metrics: dict[str, float] = field(default_factory=dict)  # test part; only for tested candidates
    twin: ModelBundle | None = None  # fit on training and validation, scored on test
    fit_seconds: float = float("nan")  # wall time of the fit on the training part

    def to_json(self) -> dict:
        return {"name": self.name, "run_id": self.run_id, "validation_metrics": self.validation_metrics,
                "metrics": self.metrics, "tested": bool(self.metrics), "fit_seconds": round(self.fit_seconds, 3)}


@dataclass
class JobResult:
    use_case: str
    experiment_id: str
    parent_run_id: str
    candidates: list[dict]
    primary_metric: str
    winner: str
    registered_version: str
    registered_run_id: str
    refit: bool
    promoted: bool
    reason: str
    champion_version: str | None
    gate: dict = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    bundles: dict[str, ModelBundle] = field(default_factory=dict, repr=False)  # "registered" and the twins

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("timings", "bundles")}

    def leaderboard(self) -> list[str]:
        """The table a person reads: validation (where the choice was made) and test (scored once)."""
        p = self.primary_metric
        lines = [f"{'candidate':22s} {'validation ' + p:>24s} {'test ' + p:>20s}"]
        for c in self.candidates:
            mark = " *" if c["name"] == self.winner else ""
            test = f"{c['metrics'][p]:20.4f}" if c["metrics"] else f"{'(not tested)':>20s}"
            lines.append(f"{c['name'] + mark:22s} {c['validation_metrics'][p]:24.4f} {test}")
        lines.append(f"winner {self.winner} (chosen on validation) -> version {self.registered_version}"
                     f"{' (refit on all data)' if self.refit else ''}; "
                     f"{'promoted' if self.promoted else 'not promoted'}: {self.reason}; "
                     f"champion is version {self.champion_version}")
        return lines


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_estimator(use_case: str, name: str, params: dict, seed: int | None):
    est = build(use_case, name, params)
    if seed is not None and "random_state" in est.get_params():
        est.set_params(random_state=seed)
    return est


class _Clock:
    """Where the job's time goes: MLflow calls ("log"), figures ("plots"), fitting, evaluation, gate."""

    def __init__(self):
        self.t = {"log": 0.0, "plots": 0.0, "fit": 0.0, "evaluate": 0.0, "gate": 0.0}

    @contextmanager
    def __call__(self, key: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.t[key] = self.t.get(key, 0.0) + time.perf_counter() - start


def train(use_case: str, config: TrainConfig | str | None = None, *, seed: int | None = None,
          ws: Workspace | None = None, log: Callable[[str], None] = _log,
          accept_contract_change: bool = False) -> JobResult:
    """Train every candidate of ``use_case``, choose on validation, test once, refit, register, gate."""
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
    clock, t_job = _Clock(), time.perf_counter()

    def bundle_of(est, params) -> ModelBundle:
        return ModelBundle(use_case, est, service, fingerprint, manifest.dataset, params)

    parent = tracking.start_run(experiment_id=exp_id, run_name=f"train-{use_case}",
                                tags={"use_case": use_case, "dataset": manifest.dataset})
    try:
        with clock("frame"):
            data = mod.prepare(ws, cfg, manifest)
        sizes = {p: int(getattr(data.masks, p).sum()) for p in ("train", "valid", "test")}
        log(f"[{use_case}] {len(data.frame):,} rows from {service} ({manifest.dataset}); split {data.protocol}: "
            + ", ".join(f"{k} {v:,}" for k, v in sizes.items()))
        with clock("log"):
            tracking.log_params({"split": data.protocol, "seed": seed, "candidates": ",".join(cfg.candidates),
                                 "refit": cfg.refit, "promotion.margin": cfg.promotion.margin,
                                 **{f"rows.{k}": v for k, v in sizes.items()}})
            tracking.log_training_data(data.frame, name=f"{use_case}-{manifest.dataset}", label=data.label,
                                       window=data.window(None if cfg.refit else "test"), service=service,
                                       fingerprint=fingerprint)

        # 1. Select: fit on the training part, compare on the validation part.
        results: dict[str, Candidate] = {}
        for name, params in cfg.candidates.items():
            with tracking.start_run(experiment_id=exp_id, run_name=name, nested=True) as child:
                log(f"[{use_case}] fitting {name} on the training part ...")
                started = time.perf_counter()
                with clock("fit"):
                    est, bundle_params = mod.fit(make_estimator(use_case, name, params, seed), data, cfg, "valid")
                fit_seconds = time.perf_counter() - started
                with clock("evaluate"):
                    vm, _ = mod.evaluate(bundle_of(est, bundle_params), data, cfg, "valid")
                with clock("log"):
                    _log_fit(est, bundle_params)
                    tracking.log_metrics({**{f"valid.{k}": float(v) for k, v in vm.items()}, "fit_seconds": fit_seconds})
                    tracking.set_tags({"candidate": name, "feature_service": service, "feature_fingerprint": fingerprint})
                log(f"[{use_case}]   {name} validation: " + ", ".join(f"{k}={v:.4f}" for k, v in vm.items())
                    + f" (fit {fit_seconds:.1f} s)")
                results[name] = Candidate(name, child.info.run_id, params, bundle_params, vm, fit_seconds=fit_seconds)
        best = _best(mod.PRIMARY, list(results.values()))
        log(f"[{use_case}] chosen on validation: {best.name}")

        # 2. Test once: the chosen candidate and the baseline, fit on training and validation.
        baseline = getattr(mod, "BASELINE", None)
        tested = [best] + ([results[baseline]] if baseline in results and baseline != best.name else [])
        for cand in tested:
            with tracking.start_run(run_id=cand.run_id, nested=True):
                with clock("fit"):
                    est, _ = mod.fit(make_estimator(use_case, cand.name, cand.params, seed), data, cfg, "test",
                                     cand.bundle_params)
                cand.twin = bundle_of(est, cand.bundle_params)
                with clock("evaluate"):
                    cand.metrics, figures = mod.evaluate(cand.twin, data, cfg, "test")
                with clock("log"):
                    tracking.log_metrics({k: float(v) for k, v in cand.metrics.items()})
                    tracking.set_tags({"tested": "true", "data.window_end": str(data.window("test")[1])})
                with clock("plots"):
                    for path, fig in figures.items():
                        tracking.log_figure(fig, path)
            log(f"[{use_case}]   {cand.name} test: " + ", ".join(f"{k}={v:.4f}" for k, v in cand.metrics.items()))

        # 3. Refit the chosen candidate on everything (or register the twin itself).
        example, example_params = mod.example(data)
        if cfg.refit:
            with tracking.start_run(experiment_id=exp_id, run_name=f"{best.name}-refit", nested=True) as run:
                log(f"[{use_case}] refitting {best.name} on all data ...")
                with clock("fit"):
                    est, _ = mod.fit(make_estimator(use_case, best.name, best.params, seed), data, cfg, None,
                                     best.bundle_params)
                registered = bundle_of(est, best.bundle_params)
                with clock("log"):
                    _log_fit(est, best.bundle_params)
                    tracking.log_metrics({k: float(v) for k, v in best.metrics.items()})
                    tracking.log_metrics({f"valid.{k}": float(v) for k, v in best.validation_metrics.items()})
                    tracking.set_tags({"candidate": best.name, "refit": "true", "evaluated_run_id": best.run_id,
                                       "feature_service": service, "feature_fingerprint": fingerprint,
                                       "data.window_end": str(data.window(None)[1])})
                    uri = tracking.log_bundle(registered, example, example_params)
                registered_run = run.info.run_id
        else:
            registered, registered_run = best.twin, best.run_id
            with tracking.start_run(run_id=best.run_id, nested=True), clock("log"):
                uri = tracking.log_bundle(registered, example, example_params)
        window_end = data.window(None if cfg.refit else "test")[1]
        with clock("log"):
            version = registry.register(client, use_case, uri, registered_run,
                                        {"candidate": best.name, "feature_service": service,
                                         "feature_fingerprint": fingerprint, "dataset": manifest.dataset,
                                         "refit": str(cfg.refit).lower(), "evaluated_run_id": best.run_id,
                                         "window_end": str(window_end), mod.PRIMARY: best.metrics[mod.PRIMARY]})

        # 4. Gate.
        with clock("gate"):
            decision, details = _gate(use_case, mod, cfg, data, best, client, fingerprint, accept_contract_change, log)
        with clock("log"):
            tracking.set_tags({"winner": best.name, "registered_version": version, "promoted": str(decision.promote),
                               "promotion_reason": decision.reason[:5000]})
            if details.get("champion_metrics"):
                tracking.log_metrics({f"champion.{k}": float(v) for k, v in details["champion_metrics"].items()})
    except BaseException:
        tracking.fail_open_runs(parent.info.run_id)
        raise
    # Only a job that finished everything above may move the alias.
    if decision.promote:
        registry.move_champion(ws, client, use_case, version, action="promote", reason=decision.reason,
                               run_id=parent.info.run_id, details=_ledger_details(details))
    tracking.end_run(status="FINISHED")
    champ = registry.champion_version(client, use_case)
    clock.t["job"] = time.perf_counter() - t_job
    log(f"[{use_case}] winner {best.name} registered as version {version}; "
        f"{'promoted to champion' if decision.promote else 'not promoted'}: {decision.reason}")
    bundles = {"registered": registered, **{c.name: c.twin for c in tested}}
    return JobResult(use_case, exp_id, parent.info.run_id, [c.to_json() for c in results.values()], mod.PRIMARY,
                     best.name, version, registered_run, cfg.refit, decision.promote, decision.reason,
                     str(champ.version) if champ else None, _ledger_details(details), clock.t, bundles)


def _gate(use_case: str, mod, cfg: TrainConfig, data: Data, best: Candidate, client, fingerprint: str,
          accept_contract_change: bool, log) -> tuple[gate.Decision, dict]:
    """Compare the challenger (the chosen candidate's evaluated twin) with the champion on the
    same test part, by a paired bootstrap of the primary metric.

    The champion is scored as deployed when it never saw the test part (its training window
    ends before the part starts: newer data has arrived since). Otherwise (retraining on data it
    was fit on) scoring it there would flatter it, or, for a recommender that never recommends
    what it was fit on, sink it; its recipe (estimator and hyperparameters, and what its own
    selection chose, such as a fraud threshold) is then refit on exactly the rows the twin saw.
    A champion trained on another feature contract cannot be scored on this frame: promotion
    is refused unless ``accept_contract_change`` (recorded in the ledger)."""
    statistic = getattr(mod, "statistic", None) or (lambda u: float(u[mod.PRIMARY].mean()))
    promo = cfg.promotion
    current = registry.champion_version(client, use_case)
    if current is None:
        return gate.decide(mod.PRIMARY, best.metrics, None, None, None, statistic, promo.margin, promo.guards), {}
    theirs = current.tags.get("feature_fingerprint")
    if theirs != fingerprint:
        change = f"the champion v{current.version} was trained on another feature contract ({theirs} -> {fingerprint})"
        if not accept_contract_change:
            return gate.Decision(False, f"{change}; not compared and not promoted: rerun with "
                                        f"--accept-contract-change to promote this model", None, None, None), \
                {"contract_change": True}
        return gate.Decision(True, f"{change}; promoted without comparison (--accept-contract-change)",
                             None, None, None), {"contract_change": True, "accepted": True}
    champion = load_bundle(f"models:/{current.name}/{current.version}")
    test_start = data.part("test")[TS].min() if TS in data.frame.columns else None
    ended = current.tags.get("window_end")
    if test_start is not None and ended not in (None, "", "None", "NaT") and pd.Timestamp(ended) < test_start:
        basis = f"champion v{current.version} as deployed"
    else:
        champion = twin_of(champion, data, cfg)
        basis = f"champion v{current.version}'s recipe refit on the same rows"
    log(f"[{use_case}] gate: scoring {basis} on the test part")
    champion_metrics, _ = mod.evaluate(champion, data, cfg, "test")
    decision = gate.decide(mod.PRIMARY, best.metrics, champion_metrics, mod.units(best.twin, data, cfg, "test"),
                           mod.units(champion, data, cfg, "test"), statistic, promo.margin, promo.guards,
                           n_resamples=promo.resamples, confidence=promo.confidence)
    decision = replace(decision, reason=f"{decision.reason} [{basis}]")
    return decision, {"basis": basis, "champion_version": str(current.version), "champion_metrics": champion_metrics,
                      "difference": decision.difference, "low": decision.low, "high": decision.high}


def twin_of(bundle: ModelBundle, data: Data, cfg: TrainConfig) -> ModelBundle:
    """``bundle``'s recipe (its estimator's hyperparameters and what its selection chose, such as
    a fraud threshold) refit on the rows before the test part: the model that can be scored on
    that part honestly, whatever data ``bundle`` itself was fit on."""
    est, _ = task(bundle.use_case).fit(clone(bundle.estimator), data, cfg, "test", bundle.params)
    return replace(bundle, estimator=est)


def _ledger_details(details: dict) -> dict:
    return {k: v for k, v in details.items() if k != "champion_metrics"}


def _best(primary: str, results: list[Candidate]) -> Candidate:
    """The candidate with the best *validation* figure of ``primary`` (the test part never chooses)."""
    sign = -1 if primary in gate.LOWER_IS_BETTER else 1
    scored = [r for r in results if r.validation_metrics.get(primary) == r.validation_metrics.get(primary)]  # drop NaN
    if not scored:
        raise PomonaError(f"no candidate produced a validation {primary}")
    return max(scored, key=lambda r: sign * r.validation_metrics[primary])


def _log_fit(est, bundle_params: dict) -> None:
    """A fitted candidate's hyperparameters (``model.*``) and scoring parameters (``scoring.*``)."""
    tracking.log_params({f"model.{k}": _short(v) for k, v in est.get_params().items()})
    tracking.log_params({f"scoring.{k}": v for k, v in bundle_params.items()})


def _short(v) -> str:
    text = str(v) if not inspect.isclass(v) else v.__name__
    return text[:250]
