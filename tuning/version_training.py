"""The work of a solution version: load the interactions, train one model or tune, evaluate on the test
users, and write the model, metrics and trials (the lifecycle around it is :mod:`.solution_version`)."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import torch

from hrnn.artifact import save_model
from hrnn.data import DataConfig, load_interactions
from hrnn.data.splits import hpo_splits, service_split
from hrnn.evaluation import SERVICE_METRIC_NAMES, HRNNScorer, evaluate_service
from hrnn.model import ModelConfig
from hrnn.training import CHECKPOINT_NAME, TrainConfig, Trainer, fit

from .progress import EpochProgress
from .request import SolutionRequest
from .run_options import RunOptions, engine_settings
from .workspace import VersionFiles


def data_config(request: SolutionRequest) -> DataConfig:
    return DataConfig.from_hyperparameters(request.hyperparameters, event_type=request.event_type,
                                           event_value_threshold=request.event_value_threshold)


def train_or_tune(request: SolutionRequest, interactions: str, version: VersionFiles, arn: str,
                  options: RunOptions) -> dict:
    """Everything but the status; returns ``{"seconds": training seconds, "tuned": tunedHPOParams or None}``."""
    data = load_interactions(interactions, data_config(request))
    seed = request.hyperparameters.seed
    if not options.quiet:
        s = data.summary()
        sys.stderr.write(f"data: {s['interactions']:,} interactions, {s['users']:,} users, "
                         f"{s['items']:,} items, {s['sessions']:,} sessions\n")
    if request.perform_hpo:
        trainer, train, test, trials, seconds, tuned, wire = _tune(request, data, version, options, seed)
    else:
        trainer, train, test, trials, seconds = _train(request, data, version, options, seed)
        tuned, wire = None, request.hyperparameters.to_wire()
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
    return {"seconds": seconds, "tuned": tuned}


def _tune(request: SolutionRequest, data, version: VersionFiles, options: RunOptions, seed: int):
    from .hpo import run_hpo  # Ray is imported only when a search runs

    splits = hpo_splits(data, seed)
    storage = options.storage or str(version.tune_storage)
    result = run_hpo(data, splits, request, storage=storage, name=f"hpo-{version.id}", seed=seed,
                     gpus_per_trial=options.gpus_per_trial, cpus_per_trial=options.cpus_per_trial,
                     max_epochs=options.max_epochs, quiet=options.quiet)
    best_hp = result.best_hyperparameters  # every recipe hyperparameter of the best trial, typed
    trainer = Trainer.create(ModelConfig.from_hyperparameters(best_hp, data.n_items),
                             TrainConfig.from_hyperparameters(best_hp, options.device))
    trainer.load_checkpoint(Path(result.best_checkpoint) / CHECKPOINT_NAME)
    trials = [trial_row(t) for t in result.trials]
    return (trainer, splits.training_data(data), splits.test, trials, result.training_seconds,
            result.tuned_hpo_params(), best_hp.to_wire())


def _train(request: SolutionRequest, data, version: VersionFiles, options: RunOptions, seed: int):
    split = service_split(data, seed)
    train = data.take(split.train)
    hp = request.hyperparameters
    total = hp.epochs if options.max_epochs is None else min(hp.epochs, options.max_epochs)
    progress = EpochProgress(total, quiet=options.quiet)
    started, started_at = time.perf_counter(), time.time()
    fitted = fit(train, hp, device=options.device, engine=engine_settings(), max_epochs=options.max_epochs,
                 checkpoint_dir=version.checkpoint, on_epoch=progress.epoch)
    progress.close()
    seconds = time.perf_counter() - started
    trials = [{"trial_id": "single", **request.algorithm_hyperparameters_wire(), "objective": None,
               "seconds": round(seconds, 3), "device": str(fitted.trainer.device), "status": "TERMINATED",
               "started_at": started_at, "ended_at": time.time(), "history": fitted.epochs}]
    return fitted.trainer, train, split.holdout, trials, seconds


def trial_row(trial) -> dict:
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
        "started_at": trial.started_at,
        "ended_at": trial.ended_at,
        "error": trial.error,
        "history": trial.history,
    }
