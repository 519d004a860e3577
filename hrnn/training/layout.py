"""The epoch's inputs: per-event tensors on the device, and the user-parallel slot layout."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data import InteractionData, ranges_to_index
from ..model import event_inputs
from .config import TrainConfig
from .recency import Recency, decide, recency_weights



@dataclass
class EventTensors:
    """Per-event inputs on the device, indexed by absolute event index."""

    items: torch.Tensor
    gaps: torch.Tensor
    session_start: torch.Tensor
    user_start: torch.Tensor
    target: torch.Tensor  # next item in the same session, or -1
    weight: torch.Tensor  # loss weight (recency mask x event weight)
    recency: Recency  # what recency_mask decided for this training set

    @classmethod
    def build(cls, data: InteractionData, config: TrainConfig, device: torch.device) -> "EventTensors":
        user_start = data.user_start_mask()
        # Every event predicts the user's next one: within a session from the session state, across a
        # session boundary from the next session's start state (see HRNN.run_window).
        target = np.full(data.n_events, -1, dtype=np.int64)
        has_next = ~user_start[1:]
        target[:-1][has_next] = data.items[1:][has_next]
        weight = data.weights.astype(np.float32, copy=True)
        recency = Recency(float("nan"), 0.0)
        if config.recency_mask:
            recency = decide(data.items, data.times, user_start, config.seed)
            weight *= recency_weights(data.times, config.recency_half_life_days, config.recency_floor,
                                      recency.strength)
        items, gaps, session_start, user_start_t = event_inputs(data, device)
        return cls(
            items=items,
            gaps=gaps,
            session_start=session_start,
            user_start=user_start_t,
            target=torch.as_tensor(target).to(device),
            weight=torch.as_tensor(weight).to(device),
            recency=recency,
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

