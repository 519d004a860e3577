"""Training: user-parallel mini-batches, truncated BPTT windows, sampled softmax with logQ correction.

Each of ``batch_size`` slots walks one user's events in time order and moves on to the next user when the
current one ends; the state of a slot is reset exactly where a session or a user starts (see
:meth:`HRNN.step`). Every ``bptt`` steps the loss of the window is back-propagated, the optimiser steps and
the carried states are detached, so gradients flow through at most ``bptt`` consecutive events.

The whole epoch's slot layout is built on the host once, moved to the device once, and sliced per window:
the inner loop never copies from or synchronises with the device.
"""

from __future__ import annotations

import contextlib
import math
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
from .layout import EventTensors, slot_layout
from .loss import cross_entropy, sampled_softmax_loss
from .optim import AdagradM
from .platform import tune_malloc


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
    optimizer: torch.optim.Optimizer = field(init=False)
    epoch: int = 0
    history: list = field(default_factory=list)

    def __post_init__(self):
        if self.device.type == "cpu":
            tune_malloc()
        self.model.to(self.device)
        self.optimizer = AdagradM(self.model.parameters(), lr=self.config.learning_rate, momentum=self.config.momentum)

    @classmethod
    def create(cls, model_config: ModelConfig, config: TrainConfig) -> "Trainer":
        """A new model, initialised from ``config.seed``."""
        torch.manual_seed(config.seed)
        return cls(model=HRNN(model_config), config=config, device=resolve_device(config.device))

    # ---- one epoch ------------------------------------------------------------------------------------
    def train_epoch(self, data: InteractionData, tensors: EventTensors | None = None,
                    progress: Callable[[int, int], None] | None = None) -> EpochStats:
        cfg, dev, model = self.config, self.device, self.model
        tensors = tensors or EventTensors.build(data, cfg, dev)
        rng = np.random.default_rng([cfg.seed, self.epoch])
        gen = torch.Generator(device=dev).manual_seed(cfg.seed * 1000 + self.epoch)
        layout = torch.as_tensor(slot_layout(data.lengths, data.user_offsets, cfg.batch_size, rng)).to(dev)
        counts = torch.as_tensor(data.item_counts(), dtype=torch.float32, device=dev)
        use_full = cfg.loss == "full" or (cfg.loss == "auto" and data.n_items <= cfg.full_softmax_max_items)
        n_neg = 0 if use_full else min(cfg.num_negatives, data.n_items)
        log_q_batch = torch.log(counts.clamp(min=1) / counts.sum())
        sample_p = counts.clamp(min=0) ** cfg.sample_alpha
        sample_p = sample_p / sample_p.sum()
        log_q_sample = torch.log(sample_p.clamp(min=1e-12))
        cdf = torch.cumsum(sample_p, 0)
        valid_w = tensors.weight[tensors.target >= 0]
        mean_w = valid_w.mean().clamp(min=1e-12) if valid_w.numel() else torch.ones((), device=dev)

        model.train()
        batch = layout.shape[1]
        h_s, h_u = model.initial_state(batch, dev)
        total_loss = torch.zeros((), device=dev)
        total_n = torch.zeros((), device=dev)
        started = time.perf_counter()
        n_windows = math.ceil(layout.shape[0] / cfg.bptt)
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else contextlib.nullcontext()
        for w in range(n_windows):
            idx = layout[w * cfg.bptt:(w + 1) * cfg.bptt]
            present = idx >= 0
            ev = idx.clamp(min=0)
            items = tensors.items[ev]
            gaps = tensors.gaps[ev]
            # An empty slot behaves like a user start (state reset) with no target.
            ustart = tensors.user_start[ev] | ~present
            sstart = tensors.session_start[ev] | ~present
            target = torch.where(present, tensors.target[ev], torch.full_like(ev, -1))
            weight = torch.where(target >= 0, tensors.weight[ev], torch.zeros_like(tensors.weight[ev]))
            with autocast:
                states, h_s, h_u = model.run_window(items, gaps, sstart, ustart, h_s, h_u)
                states = model.dropout(states)
                if use_full:
                    logits = model.score_all(states).float()
                    ce = cross_entropy(logits.reshape(-1, logits.shape[-1]), target.clamp(min=0).reshape(-1))
                else:
                    negatives = torch.searchsorted(cdf, torch.rand(n_neg, generator=gen, device=dev)).clamp(
                        max=data.n_items - 1)
                    ce = sampled_softmax_loss(model, states, target, negatives, log_q_batch, log_q_sample)
            n_valid = (target >= 0).sum()
            loss = (ce * weight.reshape(-1)).sum() / (n_valid.clamp(min=1) * mean_w)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            h_s, h_u = h_s.detach(), h_u.detach()
            total_loss += loss.detach() * n_valid
            total_n += n_valid
            if progress is not None:
                progress(w + 1, n_windows)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        seconds = time.perf_counter() - started
        self.epoch += 1
        stats = EpochStats(epoch=self.epoch, loss=float(total_loss / total_n.clamp(min=1)), events=data.n_events,
                           seconds=seconds)
        self.history.append(asdict(stats))
        return stats

    # ---- checkpoints ----------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "history": self.history,
            "torch_rng": torch.get_rng_state(),  # dropout masks continue as in an uninterrupted run
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
        self.history = list(state["history"])
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"].cpu())

    def save_checkpoint(self, path: str | os.PathLike) -> None:
        atomic_torch_save(self.state_dict(), Path(path))

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        self.load_state_dict(torch.load(path, map_location=self.device, weights_only=True))


def atomic_torch_save(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)

