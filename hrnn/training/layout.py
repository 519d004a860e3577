"""The epoch's inputs: per-event tensors on the device, and the user-parallel slot layout."""

from __future__ import annotations

import heapq
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
    target: torch.Tensor  # next item of the same user, or -1
    weight: torch.Tensor  # loss weight (recency mask x event weight)
    recency: Recency  # what recency_mask decided for this training set

    @classmethod
    def build(cls, data: InteractionData, config: TrainConfig, device: torch.device) -> "EventTensors":
        user_start = data.user_start_mask()
        # Every event predicts the user's next one: within a session from the session state, across a
        # session boundary from the next session's start state (see HRNN.advance).
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


def slot_assignment(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Users (with events) and the slot each one goes to, so that the slots finish close together.

    The long users (more than 1/32 of a slot's share of the events) go first, longest first, each to the
    slot with the least work so far (LPT scheduling). The many short users, in a random order, then fill the
    slots up to a common level (water filling): each slot takes the run of users whose middles fall in
    its remaining capacity, so a slot ends within about half a short user of the level. A slot still runs
    longer than its share when one user alone is longer than that share (no user is split).
    """
    users = rng.permutation(len(lengths))
    users = users[lengths[users] > 0]
    lens = lengths[users].astype(np.int64)
    total = int(lens.sum())
    slots = np.empty(len(users), dtype=np.int64)
    load = np.zeros(batch_size, dtype=np.int64)
    long = np.flatnonzero(lens * 32 * batch_size > total)
    long = long[np.argsort(-lens[long], kind="stable")]  # longest first; equal lengths in random order
    heap = [(0, s) for s in range(batch_size)]
    for u in long:
        work, s = heapq.heappop(heap)
        slots[u] = s
        heapq.heappush(heap, (work + int(lens[u]), s))
        load[s] += lens[u]
    short = np.setdiff1d(np.arange(len(users)), long, assume_unique=True)  # still in the random order
    capacity = np.maximum(_water_level(load, int(lens[short].sum())) - load, 0.0)
    middles = np.cumsum(lens[short]) - lens[short] / 2.0  # a user goes where most of it fits
    slots[short] = np.minimum(np.searchsorted(np.cumsum(capacity), middles, side="right"), batch_size - 1)
    return users, slots


def _water_level(load: np.ndarray, volume: int) -> float:
    """The level L with sum(max(L - load, 0)) == volume."""
    ordered = np.sort(load).astype(np.float64)
    below = np.cumsum(ordered)
    k = np.arange(1, len(ordered) + 1)
    levels = (volume + below) / k  # the level if exactly the k lowest slots are filled
    fits = levels <= np.append(ordered[1:], np.inf)
    return float(levels[int(np.argmax(fits))])


def slot_layout(lengths: np.ndarray, offsets: np.ndarray, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """[steps, batch] absolute event indices (-1 = empty) for one epoch of user-parallel mini-batches.

    Users go to slots by :func:`slot_assignment` (balanced, so large batches stay full); each slot then
    walks its users one after the other in a random order, which is what refilling a slot with the next user
    produces. No user is split between slots.
    """
    batch_size = max(1, min(batch_size, int(np.count_nonzero(lengths))))
    users, slots = slot_assignment(lengths, batch_size, rng)
    if len(users) == 0:
        return np.full((0, batch_size), -1, dtype=np.int64)
    order = np.lexsort((rng.random(len(users)), slots))  # by slot, in a random order within each slot
    users, slots = users[order], slots[order]
    user_len = lengths[users].astype(np.int64)
    events = ranges_to_index(offsets[users], user_len)
    slot_len = np.bincount(slots, weights=user_len, minlength=batch_size).astype(np.int64)
    slot_start = np.concatenate([[0], np.cumsum(slot_len)[:-1]])
    # Position of each event within its slot: its rank among the slot's events (they are contiguous here).
    pos = np.arange(len(events)) - np.repeat(slot_start[slots], user_len)
    steps = int(slot_len.max())
    layout = np.full((steps, batch_size), -1, dtype=np.int64)
    layout[pos, np.repeat(slots, user_len)] = events
    return layout


def slot_fill(layout: np.ndarray) -> float:
    """Fraction of the layout's slot-steps that hold an event."""
    return float((layout >= 0).mean()) if layout.size else 1.0
