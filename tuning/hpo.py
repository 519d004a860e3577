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
  (``_repair_checkpoints``: a Tune race, reproduced by killing the driver right after a checkpoint).
* **Time.** A trial's ``seconds`` is its wall time inside the trial function (data preparation, training
  and validation scoring), carried across retries through the checkpoint (work an attempt lost after its
  last checkpoint is not counted; actor start-up is not counted); ``trainingHours`` is the sum over trials
  / 3600 (PERSONALIZE.md 8: wall-clock hours summed over trials).
* **Output.** Tune's console reporter is off; unless ``quiet``, one line per trial result goes to
  ``progress_stream``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from hrnn.data import InteractionData
from hrnn.data.splits import HPOSplits
from hrnn.errors import InvalidInputException, ServiceError
from hrnn.hyperparameters import HyperParameterValues
from hrnn.recipe import ALGORITHM, CATEGORICAL, CONTINUOUS, INTEGER
from hrnn.training import CHECKPOINT_NAME, Validation, fit

from .ray_env import TrialResources, cluster_trial_resources, init_ray, object_store_bytes, set_ray_environment
from .request import OFFLINE_METRICS, HPOConfig, SolutionRequest

TRIAL_STATE_NAME = "trial_state.json"  # next to checkpoint.pt in every reported checkpoint
FINGERPRINT_NAME = "hrnn_hpo_request.json"  # in the experiment directory: what this experiment was started with
BEST_CHECKPOINT_DIRNAME = "best_checkpoint"


class HPOError(ServiceError):
    """The HPO run produced no usable trial (every trial failed); ``message`` says why."""

    type_name = "HPOFailedException"


@dataclass
class TrialRecord:
    trial_id: str
    params: dict[str, str]  # the recipe's algorithm hyperparameters of this trial, as wire strings
    objective: float | None  # the objective metric after the trial's last epoch
    metrics: dict[str, float]  # every offline metric after the last epoch (validation users)
    epochs: int
    seconds: float  # wall time inside the trial, summed over retries
    device: str  # "cpu", "cuda:0 (CUDA_VISIBLE_DEVICES=1)", "cpu (CUDA_VISIBLE_DEVICES=0)" (GPU id, no CUDA)
    node: str  # Ray node id
    status: str  # "TERMINATED" | "ERROR"
    history: list[dict] = field(default_factory=list)  # one entry per report, in order (see _history)
    node_ip: str = ""
    cuda_visible_devices: str | None = None  # as Ray set it in the trial's process (None: not set)
    error: str | None = None
    started_at: float | None = None  # unix time the trial (its last attempt) started
    ended_at: float | None = None  # unix time of its last report

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class HPOResult:
    best: TrialRecord
    best_hyperparameters: HyperParameterValues  # every recipe hyperparameter of the best trial, typed
    best_checkpoint: str  # local directory holding the best trial's checkpoint.pt
    trials: list[TrialRecord]
    experiment_path: str

    @property
    def training_seconds(self) -> float:
        return float(sum(t.seconds for t in self.trials))

    @property
    def training_hours(self) -> float:
        return self.training_seconds / 3600.0

    @property
    def num_errors(self) -> int:
        return sum(t.status == "ERROR" for t in self.trials)

    def tuned_hpo_params(self) -> dict:
        """``tunedHPOParams`` of DescribeSolutionVersion: the best trial's algorithm hyperparameters."""
        return {"algorithmHyperParameters": dict(self.best.params)}


# --- the search space -------------------------------------------------------------------------------------


def search_space(hpo: HPOConfig) -> dict:
    """Tune search space of the request's ranges, keyed by the hyperparameters' plain names."""
    from ray import tune

    space = {}
    for r in hpo.ranges:
        if r.type == INTEGER:
            space[r.hp.name] = tune.randint(int(r.min_value), int(r.max_value) + 1)  # inclusive max
        elif r.type == CONTINUOUS:
            space[r.hp.name] = tune.uniform(float(r.min_value), float(r.max_value))
        elif r.type == CATEGORICAL:
            space[r.hp.name] = tune.choice(list(r.values))
        else:  # pragma: no cover - the request parser only makes the three types
            raise InvalidInputException(f"Unknown range type {r.type!r} for {r.name}.")
    return space


