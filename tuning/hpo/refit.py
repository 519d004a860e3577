"""The final refit of an HPO: the best configuration trained again on all the training interactions, including
the validation interactions the trials were scored on, for as many epochs as the best trial needed to reach
its best objective. That model is the solution version's (the best trial's own model is kept beside it).

Why: a trial never trains on the newest interactions of the validation users (they score it), so the best
trial's model has seen less, and less recent, data than there is. The refit needs no Ray: it is one training
in the driver, resumable from its checkpoints like any training (a kill during the refit resumes the refit;
the finished search is read back from its record, not run again).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hrnn.atomic import atomic_write_json
from hrnn.data import InteractionData
from hrnn.data.splits import HPOSplits
from hrnn.hyperparameters import HyperParameterValues
from hrnn.training import CHECKPOINT_NAME, Trainer, fit

REFIT_STATE_NAME = "refit.json"  # beside the refit's checkpoint.pt: what it trains and the seconds so far


@dataclass
class RefitResult:
    trainer: Trainer
    train: InteractionData  # what it trained on: every training user's whole history
    hyperparameters: HyperParameterValues  # the best trial's, with the refit's epochs
    seconds: float  # wall time of the refit, summed over resumed attempts
    resumed_from: int  # the epoch its checkpoint had reached when this attempt started (0: from scratch)
    started_at: float
    ended_at: float
    epochs: list[dict] = field(default_factory=list)  # fit's per-epoch records


def refit_training_data(data: InteractionData, splits: HPOSplits) -> InteractionData:
    """Every training user's whole history: the trials' training data plus the validation interactions."""
    return data.take(splits.train)


def refit(data: InteractionData, splits: HPOSplits, best: HyperParameterValues, epochs: int,
          checkpoint_dir: str | os.PathLike, *, device: str = "auto",
          on_epoch: Callable[[dict, Trainer], None] | None = None) -> RefitResult:
    """Train ``best`` for ``epochs`` epochs on :func:`refit_training_data`, checkpointing into
    ``checkpoint_dir`` after every epoch and resuming from it when it holds this same refit's checkpoint
    (another configuration's is discarded)."""
    if epochs < 1:
        raise ValueError(f"a refit needs at least 1 epoch, got {epochs}")
    hp = best.replace(epochs=epochs)
    directory = Path(checkpoint_dir)
    identity = {"hyperparameters": hp.to_wire()}
    prior = _prior_seconds(directory, identity)
    directory.mkdir(parents=True, exist_ok=True)
    train = refit_training_data(data, splits)
    started_at, t0 = time.time(), time.perf_counter()
    first: list[int] = []

    def record(entry: dict, trainer: Trainer) -> None:
        first.append(int(entry["epoch"]))
        atomic_write_json(directory / REFIT_STATE_NAME,
                          {**identity, "epoch": trainer.epoch, "seconds": prior + time.perf_counter() - t0})
        if on_epoch is not None:
            on_epoch(entry, trainer)

    fitted = fit(train, hp, device=device, checkpoint_dir=directory, on_epoch=record)
    resumed_from = first[0] - 1 if first else fitted.trainer.epoch
    return RefitResult(trainer=fitted.trainer, train=train, hyperparameters=hp,
                       seconds=prior + time.perf_counter() - t0, resumed_from=resumed_from, started_at=started_at,
                       ended_at=time.time(), epochs=list(fitted.trainer.history))


def _prior_seconds(directory: Path, identity: dict) -> float:
    """Seconds an earlier attempt of this refit spent; a directory of another refit (or a damaged one) is
    emptied so that training starts over."""
    state_file, checkpoint = directory / REFIT_STATE_NAME, directory / CHECKPOINT_NAME
    try:
        with open(state_file, encoding="utf-8") as f:
            state = json.load(f)
        if checkpoint.is_file() and isinstance(state, dict) and \
                state.get("hyperparameters") == identity["hyperparameters"] and \
                isinstance(state.get("seconds"), (int, float)) and state["seconds"] >= 0:
            return float(state["seconds"])
    except (OSError, ValueError):
        pass
    shutil.rmtree(directory, ignore_errors=True)
    return 0.0
