"""One HPO trial (a training job): train, score the objective on the validation users after every epoch,
report it with a checkpoint, and resume from Tune's checkpoint after a failure or a driver restart."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
from typing import Callable

from hrnn.data import InteractionData
from hrnn.data.splits import HPOSplits
from hrnn.hyperparameters import HyperParameterValues
from hrnn.training import CHECKPOINT_NAME, Validation, fit

from ..run_options import engine_settings

TRIAL_STATE_NAME = "trial_state.json"  # next to checkpoint.pt in every reported checkpoint


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


EpochHook = Callable[[int, str], None]  # (epoch, trial id), after each epoch, before its report


def _restore(workdir: str, resume_from: str | None, experiment: tuple[str, object]) -> tuple[float, int, dict | None]:
    """Copy the trial's checkpoint (if any) into ``workdir``: (seconds already spent, epoch, its last result).

    Tune's checkpoint of this run comes first (a retry after a failure); else the one the experiment's
    record names (``resume_from``, a resumed experiment). Only ``checkpoint.pt`` (loaded weights-only) and
    ``trial_state.json`` are read; one that cannot be read restarts the trial from scratch.
    """
    from ray import tune

    checkpoint = tune.get_checkpoint()
    try:
        if checkpoint is not None:
            with checkpoint.as_directory() as d:
                return _take(d, workdir)
        if resume_from:
            return _fetch(resume_from, experiment, workdir)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        logging.getLogger(__name__).warning("trial checkpoint unreadable, starting over: %s", exc)
        for name in (CHECKPOINT_NAME, TRIAL_STATE_NAME):
            if os.path.exists(os.path.join(workdir, name)):
                os.unlink(os.path.join(workdir, name))
    return 0.0, 0, None


def _fetch(relative: str, experiment: tuple[str, object], workdir: str) -> tuple[float, int, dict | None]:
    with tempfile.TemporaryDirectory(prefix="hrnn-resume-") as d:
        copy_checkpoint(experiment, relative, d)
        return _take(d, workdir)


def copy_checkpoint(experiment: tuple[str, object], relative: str, target: str) -> None:
    """A trial checkpoint of the experiment (local or a storage URI) into the local directory ``target``,
    which is emptied first."""
    from .fingerprint import filesystem

    fs, root = filesystem(*experiment)
    shutil.rmtree(target, ignore_errors=True)
    os.makedirs(target)
    for name in (CHECKPOINT_NAME, TRIAL_STATE_NAME):
        with fs.open_input_stream(f"{root}/{relative}/{name}") as src, open(os.path.join(target, name), "wb") as out:
            shutil.copyfileobj(src, out)


def _take(source: str, workdir: str) -> tuple[float, int, dict | None]:
    """Check a checkpoint directory and copy its model checkpoint into ``workdir``."""
    import torch

    with open(os.path.join(source, TRIAL_STATE_NAME), encoding="utf-8") as f:
        state = json.load(f)
    epoch, seconds, result = int(state["epoch"]), float(state["trial_seconds"]), state.get("result")
    if epoch < 0 or not math.isfinite(seconds) or (result is not None and not isinstance(result, dict)):
        raise ValueError("malformed trial_state.json")
    saved = torch.load(os.path.join(source, CHECKPOINT_NAME), map_location="cpu", weights_only=True)
    if not isinstance(saved, dict) or int(saved.get("epoch", -1)) != epoch:
        raise ValueError("checkpoint.pt does not match trial_state.json")
    shutil.copy2(os.path.join(source, CHECKPOINT_NAME), os.path.join(workdir, CHECKPOINT_NAME))
    return seconds, epoch, result


def _report(workdir: str, result: dict, epoch: int) -> None:
    """Report a result to Tune with a checkpoint: the trainer's checkpoint plus this trial's state."""
    from ray import tune

    with tempfile.TemporaryDirectory(prefix="hrnn-report-") as d:
        shutil.copy2(os.path.join(workdir, CHECKPOINT_NAME), os.path.join(d, CHECKPOINT_NAME))
        with open(os.path.join(d, TRIAL_STATE_NAME), "w") as f:
            json.dump({"epoch": epoch, "trial_seconds": result["trial_seconds"], "result": result}, f)
        tune.report(result, checkpoint=tune.Checkpoint.from_directory(d))


def _placement(device: str, visible: str | None, restored_from: int, started_at: float) -> dict:
    """Where and when this attempt runs; part of every result (trials.json shows it)."""
    import ray

    return {"device": _describe_device(device, visible), "torch_device": device, "cuda_visible_devices": visible,
            "node": ray.get_runtime_context().get_node_id(), "node_ip": ray.util.get_node_ip_address(),
            "pid": os.getpid(), "restored_from": restored_from, "started_at": started_at}


def hpo_trial(config: dict, *, data: InteractionData, splits: HPOSplits, base: HyperParameterValues, cpus: float,
              gpu_fraction: float, max_epochs: int | None, experiment: tuple[str, object],
              epoch_hook: EpochHook | None = None) -> None:
    """One training job: train on the training users, report the objective on the validation users and a
    checkpoint after every epoch; resume from Tune's checkpoint when there is one. ``config`` holds the
    searcher's typed suggestions, which replace the request's values, and the experiment's bookkeeping
    (``hrnn_index``, ``hrnn_resume``, ``hrnn_stop_at``)."""
    import torch
    from ray import tune

    started_at, t0 = time.time(), time.perf_counter()
    torch.set_num_threads(max(1, int(cpus)))
    device, visible = _trial_device(gpu_fraction)
    trial_id = tune.get_context().get_trial_id()
    params = {k: v for k, v in config.items() if not k.startswith("hrnn_")}
    workdir = tempfile.mkdtemp(prefix="hrnn-trial-")
    try:
        prior_seconds, restored_from, last_result = _restore(workdir, config.get("hrnn_resume"), experiment)
        placement = _placement(device, visible, restored_from, started_at)

        def on_epoch(record: dict, trainer) -> None:
            epoch = int(record["epoch"])
            if epoch_hook is not None:
                epoch_hook(epoch, trial_id)
            metrics = {k: float(v) for k, v in record.get("metrics", {}).items()}
            _report(workdir, {
                **metrics, "epoch": epoch, "loss": float(record["loss"]),
                "events_per_second": float(record["events_per_second"]), "epoch_seconds": float(record["seconds"]),
                "trial_seconds": prior_seconds + time.perf_counter() - t0, "ended_at": time.time(), **placement,
            }, epoch)

        stop_at = config.get("hrnn_stop_at")  # early stopping stopped it there before the driver restarted
        cap = max_epochs if stop_at is None else min(stop_at, max_epochs or stop_at)
        outcome = fit(splits.training_data(data), base.replace(**params), validation=Validation(data, splits.validation),
                      checkpoint_dir=workdir, on_epoch=on_epoch, device=device, engine=engine_settings(),
                      max_epochs=cap)
        if outcome.trainer.epoch == restored_from and last_result is not None:
            # Restored from a checkpoint that was already the last epoch (the driver died between the last
            # report and the trial's end): report that result again so the trial ends with it.
            _report(workdir, {**last_result, **placement, "trial_seconds": prior_seconds + time.perf_counter() - t0,
                              "ended_at": time.time()}, restored_from)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