def make_searcher(hpo: HPOConfig, seed: int):
    """Seeded TPE (see the module docstring); Tune adds the ConcurrencyLimiter itself."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n_startup = max(1, min(10, hpo.max_number_of_training_jobs // 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optuna's ExperimentalWarning for some sampler options
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup)
    return OptunaSearch(sampler=sampler)


# --- the trial ------------------------------------------------------------------------------------------


def _trial_device(gpu_fraction: float) -> tuple[str, str | None]:
    """(torch device, CUDA_VISIBLE_DEVICES as Ray set it). cuda:0 only with a Ray-assigned GPU and CUDA."""
    import ray
    import torch

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if ray.get_gpu_ids() and torch.cuda.is_available():
        if 0 < gpu_fraction < 1:
            torch.cuda.set_per_process_memory_fraction(gpu_fraction, 0)
        return "cuda:0", visible
    return "cpu", visible


def _describe_device(device: str, visible: str | None) -> str:
    return device if visible is None else f"{device} (CUDA_VISIBLE_DEVICES={visible})"


def hpo_trial(config: dict, *, data: InteractionData, splits: HPOSplits, base: HyperParameterValues, objective: str,
              cpus: float, gpu_fraction: float, max_epochs: int | None, options: dict) -> None:
    """One training job: train on the training users, report the objective on the validation users and a
    checkpoint after every epoch; resume from Tune's checkpoint when there is one."""
    import ray
    import torch
    from ray import tune

    started_at = time.time()
    t0 = time.perf_counter()
    torch.set_num_threads(max(1, int(cpus)))
    device, visible = _trial_device(gpu_fraction)
    node_id = ray.get_runtime_context().get_node_id()
    node_ip = ray.util.get_node_ip_address()
    trial_id = tune.get_context().get_trial_id()
    hyperparameters = base.replace(**config)
    workdir = tempfile.mkdtemp(prefix="hrnn-trial-")
    try:
        prior_seconds, restored_from, last_result = 0.0, 0, None
        checkpoint = tune.get_checkpoint()
        if checkpoint is not None:
            with checkpoint.as_directory() as d:
                shutil.copy2(os.path.join(d, CHECKPOINT_NAME), os.path.join(workdir, CHECKPOINT_NAME))
                with open(os.path.join(d, TRIAL_STATE_NAME)) as f:
                    state = json.load(f)
            prior_seconds, restored_from = float(state["trial_seconds"]), int(state["epoch"])
            last_result = state.get("result")
        train = data.take(splits.train)
        validation = Validation(data, splits.validation)
        fixed = {
            "device": _describe_device(device, visible), "torch_device": device,
            "cuda_visible_devices": visible, "node": node_id, "node_ip": node_ip, "pid": os.getpid(),
            "restored_from": restored_from, "started_at": started_at,
        }

        def report(result: dict, epoch: int) -> None:
            with tempfile.TemporaryDirectory(prefix="hrnn-report-") as d:
                shutil.copy2(os.path.join(workdir, CHECKPOINT_NAME), os.path.join(d, CHECKPOINT_NAME))
                with open(os.path.join(d, TRIAL_STATE_NAME), "w") as f:
                    json.dump({"epoch": epoch, "trial_seconds": result["trial_seconds"], "result": result}, f)
                tune.report(result, checkpoint=tune.Checkpoint.from_directory(d))

        def on_epoch(record: dict, trainer) -> None:
            epoch = int(record["epoch"])
            if options.get("epoch_sleep"):
                time.sleep(float(options["epoch_sleep"]))
            fail_at = options.get("fail_once_at_epoch")
            if fail_at is not None and epoch == int(fail_at):
                marker = os.path.join(options["marker_dir"], f"{trial_id}.failed")
                if not os.path.exists(marker):
                    open(marker, "w").close()
                    raise RuntimeError(f"injected failure of trial {trial_id} at epoch {epoch}")
            metrics = {k: float(v) for k, v in record.get("metrics", {}).items()}
            result = {
                **metrics, "epoch": epoch, "loss": float(record["loss"]),
                "events_per_second": float(record["events_per_second"]),
                "epoch_seconds": float(record["seconds"]),
                "trial_seconds": prior_seconds + time.perf_counter() - t0, "ended_at": time.time(), **fixed,
            }
            report(result, epoch)

        outcome = fit(train, hyperparameters, validation=validation, checkpoint_dir=workdir, on_epoch=on_epoch,
                      quiet=True, device=device, max_epochs=max_epochs)
        ran = outcome.trainer.epoch - restored_from
        if ran == 0 and last_result is not None:
            # Restored from a checkpoint that was already the last epoch (the driver died between the last
            # report and the trial's end): report that result again so the trial ends with it.
            report({**last_result, **fixed, "trial_seconds": prior_seconds + time.perf_counter() - t0,
                    "ended_at": time.time()}, restored_from)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- progress ----------------------------------------------------------------------------------------------

