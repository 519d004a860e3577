"""The popularity shift: late in the range a small trending set takes over part of the traffic, which is
what makes recency weighting pay off on the newest interactions."""

from __future__ import annotations

import numpy as np


def trend_start(start_timestamp: int, span: int, trend_fraction: float) -> int:
    """Epoch seconds at which the last ``trend_fraction`` of the range begins."""
    return int(start_timestamp) + int(round((1.0 - trend_fraction) * span))


def shift_popularity(
    rng: np.random.Generator, items: np.ndarray, timestamps: np.ndarray, event_robot: np.ndarray, start: int,
    trend_strength: float, trending: np.ndarray
) -> np.ndarray:
    """Replace, in place, each non-robot event from ``start`` on with probability ``trend_strength`` by a
    uniformly drawn trending item; return the replaced event indices."""
    late = np.flatnonzero((timestamps >= start) & ~event_robot)
    late = late[rng.random(late.size) < trend_strength]
    items[late] = trending[rng.integers(0, trending.size, late.size)]
    return late
