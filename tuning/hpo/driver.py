"""Hyperparameter optimisation of the aws-hrnn recipe on Ray Tune (``performHPO: true``).

The request's ``hpoConfig`` maps onto Tune one to one:

* ``integerHyperParameterRanges`` -> ``tune.randint(min, max + 1)`` (Tune's upper bound is exclusive, the
  service's is inclusive), ``continuousHyperParameterRanges`` -> ``tune.uniform(min, max)``,
  ``categoricalHyperParameterRanges`` -> ``tune.choice(values)`` (wire strings, ``"true"``/``"false"``).
* ``maxNumberOfTrainingJobs`` -> ``num_samples`` (trials in all); ``maxParallelTrainingJobs`` ->
  ``max_concurrent_trials`` (an upper bound: concurrency is also limited by the cluster's resources).
* ``hpoObjective`` -> Tune's ``metric``/``mode`` (default ``normalized_discounted_cumulative_gain_at_10``,
  ``max``, chosen by measurement: ``tuning.request.model.DEFAULT_OBJECTIVE_METRIC``).

Decisions (where the service is silent):

* **Searcher: Optuna's TPE, seeded, independent of timing** (:mod:`.search`). TPE is a Bayesian method
  that handles the recipe's mixed space (two integer ranges and one categorical) natively. Trial ``i`` is
  suggested from the results of trials ``0 .. i-P`` and the parameters of the ``P-1`` before it (constant
  liar), with a sampler seeded by ``(seed, i)``, so two runs of one request and seed try the same trials
  and give the same ``tunedHPOParams`` however the trials interleave; a configuration is not tried twice
  while unseen ones remain. The start-up (random) count is ``clamp(maxNumberOfTrainingJobs // 2, 1, 10)``.
* **Early stopping** (``early_stopping``, :mod:`.stopping`; None: every trial trains its ``epochs``, as a
  service training job does): successive halving over epochs, ASHA's rule, decided from the trials that
  finished before a trial started, so the same request and seed stop the same trials at the same epochs.
  A trial's objective and model are those after its last epoch (the one it stopped after, if stopped); a
  stopped trial is the best only when that objective is the best. The objective is scored on validation
  interactions carved out of the training users (``hrnn.splits.hpo_splits``); the test users are never
  seen here.
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
  retried from its last checkpoint (``max_failures``, default 1). A driver that was killed or stopped
  resumes when the same call runs again (same ``storage`` and ``name``): the experiment's JSON record
  (:mod:`.state`) keeps the finished trials, unfinished ones restart from their last checkpoint in a new
  Tune run (``attempt-<k>``), and the searcher recomputes the rest. **Nothing Tune wrote is read back**:
  no ``Tuner.restore``, no pickled searcher or trial, no ``error.pkl`` (see :mod:`.state` for why). A
  re-run with a different request, seed or epoch cap under the same name is refused, and the record is
  left as it was.
* **Signals.** SIGINT or SIGTERM (:mod:`tuning.interrupts`) stops the Tune run: trials stop, the record
  keeps them unfinished, and ``run_hpo`` raises :class:`tuning.interrupts.Stopped`.
* **Time.** A trial's ``seconds`` is its wall time inside the trial function (data preparation, training
  and validation scoring), carried across retries through the checkpoint (work an attempt lost after its
  last checkpoint is not counted; actor start-up is not counted); ``trainingHours`` is the sum over trials
  / 3600 (wall-clock hours summed over trials: this project's reading of the service's ``trainingHours``).
* **Output.** Tune's console reporter is off; unless ``quiet``, one line per trial result, and after each
  finished trial ``k/N trials`` with the best objective so far and an ETA, go to ``progress_stream``.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

from hrnn.data import InteractionData
from hrnn.data.splits import HPOSplits
from hrnn.errors import InvalidInputException

from .. import interrupts
from ..ray_env import TrialResources, cluster_trial_resources, init_ray, object_store_bytes, set_ray_environment
from ..request import SolutionRequest
from .book import INDEX, Book, tune_plugins
from .fingerprint import fingerprint, storage_path
from .progress import Progress
from .results import HPOResult, collect_results
from .state import ExperimentState, StateFile, trial_name
from .stopping import EarlyStopping
from .trial import EpochHook, hpo_trial


def run_hpo(data: InteractionData, splits: HPOSplits, request: SolutionRequest, *, storage: str, name: str,
            seed: int = 42, gpus_per_trial: float | None = None, cpus_per_trial: int = 1,
            max_epochs: int | None = None, quiet: bool = False, progress_stream: TextIO | None = None,
            storage_filesystem=None, max_failures: int = 1, best_checkpoint_dir: str | None = None,
            epoch_hook: EpochHook | None = None, early_stopping: EarlyStopping | None = None) -> HPOResult:
    """Run (or resume) the request's HPO as the experiment ``storage/name``; see the module docstring.

    ``storage`` is an absolute (or relative, made absolute) local path, or a URI pyarrow understands
    (``s3://``, ``gs://``; pass ``storage_filesystem`` for anything else). On a multi-node cluster it must be
    reachable from every node. ``best_checkpoint_dir`` (default: ``<experiment>/best_checkpoint`` for local
    storage, a new temporary directory otherwise) receives the best trial's ``checkpoint.pt``.
    ``progress_stream`` (default ``sys.stderr``) gets the progress lines unless ``quiet``.
    ``gpus_per_trial`` above 1 reserves more GPUs but a trial trains on one device (``cuda:0``).
    ``epoch_hook(epoch, trial_id)`` (picklable) runs in the trial after each epoch, before its report.
    ``early_stopping`` stops trials on its rungs (part of the experiment's identity, like the seed).
    A finished experiment is collected without starting Ray; a local Ray this call started is shut down
    before it returns (the memory goes back to what runs next, such as the final refit).

    Resume after a crash or a signal: run the same call again. Trial worker processes of a SIGKILLed
    *local* driver can outlive it for a while; make sure they are gone first
    (``tuning.ray_env.ray_processes(temp_dir)`` finds them by the old Ray temp dir).
    """
    hpo = request.hpo
    if hpo is None or not request.perform_hpo:
        raise InvalidInputException("run_hpo needs a request with performHPO true and an hpoConfig.")
    if not name or "/" in name or name in (".", ".."):
        raise InvalidInputException(f"Invalid HPO experiment name {name!r}: give a non-empty name without '/'.")
    if max_epochs is not None and max_epochs < 1:
        raise InvalidInputException(f"max_epochs must be at least 1, got {max_epochs!r}.")
    progress_stream = progress_stream or sys.stderr
    root, is_local = storage_path(storage)
    experiment = (os.path.join(root, name) if is_local else f"{root}/{name}", storage_filesystem)
    file = StateFile(*experiment)
    state = _load_state(file, request, seed, max_epochs, early_stopping)  # refuses another one before Ray starts
    epochs = request.hyperparameters.epochs if max_epochs is None else min(request.hyperparameters.epochs, max_epochs)
    done = sum(t.finished for t in state.trials)
    progress = Progress(None if quiet else progress_stream, hpo.max_number_of_training_jobs, done)
    book = Book(state, file, hpo, seed, epochs, progress, early_stopping)
    if not book.done():
        set_ray_environment()
        started = init_ray(object_store_memory=object_store_bytes(_nbytes(data) + _nbytes(splits)), quiet=quiet)
        try:
            resources = cluster_trial_resources(gpus_per_trial, cpus_per_trial)
            if not quiet:
                _announce(progress_stream, state, done, experiment[0], hpo, resources, early_stopping, epochs)
            state.attempts += 1
            book.save()
            trainable = _trainable(data, splits, request, resources, max_epochs, epoch_hook, experiment)
            _fit(_tuner(book, trainable, experiment, f"attempt-{state.attempts}", max_failures))
        finally:
            if started:
                _shutdown_ray()
    elif not quiet:
        progress_stream.write(f"[hpo] {experiment[0]}: all {done} trials had finished\n")
        progress_stream.flush()
    stopped = interrupts.requested()
    if stopped is not None and not book.done():
        raise interrupts.Stopped(stopped)
    return collect_results(state, request, request.hyperparameters, experiment, is_local, best_checkpoint_dir)


def _announce(stream: TextIO, state: ExperimentState, done: int, path: str, hpo, resources: TrialResources,
              early_stopping: EarlyStopping | None, epochs: int) -> None:
    if state.trials:
        stream.write(f"[hpo] resuming {path}: {done} of {len(state.trials)} trials finished\n")
    if early_stopping is None:
        stopping = "no early stopping"
    else:
        rungs = ", ".join(map(str, early_stopping.milestones(epochs))) or "none below the last epoch"
        stopping = (f"early stopping at epochs {rungs} (keeps the best 1/{early_stopping.reduction_factor}"
                    + (f", {early_stopping.brackets} brackets" if early_stopping.brackets > 1 else "") + ")")
    stream.write(
        f"[hpo] {hpo.max_number_of_training_jobs} trials, at most {hpo.max_parallel_training_jobs} at once, "
        f"{resources.cpu:g} CPU + {resources.gpu:g} GPU each; objective {hpo.objective_metric} ({hpo.mode}); "
        f"{stopping}; {path}\n")
    stream.flush()


def _shutdown_ray() -> None:
    import ray

    ray.shutdown()


def _load_state(file: StateFile, request: SolutionRequest, seed: int, max_epochs: int | None,
                early_stopping: EarlyStopping | None) -> ExperimentState:
    """The experiment's record, or a new one; one of another request, seed, epoch cap or early-stopping rule
    is refused."""
    digest = fingerprint(request, seed, max_epochs, early_stopping)
    if not file.exists():
        return ExperimentState(fingerprint=digest)  # written when its first run starts
    state = file.read(request.hpo)
    if state.fingerprint != digest:
        raise InvalidInputException(
            f"The HPO experiment {file.display.rsplit('/', 1)[0]} was started with a different request, seed, "
            "epoch cap or early stopping; it can only be resumed by the same ones. Use another name (or remove "
            "that directory) to start a new one.")
    return state


def _tuner(book: Book, trainable, experiment: tuple[str, object], attempt: str, max_failures: int):
    from ray import tune

    searcher, callback, stopper, scheduler = tune_plugins(book)
    path, fs = experiment
    hpo = book.hpo
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            metric=hpo.objective_metric, mode=hpo.mode, search_alg=searcher, scheduler=scheduler,
            num_samples=hpo.max_number_of_training_jobs, max_concurrent_trials=hpo.max_parallel_training_jobs,
            reuse_actors=True, trial_dirname_creator=_trial_dirname, trial_name_creator=_trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=attempt, storage_path=path, storage_filesystem=fs, verbose=0, callbacks=[callback], stop=stopper,
            failure_config=tune.FailureConfig(max_failures=max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        ),
    )


def _trial_dirname(trial) -> str:
    return trial_name(trial.config[INDEX])


QUIET_LOGGERS = ("ray.tune", "ray.train")


def _fit(tuner) -> None:
    """``tuner.fit()`` with Tune's INFO logging off and SIGINT/SIGTERM deferred to our stopper."""
    loggers = [logging.getLogger(n) for n in QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:  # Tune's INFO lines ("Wrote the latest version of all result files ...") are noise here
        lg.setLevel(max(lg.getEffectiveLevel(), logging.WARNING))
    try:
        with interrupts.deferred():
            tuner.fit()  # the result grid is not used: the record (book) holds everything
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _trainable(data, splits, request: SolutionRequest, resources: TrialResources, max_epochs, epoch_hook, experiment):
    from ray import tune

    fn = tune.with_parameters(hpo_trial, data=data, splits=splits, base=request.hyperparameters,
                              cpus=resources.cpu, gpu_fraction=resources.gpu, max_epochs=max_epochs,
                              experiment=experiment, epoch_hook=epoch_hook)
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
