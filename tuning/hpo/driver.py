"""Hyperparameter optimisation of the aws-hrnn recipe on Ray Tune (``performHPO: true``).

The request's ``hpoConfig`` maps onto Tune one to one:

* ``integerHyperParameterRanges`` -> ``tune.randint(min, max + 1)`` (Tune's upper bound is exclusive, the
  service's is inclusive), ``continuousHyperParameterRanges`` -> ``tune.uniform(min, max)``,
  ``categoricalHyperParameterRanges`` -> ``tune.choice(values)`` (wire strings, ``"true"``/``"false"``).
* ``maxNumberOfTrainingJobs`` -> ``num_samples`` (trials in all); ``maxParallelTrainingJobs`` ->
  ``max_concurrent_trials`` (an upper bound: concurrency is also limited by the cluster's resources).
* ``hpoObjective`` -> Tune's ``metric``/``mode`` (default ``precision_at_25``, ``max``; PERSONALIZE.md 3.3).

Decisions (where the service is silent):

* **Searcher: Optuna's TPE, seeded** (``OptunaSearch`` with ``TPESampler(seed=seed)``). TPE is a
  Bayesian method that handles the recipe's mixed space (two integer ranges and one categorical)
  natively, without relaxing integers to floats or one-hot encoding categories; it is seeded, so a
  request and a seed give the same first suggestions; and Tune wraps it in a ``ConcurrencyLimiter`` by
  itself when ``max_concurrent_trials`` is set (we must not wrap it again). Optuna's default of 10 random
  start-up trials would make every run of <= 10 jobs a pure random search, so the start-up count is
  ``clamp(maxNumberOfTrainingJobs // 2, 1, 10)``; Optuna 5's TPE uses the constant-liar strategy by
  default, so parallel suggestions do not pile onto the same point.
* **No early stopping** (FIFO scheduler): a training job trains for its ``epochs``, as a service training
  job does; a trial's objective and model are those after its last epoch. The objective is scored on
  validation users carved out of the training users (``hrnn.splits.hpo_splits``); the test users are
  never seen here.
* **Fixed hyperparameters** (``request.hyperparameters``, every recipe hyperparameter, typed) go to every
  trial; the searched ones override them.
* **GPUs.** ``gpus_per_trial=None``: one GPU per trial when the cluster has GPUs, else CPU. A trial trains
  on ``cuda:0`` (the first device Ray made visible) only when Ray assigned it a GPU *and* torch sees CUDA;
  otherwise on ``cpu`` (a ``gpu: 0`` trial on a GPU node would see every GPU, so torch's view alone is not
  enough). Fractions (``0.5``) pack trials on one GPU; the trial then caps its share of the GPU's memory
  with ``torch.cuda.set_per_process_memory_fraction``. **Asking for GPUs the cluster does not have raises
  ``InvalidInputException``** before anything starts (Tune would keep the trials PENDING forever; a
  silent fallback to CPU would hide a misconfigured cluster from someone who explicitly asked for GPUs).
* **Faults.** Every epoch is reported with a checkpoint (only the latest is kept). A trial that raises is
  retried from its last checkpoint (``max_failures``, default 1). A driver that was killed resumes when the
  same call runs again (same ``storage`` and ``name``): ``Tuner.restore(..., resume_errored=True)``;
  finished trials are kept, running ones continue from their checkpoints, the searcher's state is
  restored. A re-run with a different request or seed under the same name is refused. Before restoring,
  a checkpoint that Tune's saved state names but already deleted is put back from the trial's newer one
  (``tune_state_repair``: a Tune race, reproduced by killing the driver right after a checkpoint).
* **Time.** A trial's ``seconds`` is its wall time inside the trial function (data preparation, training
  and validation scoring), carried across retries through the checkpoint (work an attempt lost after its
  last checkpoint is not counted; actor start-up is not counted); ``trainingHours`` is the sum over trials
  / 3600 (PERSONALIZE.md 8: wall-clock hours summed over trials).
* **Output.** Tune's console reporter is off; unless ``quiet``, one line per trial result goes to
  ``progress_stream``.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import TextIO

from hrnn.data import InteractionData
from hrnn.data.splits import HPOSplits
from hrnn.errors import InvalidInputException

from ..ray_env import TrialResources, cluster_trial_resources, init_ray, object_store_bytes, set_ray_environment
from ..request import HPOConfig, SolutionRequest
from .fingerprint import check_fingerprint, fingerprint, storage_path, write_fingerprint
from .progress import PROGRESS, progress_callback, trial_dirname
from .results import HPOResult, collect_results
from .search import make_searcher, search_space
from .trial import EpochHook, hpo_trial
from .tune_state_repair import repair_checkpoints


def run_hpo(data: InteractionData, splits: HPOSplits, request: SolutionRequest, *, storage: str, name: str,
            seed: int = 42, gpus_per_trial: float | None = None, cpus_per_trial: int = 1,
            max_epochs: int | None = None, quiet: bool = False, progress_stream: TextIO | None = None,
            storage_filesystem=None, max_failures: int = 1, best_checkpoint_dir: str | None = None,
            epoch_hook: EpochHook | None = None) -> HPOResult:
    """Run (or resume) the request's HPO as the Tune experiment ``storage/name``; see the module docstring.

    ``storage`` is an absolute (or relative, made absolute) local path, or a URI pyarrow understands
    (``s3://``, ``gs://``; pass ``storage_filesystem`` for anything else). On a multi-node cluster it must be
    reachable from every node. ``best_checkpoint_dir`` (default: ``<experiment>/best_checkpoint`` for local
    storage, a new temporary directory otherwise) receives the best trial's ``checkpoint.pt``.
    ``progress_stream`` (default ``sys.stderr``) gets one line per trial result unless ``quiet``.
    ``gpus_per_trial`` above 1 reserves more GPUs but a trial trains on one device (``cuda:0``).
    ``epoch_hook(epoch, trial_id)`` (picklable) runs in the trial after each epoch, before its report.

    Resume after a crash: run the same call again. Trial worker processes of a SIGKILLed *local* driver
    can outlive it for a while and keep writing checkpoints; make sure they are gone first
    (``tuning.ray_env.ray_processes(temp_dir)`` finds them by the old Ray temp dir).
    """
    hpo = request.hpo
    if hpo is None or not request.perform_hpo:
        raise InvalidInputException("run_hpo needs a request with performHPO true and an hpoConfig.")
    if not name or "/" in name or name in (".", ".."):
        raise InvalidInputException(f"Invalid HPO experiment name {name!r}: give a non-empty name without '/'.")
    progress_stream = progress_stream or sys.stderr
    set_ray_environment()
    init_ray(object_store_memory=object_store_bytes(_nbytes(data) + _nbytes(splits)), quiet=quiet)
    resources = cluster_trial_resources(gpus_per_trial, cpus_per_trial)
    root, is_local = storage_path(storage)
    experiment = Experiment(
        path=os.path.join(root, name) if is_local else f"{root}/{name}", root=root, name=name,
        filesystem=storage_filesystem, fingerprint=fingerprint(request, seed, max_epochs))
    trainable = _trainable(data, splits, request, resources, max_epochs, epoch_hook)
    tuner, resumed = _tuner(experiment, trainable, hpo, seed, max_failures)
    if not quiet:
        if resumed:
            progress_stream.write(f"[hpo] resuming {experiment.path}\n")
        progress_stream.write(
            f"[hpo] {hpo.max_number_of_training_jobs} trials, at most {hpo.max_parallel_training_jobs} at once, "
            f"{resources.cpu:g} CPU + {resources.gpu:g} GPU each; objective {hpo.objective_metric} ({hpo.mode}); "
            f"{experiment.path}\n")
        progress_stream.flush()
    grid = _fit(tuner, None if quiet else progress_stream)
    return collect_results(grid, request, request.hyperparameters, experiment.path, is_local, best_checkpoint_dir)


@dataclass(frozen=True)
class Experiment:
    path: str  # storage root / name
    root: str
    name: str
    filesystem: object  # a pyarrow filesystem, or None to infer it from the path
    fingerprint: dict


def _tuner(experiment: Experiment, trainable, hpo: HPOConfig, seed: int, max_failures: int):
    """(Tuner, resumed): Tune's restore of an existing experiment of the same request, else a new one."""
    from ray import tune

    fs, path = experiment.filesystem, experiment.path
    if tune.Tuner.can_restore(path, storage_filesystem=fs):
        check_fingerprint(path, fs, experiment.fingerprint)
        repair_checkpoints(path, fs)
        # param_space again (the same one): if Tune cannot read the saved run state (a driver killed while
        # writing it leaves a truncated experiment_state-*.json), it logs the error and starts new trials
        # from this space instead of failing with "no search space has been defined".
        return tune.Tuner.restore(path, trainable, resume_unfinished=True, resume_errored=True,
                                  param_space=search_space(hpo), storage_filesystem=fs), True
    write_fingerprint(path, fs, experiment.fingerprint)
    return tune.Tuner(
        trainable,
        param_space=search_space(hpo),
        tune_config=tune.TuneConfig(
            metric=hpo.objective_metric, mode=hpo.mode, search_alg=make_searcher(hpo, seed),
            num_samples=hpo.max_number_of_training_jobs, max_concurrent_trials=hpo.max_parallel_training_jobs,
            reuse_actors=True, trial_dirname_creator=trial_dirname, trial_name_creator=trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=experiment.name, storage_path=experiment.root, storage_filesystem=fs, verbose=0,
            callbacks=[progress_callback(hpo.objective_metric)],
            failure_config=tune.FailureConfig(max_failures=max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        ),
    ), False


def _fit(tuner, progress_stream: TextIO | None):
    """``tuner.fit()`` with our progress lines on ``progress_stream`` and Tune's INFO logging off."""
    PROGRESS["stream"] = progress_stream
    loggers = [logging.getLogger(n) for n in ("ray.tune", "ray.train")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:  # Tune's INFO lines ("Wrote the latest version of all result files ...") are noise here
        lg.setLevel(max(lg.getEffectiveLevel(), logging.WARNING))
    try:
        return tuner.fit()
    finally:
        PROGRESS["stream"] = None
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _trainable(data, splits, request: SolutionRequest, resources: TrialResources, max_epochs, epoch_hook):
    from ray import tune

    fn = tune.with_parameters(hpo_trial, data=data, splits=splits, base=request.hyperparameters,
                              cpus=resources.cpu, gpu_fraction=resources.gpu, max_epochs=max_epochs,
                              epoch_hook=epoch_hook)
    return tune.with_resources(fn, resources.as_dict())


def _nbytes(obj) -> int:
    """Bytes of the numpy/arrow arrays in a dataclass (the size of what goes to the object store)."""
    total = 0
    for value in vars(obj).values():
        if hasattr(value, "nbytes"):
            total += int(value.nbytes)
        elif hasattr(value, "__dataclass_fields__"):
            total += _nbytes(value)
    return total