_PROGRESS: dict[str, Any] = {"stream": None}  # set by run_hpo for the duration of Tuner.fit


def _progress_callback(objective: str):
    from ray.tune import Callback

    class ProgressTable(Callback):
        """One line per trial result/completion/error to run_hpo's progress_stream (none when quiet).

        The stream lives in a module global, not on the callback: Tune pickles the callbacks with the
        experiment (for restore) and a stream cannot be pickled.
        """

        def __init__(self, objective: str):
            self.objective = objective

        def _line(self, trial, status: str, result: dict | None = None) -> None:
            stream = _PROGRESS.get("stream")
            if stream is None:
                return
            result = result if result is not None else (trial.last_result or {})
            params = " ".join(f"{k}={v}" for k, v in sorted((trial.config or {}).items()))
            value = result.get(self.objective)
            score = f"{self.objective} {value:.4f}" if isinstance(value, (int, float)) else f"{self.objective} -"
            epoch = result.get("epoch", "-")
            where = f"{result.get('device', '?')} @ {result.get('node_ip', '?')}/{str(result.get('node', '?'))[:8]}"
            stream.write(f"[hpo] {trial.trial_id:<14} {params:<48} epoch {epoch:>3}  {score}  "
                         f"{status:<10} {where}\n")
            stream.flush()

        def on_trial_result(self, iteration, trials, trial, result, **info):
            self._line(trial, "RUNNING", result)

        def on_trial_complete(self, iteration, trials, trial, **info):
            self._line(trial, "TERMINATED")

        def on_trial_error(self, iteration, trials, trial, **info):
            self._line(trial, "ERROR")

    return ProgressTable(objective)


def _trial_dirname(trial) -> str:
    return trial.trial_id


# --- the driver ----------------------------------------------------------------------------------------------


