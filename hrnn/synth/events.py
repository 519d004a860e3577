"""Event types and values: purchases (likelier at a session's end, never by robots) carry the item's price,
clicks a dwell-like value that is sometimes missing, as in real exports."""

from __future__ import annotations

import numpy as np

from .sessions import Sessions


def event_types_and_values(
    rng: np.random.Generator, sessions: Sessions, items: np.ndarray, price: np.ndarray, *, purchase_prob: float,
    purchase_prob_last: float, null_value_fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(purchase, value, value is null), each (n_events,)."""
    n_events = sessions.n_events
    p_buy = np.full(n_events, purchase_prob, dtype=np.float32)
    p_buy[sessions.last_event] = purchase_prob_last
    p_buy[sessions.event_robot] = 0.0
    buy = rng.random(n_events, dtype=np.float32) < p_buy
    del p_buy
    value = np.round(1.0 - np.sqrt(rng.random(n_events)), 3)  # Beta(1, 2): mostly short dwell
    value[buy] = price[items[buy]]
    null = ~buy & (rng.random(n_events, dtype=np.float32) < null_value_fraction)
    return buy, value, null
