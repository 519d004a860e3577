"""The work of a solution version: load the interactions, train one model or tune (the search, then the final
refit), evaluate on the test users, and write the model, metrics and trials (the lifecycle around it is
:mod:`.solution_version`)."""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hrnn.artifact import save_model
from hrnn.data import DataConfig, InteractionData, load_interactions
from hrnn.data.splits import UserHoldout, hpo_splits, service_split
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


@dataclass
class Trained:
    """What a version's training produced: the model to serve and what it is evaluated and saved with."""

    trainer: Trainer
    train: InteractionData  # what the served model trained on (its item mask and popularity)
    test: UserHoldout  # the held-out test users
    trials: list[dict]  # trials.json's rows
    seconds: float  # trainingHours * 3600: every training that ran (trials and refit)
    wire: dict  # the served model's hyperparameters, as strings
    tuned: dict | None = None  # tunedHPOParams
    provenance: dict = field(default_factory=dict)  # model.json's record of where the model comes from


def train_or_tune(request: SolutionRequest, interactions: str, version: VersionFiles, arn: str,
                  options: RunOptions) -> dict:
    """Everything but the status; returns ``{"seconds": training seconds, "tuned": tunedHPOParams or None}``."""
    data = load_interactions(interactions, data_config(request))
    seed = request.hyperparameters.seed
    if not options.quiet:
        s = data.summary()
        sys.stderr.write(f"data: {s['interactions']:,} interactions, {s['users']:,} users, "
                         f"{s['items']:,} items, {s['sessions']:,} sessions\n")
    timeout = 60.0 * request.hyperparameters.session_timeout_minutes
    if request.perform_hpo:
        done = _tune(request, data, version, options, seed, interactions)
    else:
        done = _train(request, data, version, options, seed)
    scorer = HRNNScorer(done.trainer.model, done.trainer.device,
                        item_mask=torch.as_tensor(done.train.item_counts() > 0), session_timeout_seconds=timeout)
    metrics = evaluate_service(scorer, data, done.test)
    _save(version.model, done.trainer, data, done.train, done.wire, interactions, timeout, **done.provenance)
    version.write_metrics(arn, {k: round(float(metrics[k]), 6) for k in SERVICE_METRIC_NAMES})
    version.write_trials(done.trials)
    shutil.rmtree(version.checkpoint, ignore_errors=True)
    return {"seconds": done.seconds, "tuned": done.tuned}


def _save(directory: Path, trainer: Trainer, data, train, wire: dict, interactions: str, timeout: float,
          **provenance) -> None:
    save_model(directory, trainer.model, data, train, wire,
               {"train_config": trainer.config.to_dict(), "history": trainer.history,
                "interactions": interactions, "data": data.summary(), **provenance},
               session_timeout_seconds=timeout, device=trainer.device)


def _tune(request: SolutionRequest, data, version: VersionFiles, options: RunOptions, seed: int,
          interactions: str) -> Trained:
    """The search, then (``options.refit``) the final refit, whose model is served (the best trial's is kept
    in ``best_trial_model``); without the refit the best trial's model is served."""
    from .hpo import run_hpo  # Ray is imported only when a search runs
    from .hpo.refit import refit
    from .hpo.stopping import EarlyStopping

    splits = hpo_splits(data, seed)
    storage = options.storage or str(version.tune_storage)
    result = run_hpo(data, splits, request, storage=storage, name=f"hpo-{version.id}", seed=seed,
                     gpus_per_trial=options.gpus_per_trial, cpus_per_trial=options.cpus_per_trial,
                     max_epochs=options.max_epochs, quiet=options.quiet,
                     early_stopping=EarlyStopping() if options.early_stopping else None)
    best, best_hp = result.best, result.best_hyperparameters  # every recipe hyperparameter, typed
    trainer = Trainer.create(ModelConfig.from_hyperparameters(best_hp, data.n_items),
                             TrainConfig.from_hyperparameters(best_hp, options.device))
    trainer.load_checkpoint(Path(result.best_checkpoint) / CHECKPOINT_NAME)
    trial_train = splits.training_data(data)
    epochs = best.peak_epoch
    if not options.refit or not epochs:
        trials = [trial_row(t, "best" if t is best else "trial", "model" if t is best else None)
                  for t in result.trials]
        return Trained(trainer, trial_train, splits.test, trials, result.training_seconds, best_hp.to_wire(),
                       result.tuned_hpo_params(), {"trial": best.trial_id})
    _save(version.best_trial_model, trainer, data, trial_train, best_hp.to_wire(), interactions,
          60.0 * request.hyperparameters.session_timeout_minutes, trial=best.trial_id)
    if not options.quiet:
        sys.stderr.write(f"[refit] {best.trial_id}'s configuration on every training user's whole history (the "
                         f"validation interactions included), {epochs} epoch(s): where its objective peaked\n")
    progress = EpochProgress(epochs, quiet=options.quiet)
    done = refit(data, splits, best_hp, epochs, version.checkpoint, device=options.device, on_epoch=progress.epoch)
    progress.close()
    trials = [trial_row(t, "best" if t is best else "trial", version.best_trial_model.name if t is best else None)
              for t in result.trials]
    provenance = {"refit": {"of": best.trial_id, "epochs": epochs, "resumed_from": done.resumed_from,
                            "training_users": int(done.train.n_sequences),
                            "training_interactions": int(done.train.n_events)}}
    return Trained(done.trainer, done.train, splits.test, [*trials, refit_row(done, best)],
                   result.training_seconds + done.seconds, done.hyperparameters.to_wire(), result.tuned_hpo_params(),
                   provenance)


def _train(request: SolutionRequest, data, version: VersionFiles, options: RunOptions, seed: int) -> Trained:
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
    return Trained(fitted.trainer, train, split.holdout, trials, seconds, hp.to_wire())


def trial_row(trial, role: str = "trial", model: str | None = None) -> dict:
    """A row of trials.json/trials.csv. ``role``: "trial", "best" (the best trial) or "refit" (the final
    refit); ``model``: the version's directory holding that row's model, if any."""
    return {
        "trial_id": trial.trial_id,
        "role": role,
        **trial.params,
        "objective": trial.objective,
        **{k: trial.metrics.get(k) for k in SERVICE_METRIC_NAMES},
        "epochs": trial.epochs,
        "stopped_at_epoch": trial.stopped_at,
        "stop_reason": trial.stop_reason,
        "peak_epoch": trial.peak_epoch,
        "seconds": round(trial.seconds, 3),
        "device": trial.device,
        "node": trial.node,
        "status": trial.status,
        "started_at": trial.started_at,
        "ended_at": trial.ended_at,
        "error": trial.error,
        "model": model,
        "history": trial.history,
    }


def refit_row(done, best) -> dict:
    """The refit as a row of trials.json (the same columns as the trials'): it trained on the validation
    interactions, so it has no objective of its own."""
    return {
        "trial_id": "refit",
        "role": "refit",
        **best.params,
        "objective": None,
        **{k: None for k in SERVICE_METRIC_NAMES},
        "epochs": done.trainer.epoch,
        "stopped_at_epoch": None,
        "stop_reason": None,
        "peak_epoch": None,
        "seconds": round(done.seconds, 3),
        "device": str(done.trainer.device),
        "node": "",
        "status": "TERMINATED",
        "started_at": done.started_at,
        "ended_at": done.ended_at,
        "error": None,
        "model": "model",
        "history": done.epochs,
    }
