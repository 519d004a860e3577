"""CreateSolutionVersion: train (``performHPO: false``) or tune (``performHPO: true``) on an Interactions file
and write the results the way the service reports them.

Status moves ``CREATE PENDING`` -> ``CREATE IN_PROGRESS`` -> ``ACTIVE``, or ``CREATE FAILED`` with a
``failureReason``; every file is written atomically, so a reader never sees a half-written one. A version
whose process died while ``CREATE IN_PROGRESS`` is resumed (same version id, same Ray experiment) when
the same command runs again.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch

from hrnn.artifact import save_model
from hrnn.data import DataConfig, load_interactions
from hrnn.data.splits import hpo_splits, service_split
from hrnn.errors import ServiceError
from hrnn.evaluation import SERVICE_METRIC_NAMES, HRNNScorer, evaluate_service
from hrnn.model import ModelConfig
from hrnn.training import CHECKPOINT_NAME, TrainConfig, Trainer, fit

from .report import write_report
from .request import SolutionRequest, parse_create_solution
from .workspace import VersionFiles, Workspace, solution_arn, version_arn

PENDING, IN_PROGRESS, ACTIVE, FAILED = "CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE", "CREATE FAILED"


@dataclass
class RunOptions:
    device: str = "auto"
    quiet: bool = False
    gpus_per_trial: float | None = None
    cpus_per_trial: int = 1
    max_epochs: int | None = None  # cap every trial's epochs (tests, quick looks)
    storage: str | None = None  # Ray Tune storage path or URI; default: inside the version directory


def create_solution_version(workspace: Workspace, solution_arn_: str, interactions: str | os.PathLike,
                            options: RunOptions = RunOptions()) -> str:
    """Run a whole solution version synchronously and return its ARN (also when it failed: describe it)."""
    name, raw_request = workspace.load_solution(solution_arn_)
    request = parse_create_solution(raw_request)
    interactions = str(Path(interactions).resolve())
    version, resumed = _claim_version(workspace, name, interactions)
    arn = version_arn(name, version.id)
    status = _StatusFile(version, _describe_base(request, name, arn, raw_request))
    if not resumed:
        status.write(PENDING, interactions=interactions)
    try:
        status.write(IN_PROGRESS, interactions=interactions, pid=os.getpid())
        outcome = _train_or_tune(request, interactions, version, arn, options)
        status.write(ACTIVE, interactions=interactions, trainingHours=round(outcome["seconds"] / 3600.0, 6),
                     tunedHPOParams=outcome.get("tuned"))
    except ServiceError as exc:
        status.write(FAILED, interactions=interactions, failureReason=exc.message)
        raise
    except KeyboardInterrupt:
        status.write(FAILED, interactions=interactions, failureReason="Stopped by the user (interrupted).")
        raise
    except Exception as exc:  # an unexpected failure still leaves a described, failed version
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        status.write(FAILED, interactions=interactions, failureReason=f"Internal error: {detail}")
        raise
    write_report(version)  # outside the try: a report problem must not fail an ACTIVE version
    return arn


def _claim_version(workspace: Workspace, name: str, interactions: str) -> tuple[VersionFiles, bool]:
    """Resume this solution's latest version if it is in progress on the same file and its process is gone."""
    for version in reversed(workspace.versions(name)):
        described = version.read_describe()
        if described["status"] in (PENDING, IN_PROGRESS) and described.get("interactions") == interactions:
            if not _alive(described.get("pid")):
                return version, True
        break
    version = workspace.version(name, secrets.token_hex(4))
    version.path.mkdir(parents=True, exist_ok=False)
    return version, False


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _describe_base(request: SolutionRequest, name: str, arn: str, raw_request: dict) -> dict:
    base = {
        "name": version_name(arn),
        "solutionVersionArn": arn,
        "solutionArn": solution_arn(name),
        "recipeArn": request.recipe.recipe_arn,
        "performHPO": request.perform_hpo,
        "performAutoML": request.perform_automl,
        "trainingMode": "FULL",
        "solutionConfig": request.solution_config,
    }
    if request.event_type:
        base["eventType"] = request.event_type
    if request.dataset_group_arn:
        base["datasetGroupArn"] = request.dataset_group_arn
    return base


