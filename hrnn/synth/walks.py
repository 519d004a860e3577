"""Within-session item walks: a start item of the session's topic, then successors of the current item, with
popularity draws and uniform noise mixed in. This plants the item-to-item signal a session model learns."""

from __future__ import annotations

import numpy as np

from .catalogue import Catalogue
from .sessions import Sessions


def walk_sessions(
    rng: np.random.Generator, catalogue: Catalogue, sessions: Sessions, *, noise: float, start_prob: float,
    follow: float
) -> np.ndarray:
    """(n_events,) int32 item of every event.

    Vectorised over sessions, looping over the step position only: sessions are sorted longest first, so
    the sessions still running at step ``t`` are a prefix.
    """
    length = sessions.length
    order = np.argsort(-length, kind="stable")
    active = sessions.count - np.cumsum(np.bincount(length, minlength=int(length.max()) + 1))
    offset, topic, robot = sessions.offset[order], sessions.topic[order], sessions.robot[order]
    items = np.empty(sessions.n_events, dtype=np.int32)
    for t in range(int(length.max())):
        k = int(active[t])  # the number of sessions longer than t
        pos = offset[:k] + t
        prev = None if t == 0 else items[pos - 1]
        items[pos] = _step(rng, catalogue, topic[:k], robot[:k], prev, noise, start_prob, follow)
    return items


def _step(
    rng: np.random.Generator, catalogue: Catalogue, topic: np.ndarray, robot: np.ndarray, prev: np.ndarray | None,
    noise: float, start_prob: float, follow: float
) -> np.ndarray:
    """One item for each running session: noise (always for robots), else a start item (first step) or a
    successor of ``prev`` (when ``prev`` is in the session's topic), else a popularity draw from the topic."""
    k = topic.size
    u = rng.random(k, dtype=np.float32)
    v = rng.random(k)
    x = np.empty(k, dtype=np.int32)
    m_noise = (u < noise) | robot
    x[m_noise] = rng.integers(0, catalogue.n_items, int(m_noise.sum()))
    if prev is None:
        m_spec = ~m_noise & (u < noise + start_prob)
        pick = np.searchsorted(catalogue.start_cdf, v[m_spec], side="right")
        x[m_spec] = catalogue.start_items[topic[m_spec], pick]
    else:
        m_spec = ~m_noise & (u < noise + follow) & (catalogue.item_topic[prev] == topic)
        pick = np.searchsorted(catalogue.successor_cdf, v[m_spec], side="right")
        x[m_spec] = catalogue.successors[prev[m_spec], pick]
    m_pop = ~(m_noise | m_spec)
    x[m_pop] = catalogue.topics.core[catalogue.topics.draw(topic[m_pop], v[m_pop])]
    return x