def run_hpo(data: InteractionData, splits: HPOSplits, request: SolutionRequest, *, storage: str, name: str,
            seed: int = 42, gpus_per_trial: float | None = None, cpus_per_trial: int = 1,
            max_epochs: int | None = None, quiet: bool = False, progress_stream: TextIO | None = None,
            storage_filesystem=None, max_failures: int = 1, best_checkpoint_dir: str | None = None,
            trial_options: dict | None = None) -> HPOResult:
    """Run (or resume) the request's HPO as the Tune experiment ``storage/name``; see the module docstring.

    ``storage`` is an absolute (or relative, made absolute) local path, or a URI pyarrow understands
    (``s3://``, ``gs://``; pass ``storage_filesystem`` for anything else). On a multi-node cluster it must be
    reachable from every node. ``best_checkpoint_dir`` (default: ``<experiment>/best_checkpoint`` for local
    storage, a new temporary directory otherwise) receives the best trial's ``checkpoint.pt``.
    ``progress_stream`` (default ``sys.stderr``) gets one line per trial result unless ``quiet``.
    ``gpus_per_trial`` above 1 reserves more GPUs but a trial trains on one device (``cuda:0``).
    ``trial_options`` are test hooks: ``fail_once_at_epoch`` + ``marker_dir``, ``epoch_sleep``.

    Resume after a crash: run the same call again. Trial worker processes of a SIGKILLed *local* driver
    can outlive it for a while and keep writing checkpoints; make sure they are gone first
    (``tuning.ray_env.ray_processes(temp_dir)`` finds them by the old Ray temp dir).
    """
    hpo = request.hpo
    if hpo is None or not request.perform_hpo:
        raise InvalidInputException("run_hpo needs a request with performHPO true and an hpoConfig.")
    if not name or "/" in name or name in (".", ".."):
        raise InvalidInputException(f"Invalid HPO experiment name {name!r}: give a non-empty name without '/'.")
    if progress_stream is None:
        progress_stream = sys.stderr
    set_ray_environment()
    from ray import tune

    init_ray(object_store_memory=object_store_bytes(_nbytes(data) + _nbytes(splits)), quiet=quiet)
    resources = cluster_trial_resources(gpus_per_trial, cpus_per_trial)
    storage_path, is_local = _storage_path(storage)
    experiment_path = os.path.join(storage_path, name) if is_local else f"{storage_path}/{name}"
    base = request.hyperparameters
    fingerprint = _fingerprint(request, seed, max_epochs)

    trainable = _trainable(data, splits, base, hpo, resources, max_epochs, trial_options or {})
    if tune.Tuner.can_restore(experiment_path, storage_filesystem=storage_filesystem):
        _check_fingerprint(experiment_path, storage_filesystem, fingerprint)
        _repair_checkpoints(experiment_path, storage_filesystem)
        # param_space again (the same one): if Tune cannot read the saved run state (a driver killed while
        # writing it leaves a truncated experiment_state-*.json), it logs the error and starts new trials
        # from this space instead of failing with "no search space has been defined".
        tuner = tune.Tuner.restore(experiment_path, trainable, resume_unfinished=True, resume_errored=True,
                                   param_space=search_space(hpo), storage_filesystem=storage_filesystem)
        if not quiet:
            progress_stream.write(f"[hpo] resuming {experiment_path}\n")
    else:
        _write_fingerprint(experiment_path, storage_filesystem, fingerprint)
        tuner = tune.Tuner(
            trainable,
            param_space=search_space(hpo),
            tune_config=tune.TuneConfig(
                metric=hpo.objective_metric, mode=hpo.mode, search_alg=make_searcher(hpo, seed),
                num_samples=hpo.max_number_of_training_jobs,
                max_concurrent_trials=hpo.max_parallel_training_jobs,
                reuse_actors=True, trial_dirname_creator=_trial_dirname, trial_name_creator=_trial_dirname,
            ),
            run_config=tune.RunConfig(
                name=name, storage_path=storage_path, storage_filesystem=storage_filesystem, verbose=0,
                callbacks=[_progress_callback(hpo.objective_metric)],
                failure_config=tune.FailureConfig(max_failures=max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            ),
        )
    if not quiet:
        progress_stream.write(
            f"[hpo] {hpo.max_number_of_training_jobs} trials, at most {hpo.max_parallel_training_jobs} at once, "
            f"{resources.cpu:g} CPU + {resources.gpu:g} GPU each; objective {hpo.objective_metric} ({hpo.mode}); "
            f"{experiment_path}\n")
        progress_stream.flush()
    _PROGRESS["stream"] = None if quiet else progress_stream
    loggers = [logging.getLogger(n) for n in ("ray.tune", "ray.train")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:  # Tune's INFO lines ("Wrote the latest version of all result files ...") are noise here
        lg.setLevel(max(lg.getEffectiveLevel(), logging.WARNING))
    try:
        grid = tuner.fit()
    finally:
        _PROGRESS["stream"] = None
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
    return _collect(grid, request, base, experiment_path, is_local, best_checkpoint_dir)


def _trainable(data, splits, base, hpo: HPOConfig, resources: TrialResources, max_epochs, options):
    from ray import tune

    fn = tune.with_parameters(hpo_trial, data=data, splits=splits, base=base, objective=hpo.objective_metric,
                              cpus=resources.cpu, gpu_fraction=resources.gpu, max_epochs=max_epochs,
                              options=options)
    return tune.with_resources(fn, resources.as_dict())


def _collect(grid, request: SolutionRequest, base: HyperParameterValues, experiment_path: str, is_local: bool,
             best_checkpoint_dir: str | None) -> HPOResult:
    hpo = request.hpo
    records, checkpoints, values = [], {}, {}
    for result in grid:
        trial_values = base.replace(**(result.config or {}))
        record = _record(result, request, trial_values)
        records.append(record)
        checkpoints[record.trial_id] = result.checkpoint
        values[record.trial_id] = trial_values
        if result.error is None:
            _prune_stale_checkpoints(result)
    scored = [r for r in records if r.objective is not None and math.isfinite(r.objective)]
    if not scored:
        reasons = "; ".join(f"{r.trial_id}: {r.error}" for r in records if r.error) or "no trial reported"
        raise HPOError(f"HPO failed: none of the {len(records)} trials produced an objective ({reasons})"[:2000])
    sign = 1.0 if hpo.mode == "max" else -1.0
    best = max(scored, key=lambda r: sign * r.objective)  # first of equals wins (trial order)
    best_hyperparameters = values[best.trial_id]
    checkpoint = checkpoints[best.trial_id]
    if checkpoint is None:
        raise HPOError(f"HPO failed: the best trial {best.trial_id} has no checkpoint.")
    if best_checkpoint_dir is None:
        best_checkpoint_dir = (os.path.join(experiment_path, BEST_CHECKPOINT_DIRNAME) if is_local
                               else tempfile.mkdtemp(prefix="hrnn-best-"))
    shutil.rmtree(best_checkpoint_dir, ignore_errors=True)
    checkpoint.to_directory(best_checkpoint_dir)
    return HPOResult(best=best, best_hyperparameters=best_hyperparameters, best_checkpoint=best_checkpoint_dir,
                     trials=records, experiment_path=experiment_path)


def _record(result, request: SolutionRequest, values: HyperParameterValues) -> TrialRecord:
    metrics = dict(result.metrics or {})
    params = values.to_wire(ALGORITHM)
    objective = metrics.get(request.hpo.objective_metric)
    return TrialRecord(
        trial_id=str(metrics.get("trial_id") or os.path.basename(result.path)),
        params=params,
        objective=float(objective) if isinstance(objective, (int, float)) else None,
        metrics={k: float(metrics[k]) for k in OFFLINE_METRICS if isinstance(metrics.get(k), (int, float))},
        epochs=int(metrics.get("epoch", 0) or 0),
        seconds=float(metrics.get("trial_seconds", 0.0) or 0.0),
        device=str(metrics.get("device", "")),
        node=str(metrics.get("node", "")),
        status="ERROR" if result.error is not None else "TERMINATED",
        history=_history(result, request.hpo.objective_metric),
        node_ip=str(metrics.get("node_ip", "")),
        cuda_visible_devices=_optional_str(metrics.get("cuda_visible_devices")),
        error=None if result.error is None else f"{type(result.error).__name__}: {result.error}"[:1000],
        started_at=_optional_float(metrics.get("started_at")),
        ended_at=_optional_float(metrics.get("ended_at")),
    )


HISTORY_COLUMNS = ("epoch", "loss", "epoch_seconds", "trial_seconds", "pid", "restored_from")


def _history(result, objective: str) -> list[dict]:
    """One entry per report as Tune logged it: epoch, loss, objective, seconds, pid, restored_from (the
    epoch of the checkpoint that attempt started from; 0 = from scratch). A retried epoch appears twice."""
    try:
        frame = result.metrics_dataframe
    except Exception:  # noqa: BLE001 - no result files (a trial that never reported)
        return []
    if frame is None or len(frame) == 0:
        return []
    rows = []
    for row in frame.to_dict("records"):
        entry = {"objective": _optional_float(row.get(objective))}
        for key in HISTORY_COLUMNS:
            value = row.get(key)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            entry[key] = int(value) if key in ("epoch", "pid", "restored_from") else float(value)
        rows.append(entry)
    return rows


def _optional_float(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _optional_str(value) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _nbytes(obj) -> int:
    """Bytes of the numpy/arrow arrays in a dataclass (the size of what goes to the object store)."""
    total = 0
    for value in vars(obj).values():
        if hasattr(value, "nbytes"):
            total += int(value.nbytes)
        elif hasattr(value, "__dataclass_fields__"):
            total += _nbytes(value)
    return total


def _storage_path(storage: str) -> tuple[str, bool]:
    """(path or URI for Tune, is_local)."""
    if not isinstance(storage, str) or not storage:
        raise InvalidInputException("HPO storage must be a local path or a URI such as s3://bucket/prefix.")
    if "://" in storage and not storage.startswith("file://"):
        return storage.rstrip("/"), False
    path = storage[len("file://"):] if storage.startswith("file://") else storage
    return os.path.abspath(os.path.expanduser(path)), True


# --- the experiment's fingerprint: refuse to resume a different request under the same name -------------------


def _fingerprint(request: SolutionRequest, seed: int, max_epochs: int | None) -> dict:
    hpo = request.hpo
    body = {
        "ranges": [{"name": r.hp.name, "type": r.type, "min": r.min_value, "max": r.max_value,
                    "values": list(r.wire_values)} for r in hpo.ranges],
        "objective": [hpo.objective_metric, hpo.mode],
        "jobs": [hpo.max_number_of_training_jobs, hpo.max_parallel_training_jobs],
        "hyperparameters": request.hyperparameters.to_wire(),
        "seed": seed, "max_epochs": max_epochs,
    }
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    return {"sha256": digest, "request": body}


def _fs(path: str, storage_filesystem):
    import pyarrow.fs as pafs

    if storage_filesystem is not None:
        return storage_filesystem, path
    return pafs.FileSystem.from_uri(path)


def _write_fingerprint(experiment_path: str, storage_filesystem, fingerprint: dict) -> None:
    fs, path = _fs(experiment_path, storage_filesystem)
    fs.create_dir(path, recursive=True)
    with fs.open_output_stream(f"{path}/{FINGERPRINT_NAME}") as out:
        out.write(json.dumps(fingerprint, indent=1, default=str).encode())


def _check_fingerprint(experiment_path: str, storage_filesystem, fingerprint: dict) -> None:
    import pyarrow.fs as pafs

    fs, path = _fs(experiment_path, storage_filesystem)
    target = f"{path}/{FINGERPRINT_NAME}"
    if fs.get_file_info(target).type == pafs.FileType.NotFound:
        return  # started by something else; trust the caller
    with fs.open_input_stream(target) as f:
        stored = json.loads(f.read().decode())
    if stored.get("sha256") != fingerprint["sha256"]:
        raise InvalidInputException(
            f"The HPO experiment {experiment_path} was started with a different request or seed; it can only be "
            "resumed by the same request. Use another name (or remove that directory) to start a new one.")


# --- resume repair ---------------------------------------------------------------------------------------------


def _repair_checkpoints(experiment_path: str, storage_filesystem) -> list[str]:
    """Make every unfinished trial's recorded checkpoint exist again before ``Tuner.restore``.

    Why: with ``CheckpointConfig(num_to_keep=1)`` Tune deletes a trial's previous checkpoint as soon as it
    registers the new one, and saves the experiment state (which names the checkpoint to resume from) a
    moment later, asynchronously. A driver killed in between leaves a state that names a deleted
    checkpoint, and ``Tuner.restore`` then fails that trial for good ("Could not recover from checkpoint as
    it does not exist on storage anymore"); this was reproduced by SIGKILLing the driver right after a
    checkpoint appeared. The trial's newer checkpoint is still there, so we put it in place of the missing
    one (hard links on a local filesystem, a copy elsewhere). The trial reads its epoch from the
    checkpoint's own ``trial_state.json``, so it resumes from the newer epoch and nothing is trained twice.

    Best effort: reads the newest ``experiment_state-*.json`` (plain JSON: trial id, status and the last
    processed result's ``checkpoint_dir_name``); anything unexpected leaves the experiment as it is.
    Returns the checkpoint paths it recreated.
    """
    import pyarrow.fs as pafs

    repaired: list[str] = []
    try:
        fs, root = _fs(experiment_path, storage_filesystem)
        states = sorted(i.path for i in fs.get_file_info(pafs.FileSelector(root))
                        if i.type == pafs.FileType.File and os.path.basename(i.path).startswith("experiment_state-")
                        and i.path.endswith(".json"))
        if not states:
            return repaired
        with fs.open_input_stream(states[-1]) as f:
            state = json.loads(f.read().decode())
        for trial_json, runtime_json in state.get("trial_data", []):
            trial, runtime = json.loads(trial_json), json.loads(runtime_json)
            if trial.get("status") == "TERMINATED":
                continue
            wanted = ((runtime.get("last_result") or {}).get("checkpoint_dir_name"))
            trial_dir = f"{root}/{trial.get('relative_logdir') or trial.get('trial_id')}"
            if not wanted or not re.fullmatch(r"checkpoint_\d+", wanted):
                continue
            target = f"{trial_dir}/{wanted}"
            if fs.get_file_info(target).type != pafs.FileType.NotFound:
                continue
            newer = sorted(os.path.basename(i.path) for i in fs.get_file_info(pafs.FileSelector(trial_dir))
                           if i.type == pafs.FileType.Directory
                           and re.fullmatch(r"checkpoint_\d+", os.path.basename(i.path))
                           and os.path.basename(i.path) > wanted)
            if not newer:
                continue
            source = f"{trial_dir}/{newer[-1]}"
            if isinstance(fs, pafs.LocalFileSystem):
                _link_tree(source, target)
            else:
                pafs.copy_files(source, target, source_filesystem=fs, destination_filesystem=fs)
            repaired.append(target)
    except Exception as exc:  # noqa: BLE001 - best effort; Tune reports what it cannot restore
        logging.getLogger(__name__).warning("checkpoint repair skipped: %s", exc)
    return repaired


def _prune_stale_checkpoints(result) -> None:
    """Delete a finished trial's checkpoint directories other than its final one (left by a resume repair
    or by workers that outlived a killed driver)."""
    import pyarrow.fs as pafs

    if result.checkpoint is None:
        return
    try:
        fs = result.checkpoint.filesystem
        keep = result.checkpoint.path.rstrip("/")
        trial_dir = os.path.dirname(keep)
        for info in fs.get_file_info(pafs.FileSelector(trial_dir)):
            name = os.path.basename(info.path)
            if (info.type == pafs.FileType.Directory and re.fullmatch(r"checkpoint_\d+", name)
                    and info.path.rstrip("/") != keep):
                fs.delete_dir(info.path)
    except Exception as exc:  # noqa: BLE001 - tidying only
        logging.getLogger(__name__).warning("could not prune old checkpoints of %s: %s", result.path, exc)


def _link_tree(source: str, target: str) -> None:
    tmp = f"{target}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)

    def link(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, tmp, copy_function=link)
    os.replace(tmp, target)