def version_name(arn: str) -> str:
    return arn.rsplit("/", 2)[-2] + "-" + arn.rsplit("/", 1)[-1]


class _StatusFile:
    def __init__(self, version: VersionFiles, base: dict):
        self.version = version
        self.base = base
        previous = version.read_describe() if version.exists() else {}
        self.created = previous.get("creationDateTime", time.time())

    def write(self, status: str, **fields) -> None:
        described = {**self.base, "status": status, "creationDateTime": self.created,
                     "lastUpdatedDateTime": time.time()}
        described.update({k: v for k, v in fields.items() if v is not None})
        self.version.write_describe(described)


def data_config(request: SolutionRequest) -> DataConfig:
    return DataConfig.from_hyperparameters(request.hyperparameters, event_type=request.event_type,
                                           event_value_threshold=request.event_value_threshold)


def _train_or_tune(request: SolutionRequest, interactions: str, version: VersionFiles, arn: str,
                   options: RunOptions) -> dict:
    data = load_interactions(interactions, data_config(request))
    seed = request.hyperparameters.seed
    if not options.quiet:
        s = data.summary()
        sys.stderr.write(f"data: {s['interactions']:,} interactions, {s['users']:,} users, "
                         f"{s['items']:,} items, {s['sessions']:,} sessions\n")
    if request.perform_hpo:
        from .hpo import run_hpo  # Ray is imported only when a search runs

        splits = hpo_splits(data, seed)
        storage = options.storage or str(version.tune_storage)
        result = run_hpo(data, splits, request, storage=storage, name=f"hpo-{version.id}", seed=seed,
                         gpus_per_trial=options.gpus_per_trial, cpus_per_trial=options.cpus_per_trial,
                         max_epochs=options.max_epochs, quiet=options.quiet)
        best_hp = result.best_hyperparameters  # every recipe hyperparameter of the best trial, typed
        wire = best_hp.to_wire()
        trainer = Trainer.create(ModelConfig.from_hyperparameters(best_hp, data.n_items),
                                 TrainConfig.from_hyperparameters(best_hp, options.device))
        trainer.load_checkpoint(Path(result.best_checkpoint) / CHECKPOINT_NAME)
        train = data.take(splits.train)
        test = splits.test
        trials = [_trial_row(t) for t in result.trials]
        trial_seconds = result.training_seconds
        tuned = result.tuned_hpo_params()
    else:
        wire = request.hyperparameters.to_wire()
        tuned = None
        split = service_split(data, seed)
        train = data.take(split.train)
        test = split.holdout
        fit_started = time.perf_counter()
        fitted = fit(train, request.hyperparameters, device=options.device, quiet=options.quiet,
                     max_epochs=options.max_epochs, checkpoint_dir=version.checkpoint)
        trainer = fitted.trainer
        trial_seconds = time.perf_counter() - fit_started
        trials = [{"trial_id": "single", **request.algorithm_hyperparameters_wire(), "objective": None,
                   "seconds": round(trial_seconds, 3), "device": str(trainer.device), "status": "TERMINATED",
                   "history": fitted.epochs}]
    timeout = 60.0 * request.hyperparameters.session_timeout_minutes
    scorer = HRNNScorer(trainer.model, trainer.device, item_mask=torch.as_tensor(train.item_counts() > 0),
                        session_timeout_seconds=timeout)
    metrics = evaluate_service(scorer, data, test)
    save_model(version.model, trainer.model, data, train, wire,
               {"train_config": trainer.config.to_dict(), "history": trainer.history,
                "interactions": interactions, "data": data.summary()},
               session_timeout_seconds=timeout, device=trainer.device)
    version.write_metrics(arn, {k: round(float(metrics[k]), 6) for k in SERVICE_METRIC_NAMES})
    version.write_trials(trials)
    shutil.rmtree(version.checkpoint, ignore_errors=True)
    return {"seconds": trial_seconds, "tuned": tuned}


def _trial_row(trial) -> dict:
    return {
        "trial_id": trial.trial_id,
        **trial.params,
        "objective": trial.objective,
        **{k: trial.metrics.get(k) for k in SERVICE_METRIC_NAMES},
        "epochs": trial.epochs,
        "seconds": round(trial.seconds, 3),
        "device": trial.device,
        "node": trial.node,
        "status": trial.status,
        "history": trial.history,
    }
