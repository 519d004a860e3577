"""Drift late in the range: a small trending set takes over part of the traffic (a popularity shift), and
optionally the items trade places within their topics (a pattern shift: which items start sessions and follow
each other changes, while users keep their topics). Both are what recency weighting is for."""

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


def shift_patterns(rng: np.random.Generator, items: np.ndarray, timestamps: np.ndarray, event_robot: np.ndarray,
                   start: int, item_topic: np.ndarray) -> None:
    """Relabel, in place, every non-robot event from ``start`` on by one random permutation of the items
    within each topic (trending items keep their labels)."""
    relabel = np.arange(item_topic.size)
    for topic in np.unique(item_topic[item_topic >= 0]):
        members = np.flatnonzero(item_topic == topic)
        relabel[members] = rng.permutation(members)
    late = (timestamps >= start) & ~event_robot
    items[late] = relabel[items[late]]
