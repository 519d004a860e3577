"""Training a model from the recipe's hyperparameters, with per-epoch validation, checkpoints and resume.

This is the one training path: a single model (``performHPO: false``), every HPO trial and the tests all
call :func:`fit`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from .data import InteractionData
from .evaluate import HRNNScorer, evaluate_service
from .recipe import HRNN_RECIPE
from .splits import UserHoldout
from .train import EpochStats, EventTensors, Trainer, TrainConfig, print_progress

CHECKPOINT_NAME = "checkpoint.pt"


def train_config(hp: dict, device: str = "auto") -> TrainConfig:
    fields = TrainConfig.__dataclass_fields__
    return TrainConfig(**{k: v for k, v in hp.items() if k in fields}, device=device)


@dataclass
class Validation:
    data: InteractionData
    holdout: UserHoldout


@dataclass
class FitResult:
    trainer: Trainer
    epochs: list[dict] = field(default_factory=list)  # one dict per epoch: loss, events/s, metrics

    @property
    def model(self):
        return self.trainer.model


def fit(train: InteractionData, hyperparameters: dict | None = None, *, validation: Validation | None = None,
        checkpoint_dir: str | Path | None = None, hierarchical: bool = True, device: str = "auto",
        on_epoch: Callable[[dict, Trainer], None] | None = None, quiet: bool = False,
        max_epochs: int | None = None) -> FitResult:
    """Train on ``train``; after each epoch score ``validation`` (service metrics), checkpoint, and call
    ``on_epoch(record, trainer)``. A run with a checkpoint in ``checkpoint_dir`` resumes after its last epoch."""
    hp = HRNN_RECIPE.typed(hyperparameters)
    config = train_config(hp, device)
    trainer = Trainer.create(train.n_items, hp["hidden_dimension"], config, dropout=hp["dropout"],
                             hierarchical=hierarchical)
    checkpoint = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir else None
    if checkpoint is not None and checkpoint.exists():
        trainer.load_checkpoint(checkpoint)
        if not quiet:
            sys.stderr.write(f"resuming from {checkpoint} after epoch {trainer.epoch}\n")
    result = FitResult(trainer=trainer, epochs=list(trainer.history))
    item_mask = torch.as_tensor(train.item_counts() > 0)
    total = config.epochs if max_epochs is None else min(config.epochs, max_epochs)
    tensors = EventTensors.build(train, config, trainer.device)  # once: the per-event inputs on the device
    while trainer.epoch < total:
        bar = None if quiet else EpochBar(trainer.epoch + 1, total)
        stats: EpochStats = trainer.train_epoch(train, tensors, progress=bar)
        record = {"epoch": stats.epoch, "loss": stats.loss, "events_per_second": stats.events_per_second,
                  "seconds": stats.seconds}
        if validation is not None:
            scorer = HRNNScorer(trainer.model, trainer.device, item_mask=item_mask,
                                session_timeout_seconds=60.0 * hp["session_timeout_minutes"])
            record["metrics"] = evaluate_service(scorer, validation.data, validation.holdout)
        trainer.history[-1] = record
        result.epochs.append(record)
        if checkpoint is not None:
            trainer.save_checkpoint(checkpoint)
        if not quiet:
            extra = ""
            if "metrics" in record:
                extra = f"precision_at_25 {record['metrics']['precision_at_25']:.4f}"
            print_progress(stats, total, extra)
        if on_epoch is not None:
            on_epoch(record, trainer)
    return result


class EpochBar:
    """A one-line progress bar for an epoch on an interactive stderr (nothing when stderr is a file)."""

    WIDTH = 30

    def __init__(self, epoch: int, total: int, stream=None):
        self.epoch, self.total = epoch, total
        self.stream = stream or sys.stderr
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.shown = -1

    def __call__(self, done: int, windows: int) -> None:
        if not self.enabled:
            return
        filled = self.WIDTH * done // max(windows, 1)
        if filled == self.shown and done < windows:
            return
        self.shown = filled
        self.stream.write(f"\repoch {self.epoch}/{self.total} [{'#' * filled}{'.' * (self.WIDTH - filled)}] "
                          f"{100 * done // max(windows, 1):3d}%")
        if done >= windows:
            self.stream.write("\r\033[K")
        self.stream.flush()
