"""Training: user-parallel mini-batches, truncated BPTT windows, sampled softmax with logQ correction.

Each of ``batch_size`` slots walks its users' events in time order, one user after another (users are
assigned to slots longest first, so the slots stay busy until the end of the epoch); the state of a slot is
reset exactly where a session or a user starts (see :meth:`HRNN.advance`). Every ``bptt`` steps the loss of the
window is back-propagated, the optimiser steps and the carried states are detached, so gradients flow
through at most ``bptt`` consecutive events.

An epoch is prepared in chunks of many windows (:mod:`hrnn.training.plan`: the events' inputs and targets,
the negatives, the item rows each window touches); a window (:mod:`hrnn.training.window`) gathers just
those rows of the item tables and updates just those rows, so its cost does not grow with the catalogue. How
a window is computed is the trainer's :class:`~hrnn.training.engine.Engine`, chosen once from the settings
and the device: on CUDA a window is one CUDA graph replay (:mod:`hrnn.training.graphs`) and the inner loop
never synchronises with the device.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..atomic import atomic_path
from ..data import InteractionData
from ..model import HRNN, ModelConfig
from .config import TrainConfig, resolve_device
from .engine import Engine
from .graphs import WindowRunner
from .layout import EventTensors, slot_layout
from .optim import AdagradM
from .plan import EpochPlan, Sampling
from .platform import tune_malloc
from .window import WindowState, WindowStep


@dataclass
class EpochStats:
    epoch: int
    loss: float
    events: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / max(self.seconds, 1e-9)


@dataclass
class Trainer:
    model: HRNN
    config: TrainConfig
    device: torch.device
    optimizer: AdagradM = field(init=False)
    engine: Engine = field(init=False)
    epoch: int = 0
    history: list = field(default_factory=list)

    def __post_init__(self):
        self.engine = Engine.choose(self.config.engine, self.device)
        if self.device.type == "cpu":
            tune_malloc()
        self.model.to(self.device)
        self.optimizer = AdagradM(self.model.parameters(), lr=self.config.learning_rate, momentum=self.config.momentum)

    @classmethod
    def create(cls, model_config: ModelConfig, config: TrainConfig) -> "Trainer":
        """A new model, initialised from ``config.seed``."""
        torch.manual_seed(config.seed)
        return cls(model=HRNN(model_config), config=config, device=resolve_device(config.device))

    def num_negatives(self, n_items: int) -> int:
        """Sampled negatives per window on top of the in-batch targets (none for a small catalogue's auto)."""
        cfg = self.config
        if cfg.loss == "full" or (cfg.loss == "auto" and n_items <= cfg.small_catalogue_max_items):
            return 0
        return min(cfg.num_negatives, n_items)

    def plan_epoch(self, data: InteractionData, tensors: EventTensors) -> EpochPlan:
        """The windows of the next epoch: the slot layout and the negatives are seeded by (seed, epoch)."""
        cfg = self.config
        layout = slot_layout(data.lengths, data.user_offsets, cfg.batch_size, np.random.default_rng([cfg.seed, self.epoch]))
        sampling = Sampling.build(data.item_counts(), cfg.sample_alpha, tensors, self.device)
        generator = torch.Generator().manual_seed(cfg.seed * 1000 + self.epoch)
        return EpochPlan(tensors, layout, cfg.bptt, sampling, num_negatives=self.num_negatives(data.n_items),
                         full_softmax=cfg.loss == "full", exact_rows=self.engine.exact_rows,
                         generator=generator, device=self.device)

    # ---- one epoch ------------------------------------------------------------------------------------
    def train_epoch(self, data: InteractionData, tensors: EventTensors | None = None,
                    progress: Callable[[int, int], None] | None = None) -> EpochStats:
        dev, model = self.device, self.model
        tensors = tensors or EventTensors.build(data, self.config, dev)
        plan = self.plan_epoch(data, tensors)
        model.train()
        state = WindowState.zeros(model, plan.batch, dev)
        step = WindowStep(model, self.optimizer, self.engine, full_softmax=plan.full)
        runner = WindowRunner(step, state)
        started = time.perf_counter()
        for w, batch in enumerate(plan.windows()):
            runner(batch)
            if progress is not None:
                progress(w + 1, plan.n_windows)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        seconds = time.perf_counter() - started
        self.optimizer.zero_grad(set_to_none=True)
        self.epoch += 1
        stats = EpochStats(epoch=self.epoch, loss=float(state.loss_sum / state.n_sum.clamp(min=1)),
                           events=data.n_events, seconds=seconds)
        self.history.append(asdict(stats))
        return stats

    # ---- checkpoints ----------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything a resumed run needs to continue as an uninterrupted one, every RNG stream included:
        the CPU generator (dropout on the CPU), every CUDA device's generator (dropout on CUDA). The slot
        layout (numpy) and the negatives are seeded by (seed, epoch) and need no state."""
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "history": self.history,
            "torch_rng": torch.get_rng_state(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
        self.history = list(state["history"])
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"].cpu())
        if "cuda_rng" in state and torch.cuda.is_available():
            saved = [s.cpu() for s in state["cuda_rng"]]
            torch.cuda.set_rng_state_all(saved[:torch.cuda.device_count()])

    def save_checkpoint(self, path: str | os.PathLike) -> None:
        atomic_torch_save(self.state_dict(), Path(path))

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        self.load_state_dict(torch.load(path, map_location=self.device, weights_only=True))


def atomic_torch_save(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
