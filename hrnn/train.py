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
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .atomic import atomic_path
from .data import InteractionData, ranges_to_index
from .model import HRNN, ModelConfig, event_inputs

SECONDS_PER_DAY = 86400.0


@dataclass
class TrainConfig:
    bptt: int = 32
    recency_mask: bool = True
    recency_half_life_days: float = 30.0
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 0.05
    momentum: float = 0.0
    num_negatives: int = 2048
    sample_alpha: float = 0.5
    loss: str = "auto"  # auto | sampled | full
    full_softmax_max_items: int = 2048
    seed: int = 42
    device: str = "auto"  # auto | cpu | cuda | cuda:N

    def to_dict(self) -> dict:
        return asdict(self)


_MALLOC_TUNED = False


def tune_malloc() -> None:
    """Keep freed large blocks in glibc's heap instead of returning them to the OS (Linux only, once).

    A training step allocates and frees tensors of ~17 MB (the [batch*bptt, batch+negatives] logits and
    their gradient). Above glibc's mmap threshold every such allocation is a fresh ``mmap`` whose pages
    fault on first touch and every free an ``munmap``: a measurable share of a CPU step. Raising the mmap
    threshold (to glibc's maximum, 32 MiB on 64-bit) and the trim threshold makes them ordinary heap
    blocks that are reused. Harmless where glibc is absent: nothing happens.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED or not sys.platform.startswith("linux"):
        return
    _MALLOC_TUNED = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)
        libc.mallopt(m_trim_threshold, 512 * 1024 * 1024)
    except (OSError, AttributeError):
        pass


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class AdagradM(torch.optim.Optimizer):
    """Adagrad with optional momentum, as in the GRU4Rec/HGRU4Rec reference code (torch's has no momentum).

    Without momentum, a row whose gradient is zero is left exactly as it is (its accumulator gains 0 and its
    update is 0), so on the CPU the large item tables (embedding, bias) are updated only on the rows a window
    touched: the items, targets and negatives of one window are a fraction of the catalogue.
    """

    ROW_SPARSE_MIN = 1 << 16  # elements: below this the dense update is cheaper than finding the rows

    def __init__(self, params, lr: float = 0.05, momentum: float = 0.0, eps: float = 1e-6):
        super().__init__(params, dict(lr=lr, momentum=momentum, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                if not self.state[p]:
                    self.state[p]["acc"] = torch.zeros_like(p)
                    if group["momentum"]:
                        self.state[p]["mom"] = torch.zeros_like(p)
            sparse = [p for p in params if self._row_sparse(p, group)]
            dense = [p for p in params if not any(p is q for q in sparse)]
            for p in sparse:
                self._sparse_update(p, group)
            if not dense:
                continue
            grads = [p.grad for p in dense]
            accs = [self.state[p]["acc"] for p in dense]
            torch._foreach_addcmul_(accs, grads, grads)
            denom = torch._foreach_add(torch._foreach_sqrt(accs), group["eps"])
            updates = torch._foreach_div(grads, denom)
            if group["momentum"]:
                moms = [self.state[p]["mom"] for p in dense]
                torch._foreach_mul_(moms, group["momentum"])
                torch._foreach_add_(moms, updates, alpha=-group["lr"])
                torch._foreach_add_(dense, moms)
            else:
                torch._foreach_add_(dense, updates, alpha=-group["lr"])

    def _row_sparse(self, p: torch.Tensor, group: dict) -> bool:
        """Row-sparse only where it is exact (no momentum) and free of device syncs (the CPU)."""
        return (not group["momentum"] and p.device.type == "cpu" and p.dim() in (1, 2)
                and p.numel() >= self.ROW_SPARSE_MIN)

    def _sparse_update(self, p: torch.Tensor, group: dict) -> None:
        """The Adagrad update of the rows with a nonzero gradient; the same arithmetic as the dense one."""
        grad = p.grad
        if grad.dim() == 1:
            touched = grad != 0
        else:  # a row is touched iff its max or min is nonzero: two fast reductions (ne().any() is slow)
            touched = (grad.amax(dim=1) != 0) | (grad.amin(dim=1) != 0)
        rows = touched.nonzero().squeeze(1)
        g = grad.index_select(0, rows)
        acc = self.state[p]["acc"].index_select(0, rows).addcmul_(g, g)
        self.state[p]["acc"].index_copy_(0, rows, acc)
        update = g.div_(acc.sqrt_().add_(group["eps"]))
        p.index_copy_(0, rows, p.index_select(0, rows).add_(update, alpha=-group["lr"]))


class _CrossEntropy(torch.autograd.Function):
    """Per-row ``-log_softmax(logits)[label]``, as ``F.cross_entropy(..., reduction="none")``, cheaper on CPU.

    ``F.cross_entropy`` runs ``log_softmax`` (slower than ``softmax`` on CPU), and its backward allocates and
    zero-fills an [N, C] gradient for the label gather, then ``log_softmax``'s backward allocates another. Here
    the forward keeps the softmax ``p`` and reads the log-normaliser off each row's largest logit,
    ``lse = x_max - log(p_max)`` (``p_max >= 1/C`` never underflows), and the backward turns ``p`` into the
    gradient in place (``p * g``, minus ``g`` at the label). The saved buffer is consumed, so the graph cannot
    be back-propagated twice (autograd raises if it is).
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        p = torch.softmax(logits, dim=1)
        # softmax is monotonic: the largest p is the largest logit's (amax: max with indices is slow on CPU).
        log_norm = logits.amax(dim=1, keepdim=True) - torch.log(p.amax(dim=1, keepdim=True))
        ctx.save_for_backward(p, labels)
        return (log_norm - logits.gather(1, labels.unsqueeze(1))).squeeze(1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        p, labels = ctx.saved_tensors
        grad_logits = p.mul_(grad.unsqueeze(1))
        grad_logits.scatter_add_(1, labels.unsqueeze(1), -grad.unsqueeze(1))
        return grad_logits, None


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """[N, C] float logits, [N] labels -> [N] losses (see :class:`_CrossEntropy`)."""
    return _CrossEntropy.apply(logits, labels)


@dataclass
class EventTensors:
    """Per-event inputs on the device, indexed by absolute event index."""

    items: torch.Tensor
    gaps: torch.Tensor
    session_start: torch.Tensor
    user_start: torch.Tensor
    target: torch.Tensor  # next item in the same session, or -1
    weight: torch.Tensor  # loss weight (recency mask x event weight)

    @classmethod
    def build(cls, data: InteractionData, config: TrainConfig, device: torch.device) -> "EventTensors":
        user_start = data.user_start_mask()
        # Every event predicts the user's next one: within a session from the session state, across a
        # session boundary from the next session's start state (see HRNN.run_window).
        target = np.full(data.n_events, -1, dtype=np.int64)
        has_next = ~user_start[1:]
        target[:-1][has_next] = data.items[1:][has_next]
        weight = data.weights.astype(np.float32, copy=True)
        if config.recency_mask and data.n_events:
            age_days = (data.times.max() - data.times) / SECONDS_PER_DAY
            weight *= np.exp2(-age_days / config.recency_half_life_days).astype(np.float32)
        items, gaps, session_start, user_start_t = event_inputs(data, device)
        return cls(
            items=items,
            gaps=gaps,
            session_start=session_start,
            user_start=user_start_t,
            target=torch.as_tensor(target).to(device),
            weight=torch.as_tensor(weight).to(device),
        )


def slot_layout(lengths: np.ndarray, offsets: np.ndarray, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """[steps, batch] absolute event indices (-1 = empty) for one epoch of user-parallel mini-batches.

    Users are shuffled, then cut into ``batch_size`` contiguous runs of nearly equal event counts; slot b
    walks its run user after user, which is what refilling a slot with the next user produces.
    """
    order = rng.permutation(len(lengths))
    order = order[lengths[order] > 0]
    lengths_o = lengths[order].astype(np.int64)
    events = ranges_to_index(offsets[order], lengths_o)
    total = len(events)
    if total == 0:
        return np.full((0, batch_size), -1, dtype=np.int64)
    batch_size = max(1, min(batch_size, len(order)))
    user_ends = np.cumsum(lengths_o)
    # Cut after the user whose end is nearest each ideal boundary, so no user is split between slots.
    targets = (np.arange(1, batch_size) * total) / batch_size
    after = np.minimum(np.searchsorted(user_ends, targets), len(user_ends) - 1)
    before = np.maximum(after - 1, 0)
    nearer = np.where(np.abs(user_ends[before] - targets) <= np.abs(user_ends[after] - targets), before, after)
    cuts = np.concatenate([[0], user_ends[nearer], [total]])
    cuts = np.maximum.accumulate(cuts)
    slot_len = np.diff(cuts)
    steps = int(slot_len.max())
    layout = np.full((steps, batch_size), -1, dtype=np.int64)
    slot_of = np.repeat(np.arange(batch_size), slot_len)
    pos = np.arange(total) - np.repeat(cuts[:-1], slot_len)
    layout[pos, slot_of] = events
    return layout


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
    def create(cls, n_items: int, hidden_dimension: int, config: TrainConfig, dropout: float = 0.1,
               hierarchical: bool = True) -> "Trainer":
        torch.manual_seed(config.seed)
        model = HRNN(ModelConfig(n_items=n_items, hidden_dimension=hidden_dimension, hierarchical=hierarchical,
                                 dropout=dropout))
        return cls(model=model, config=config, device=resolve_device(config.device))

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
                    ce = self._sampled_loss(states, target, negatives, log_q_batch, log_q_sample)
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

    def _sampled_loss(self, states, target, negatives, log_q_batch, log_q_sample):
        """Cross-entropy over in-batch targets (per step) plus shared sampled negatives, logQ-corrected."""
        model = self.model
        steps, batch, hidden = states.shape
        safe = target.clamp(min=0)
        target_emb = model.item_embedding(safe)  # [T, B, H]
        in_batch = torch.bmm(states, target_emb.transpose(1, 2))  # [T, B, B]: column j = slot j's target
        in_batch = in_batch + (model.item_bias[safe] - log_q_batch[safe]).unsqueeze(1)
        in_batch = in_batch.float().masked_fill((target < 0).unsqueeze(1), -1e9)
        neg_emb = model.item_embedding(negatives)
        # addmm: the bias row is the product's initial value, one pass over the [T*B, negatives] block fewer.
        sampled = torch.addmm(model.item_bias[negatives] - log_q_sample[negatives], states.reshape(-1, hidden),
                              neg_emb.t())
        logits = torch.cat([in_batch.reshape(steps * batch, batch), sampled.float()], dim=1)
        labels = torch.arange(batch, device=states.device).repeat(steps)
        return cross_entropy(logits, labels)

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


def print_progress(stats: EpochStats, total_epochs: int, extra: str = "", stream=sys.stderr) -> None:
    stream.write(
        f"epoch {stats.epoch}/{total_epochs}  loss {stats.loss:.4f}  "
        f"{stats.events_per_second:,.0f} events/s  {stats.seconds:.1f}s{('  ' + extra) if extra else ''}\n"
    )
    stream.flush()
