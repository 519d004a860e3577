"""The catalogue's hidden structure (topics, popularity, successors, start items, trending set, prices).

It is drawn from its own random stream, so it depends on the seed and the catalogue's shape only, never on
the number of users.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import closed_cdf, halving_weights, segment_cumsum
from .constants import ITEM_ZIPF, N_START_ITEMS, PRICE_MEDIAN, PRICE_SIGMA, TOPIC_ZIPF


@dataclass(frozen=True)
class Topics:
    """The non-trending items in topic chunks, each chunk in popularity order (Zipf inside a topic)."""

    core: np.ndarray  # (n_core,) item indices; contiguous chunks are topics, order inside = popularity rank
    core_topic: np.ndarray  # (n_core,) topic of each core position
    start: np.ndarray  # (n_topics + 1,) chunk boundaries in ``core``
    gcdf: np.ndarray  # (n_core,) topic c's popularity cdf, shifted into (c, c + 1]

    def draw(self, topics: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Popularity draws (positions in ``core``) from ``topics`` for uniforms ``u``, in one search."""
        idx = np.searchsorted(self.gcdf, topics + u, side="right")
        return np.minimum(idx, self.start[topics + 1] - 1)


@dataclass(frozen=True)
class Catalogue:
    """Everything about the items that sessions are walked on."""

    n_items: int
    topics: Topics
    item_topic: np.ndarray  # (n_items,) topic index; -1 for trending items
    trending: np.ndarray  # sorted item indices
    successors: np.ndarray  # (n_items, n_successors) item indices (self for trending items)
    successor_probs: np.ndarray  # (n_successors,)
    start_items: np.ndarray  # (n_topics, N_START_ITEMS) item indices
    start_item_probs: np.ndarray  # (N_START_ITEMS,)
    topic_weights: np.ndarray  # (n_topics,) how often a topic is a user's favourite
    price: np.ndarray  # (n_items,) a purchase's EVENT_VALUE

    @property
    def successor_cdf(self) -> np.ndarray:
        return closed_cdf(self.successor_probs)

    @property
    def start_cdf(self) -> np.ndarray:
        return closed_cdf(self.start_item_probs)

    @property
    def topic_cdf(self) -> np.ndarray:
        return closed_cdf(self.topic_weights)


def build_catalogue(
    rng: np.random.Generator, n_items: int, n_topics: int, n_successors: int, n_trend: int
) -> Catalogue:
    """Draw the catalogue; the order of the draws is part of the seeded output, so keep it."""
    perm = rng.permutation(n_items)
    trending = np.sort(perm[:n_trend])
    topics = _topics(perm[n_trend:], n_topics)
    item_topic = np.full(n_items, -1, dtype=np.int64)
    item_topic[topics.core] = topics.core_topic
    successors = _successors(rng, topics, n_items, n_successors)
    starts = topics.draw(np.repeat(np.arange(n_topics), N_START_ITEMS), rng.random(n_topics * N_START_ITEMS))
    topic_weights = 1.0 / (rng.permutation(n_topics) + 3.0) ** TOPIC_ZIPF
    topic_weights /= topic_weights.sum()
    price = np.round(PRICE_MEDIAN * np.exp(PRICE_SIGMA * rng.standard_normal(n_items)), 2)
    return Catalogue(
        n_items=n_items,
        topics=topics,
        item_topic=item_topic,
        trending=trending,
        successors=successors,
        successor_probs=halving_weights(n_successors),
        start_items=topics.core[starts].reshape(n_topics, N_START_ITEMS),
        start_item_probs=halving_weights(N_START_ITEMS),
        topic_weights=topic_weights,
        price=np.maximum(price, 0.5),
    )


def _topics(core: np.ndarray, n_topics: int) -> Topics:
    """Cut ``core`` (already in random order) into ``n_topics`` equal chunks with a Zipf cdf in each."""
    n_core = core.size
    core_topic = (np.arange(n_core, dtype=np.int64) * n_topics) // n_core
    start = np.searchsorted(core_topic, np.arange(n_topics + 1))
    rank = np.arange(n_core) - start[core_topic]
    pop = 1.0 / (rank + 1.0) ** ITEM_ZIPF
    cdf = segment_cumsum(pop, start[:-1], core_topic)
    cdf /= cdf[start[1:] - 1][core_topic]
    cdf[start[1:] - 1] = 1.0
    return Topics(core=core, core_topic=core_topic, start=start, gcdf=core_topic + cdf)


def _successors(rng: np.random.Generator, topics: Topics, n_items: int, n_successors: int) -> np.ndarray:
    """Popularity draws from each item's own topic, never the item itself (a draw of itself moves to its
    neighbour in the chunk); trending items are their own successors."""
    core, start = topics.core, topics.start
    n_core = core.size
    pos = topics.draw(np.repeat(topics.core_topic, n_successors), rng.random(n_core * n_successors))
    pos = pos.reshape(n_core, n_successors)
    own = np.arange(n_core)[:, None]
    t_of = topics.core_topic[:, None]
    shifted = start[t_of] + (own - start[t_of] + 1) % np.diff(start)[t_of]
    pos = np.where(pos == own, shifted, pos)
    successors = np.repeat(np.arange(n_items, dtype=np.int64)[:, None], n_successors, axis=1)
    successors[core] = core[pos]
    return successors
