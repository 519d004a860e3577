"""Training a model from the recipe's typed hyperparameters, with per-epoch validation, checkpoints and resume.

This is the one training path: a single model (``performHPO: false``), every HPO trial and the tests all
call :func:`fit`. It prints nothing: progress is the caller's, through ``on_epoch`` (the service's is
:class:`tuning.progress.EpochProgress` and the HPO trial's report to Tune).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..data import InteractionData
from ..data.splits import UserHoldout
from ..evaluation import HRNNScorer, evaluate_service
from ..hyperparameters import HyperParameterValues
from ..model import ModelConfig
from .config import TrainConfig
from .engine import EngineSettings
from .layout import EventTensors
from .trainer import EpochStats, Trainer

CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class Validation:
    data: InteractionData
    holdout: UserHoldout


@dataclass
class FitResult:
    trainer: Trainer
    epochs: list[dict] = field(default_factory=list)  # one dict per epoch: loss, events/s, metrics
    recency: dict = field(default_factory=dict)  # recency_mask's measured drift and weighting strength

    @property
    def model(self):
        return self.trainer.model


def fit(train: InteractionData, hyperparameters: HyperParameterValues, *, validation: Validation | None = None,
        checkpoint_dir: str | Path | None = None, hierarchical: bool = True, device: str = "auto",
        engine: EngineSettings = EngineSettings(), on_epoch: Callable[[dict, Trainer], None] | None = None,
        max_epochs: int | None = None) -> FitResult:
    """Train on ``train``; after each epoch score ``validation`` (service metrics), checkpoint, and call
    ``on_epoch(record, trainer)``. A run with a checkpoint in ``checkpoint_dir`` resumes after its last epoch."""
    hp = hyperparameters
    config = TrainConfig.from_hyperparameters(hp, device, engine)
    trainer = Trainer.create(ModelConfig.from_hyperparameters(hp, train.n_items, hierarchical), config)
    checkpoint = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir else None
    if checkpoint is not None and checkpoint.exists():
        trainer.load_checkpoint(checkpoint)
    result = FitResult(trainer=trainer, epochs=list(trainer.history))
    item_mask = torch.as_tensor(train.item_counts() > 0)
    total = config.epochs if max_epochs is None else min(config.epochs, max_epochs)
    tensors = EventTensors.build(train, config, trainer.device)  # once: the per-event inputs on the device
    result.recency = tensors.recency.to_dict()
    while trainer.epoch < total:
        stats: EpochStats = trainer.train_epoch(train, tensors)
        record = {"epoch": stats.epoch, "loss": stats.loss, "events_per_second": stats.events_per_second,
                  "seconds": stats.seconds}
        if validation is not None:
            scorer = HRNNScorer(trainer.model, trainer.device, item_mask=item_mask,
                                session_timeout_seconds=60.0 * hp.session_timeout_minutes)
            record["metrics"] = evaluate_service(scorer, validation.data, validation.holdout)
        trainer.history[-1] = record
        result.epochs.append(record)
        if checkpoint is not None:
            trainer.save_checkpoint(checkpoint)
        if on_epoch is not None:
            on_epoch(record, trainer)
    return result
