"""The generator's hidden structure: its constants, the catalogue (topics, popularity, successors, start
items, trending set, prices), the users and their persistent tastes, the robots, and the sessions (how many,
how long, about which topic, where their events sit in the flat event arrays), plus how many rows a user
yields on average."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa


# ---- constants and the schema ---------------------------------------------------------------------------------
# The generator's fixed shapes and the Interactions schema it writes, in one place so that the stages and
# :func:`expected_rows_per_user` cannot disagree.


START_TIMESTAMP = 1_704_067_200  # 2024-01-01T00:00:00Z
DAY = 86_400
MIN_SESSION_GAP_SECONDS = 3600  # end of one session to the start of the user's next one, at least
MAX_INTRA_GAP_SECONDS = 25 * 60  # between consecutive events of a session, at most
INTRA_GAP_MEDIAN_SECONDS = 35.0
INTRA_GAP_SIGMA = 1.1
PRIMARY_TOPIC_PROB = 0.65
SESSIONS_SIGMA = 1.0
ITEM_ZIPF = 1.0
TOPIC_ZIPF = 0.8
N_START_ITEMS = 3
PRICE_MEDIAN = 20.0
PRICE_SIGMA = 0.8

SCHEMA = pa.schema(
    [
        pa.field("USER_ID", pa.string(), nullable=False),
        pa.field("ITEM_ID", pa.string(), nullable=False),
        pa.field("TIMESTAMP", pa.int64(), nullable=False),
        pa.field("EVENT_TYPE", pa.string(), nullable=False),
        pa.field("EVENT_VALUE", pa.float64(), nullable=True),
    ]
)
EVENT_TYPES = ("click", "purchase")


# ---- distribution helpers -------------------------------------------------------------------------------------
# Small numpy helpers shared by the stages, so that every stage builds its distributions the same way.


def halving_weights(k: int) -> np.ndarray:
    """Weights 1, 1/2, 1/4, ... normalised (4:2:1 for three): the first choice dominates without being sure."""
    w = 0.5 ** np.arange(k, dtype=np.float64)
    return w / w.sum()


def closed_cdf(weights: np.ndarray) -> np.ndarray:
    """Cumulative sum ending at exactly 1.0, so ``searchsorted(cdf, u, "right")`` never runs past the end."""
    cdf = np.cumsum(weights)
    cdf[-1] = 1.0
    return cdf


def segment_cumsum(x: np.ndarray, seg_start: np.ndarray, seg_id: np.ndarray) -> np.ndarray:
    """Inclusive cumulative sum of ``x`` restarted at each segment (segments contiguous, non-empty)."""
    c = np.cumsum(x)
    base = c[seg_start] - x[seg_start]
    c -= base[seg_id]
    return c


# ---- robots ---------------------------------------------------------------------------------------------------
# Crawler users: many long, fast, uniformly random sessions without purchases, the kind of noise a
# recommender's data filters have to survive. The other stages ask here who is a robot and what it draws.


ROBOT_SESSIONS = (20, 40)  # inclusive
ROBOT_SESSION_LENGTH = (20, 50)  # inclusive
ROBOT_GAP_SECONDS = (1, 3)  # inclusive


def robot_flags(n_users: int, robot_fraction: float) -> np.ndarray:
    """(n_users,) bool: the last ``round(n_users * robot_fraction)`` users are robots."""
    n_robots = int(round(n_users * robot_fraction))
    is_robot = np.zeros(n_users, dtype=bool)
    if n_robots:
        is_robot[n_users - n_robots:] = True
    return is_robot


def robot_draw(rng: np.random.Generator, bounds: tuple[int, int], count: int) -> np.ndarray:
    """``count`` integers uniform in the inclusive ``bounds`` (sessions per robot, their lengths, gaps)."""
    return rng.integers(bounds[0], bounds[1] + 1, count)


# ---- sizing ---------------------------------------------------------------------------------------------------
# How many rows a user yields on average, so callers can ask for a row count instead of a user count.


def geometric_p(mean_session_length: float) -> float:
    """The Geometric parameter that makes ``2 + (Geometric - 1)`` average ``mean_session_length`` (uncapped)."""
    if mean_session_length <= 2.0:
        return 1.0
    return 1.0 / (mean_session_length - 1.0)


def _normal_sf(x: float) -> float:
    return 0.5 * math.erfc(x / math.sqrt(2.0))


def expected_rows_per_user(
    *,
    sessions_per_user_median: float = 3.0,
    max_sessions_per_user: int = 150,
    mean_session_length: float = 5.0,
    max_session_length: int = 20,
    robot_fraction: float = 0.001,
) -> float:
    """Exact expected number of rows per user under the generator's distributions."""
    mu = math.log(sessions_per_user_median)
    # n = clip(ceil(X), 1, cap), X ~ LogNormal(mu, sigma): E[n] = 1 + sum_{j=1}^{cap-1} P(X > j)
    e_sessions = 1.0 + sum(
        _normal_sf((math.log(j) - mu) / SESSIONS_SIGMA) for j in range(1, max_sessions_per_user)
    )
    q = 1.0 - geometric_p(mean_session_length)
    # L = 2 + min(G - 1, max - 2), G ~ Geometric(p) on {1, 2, ...}: E[L] = 2 + sum_{j=1}^{max-2} q^j
    e_length = 2.0 + sum(q**j for j in range(1, max_session_length - 1))
    e_robot = (sum(ROBOT_SESSIONS) / 2.0) * (sum(ROBOT_SESSION_LENGTH) / 2.0)
    return (1.0 - robot_fraction) * e_sessions * e_length + robot_fraction * e_robot


def users_for_rows(target_rows: int, **shape: float) -> int:
    """The number of users whose expected row count is ``target_rows`` (``shape``: the keyword arguments of
    :func:`expected_rows_per_user`)."""
    if target_rows < 1:
        raise ValueError("target_rows must be positive")
    return max(1, int(round(target_rows / expected_rows_per_user(**shape))))


# ---- the catalogue --------------------------------------------------------------------------------------------
# The catalogue's hidden structure (topics, popularity, successors, start items, trending set, prices).
#
# It is drawn from its own random stream, so it depends on the seed and the catalogue's shape only, never on
# the number of users.


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


# ---- users ----------------------------------------------------------------------------------------------------
# Users and their persistent tastes: one or two favourite topics each, kept for every session, which is what
# makes a new session's first item predictable from the user's history.


@dataclass(frozen=True)
class Users:
    number: np.ndarray  # (n_users,) int: the numeric USER_ID
    robot: np.ndarray  # (n_users,) bool
    topics: np.ndarray  # (n_users, 2) favourite topics; column 1 is -1 for a one-topic user

    @property
    def primary(self) -> np.ndarray:
        return self.topics[:, 0]

    @property
    def secondary(self) -> np.ndarray:
        return self.topics[:, 1]


def draw_users(
    rng: np.random.Generator, n_users: int, topic_cdf: np.ndarray, two_topic_fraction: float, robot_fraction: float
) -> Users:
    """Draw distinct numeric ids and favourite topics (weighted by ``topic_cdf``)."""
    is_robot = robot_flags(n_users, robot_fraction)
    number = 1000 + rng.choice(10 * n_users, size=n_users, replace=False)
    primary = draw_topics(rng, topic_cdf, n_users)
    secondary = np.full(n_users, -1, dtype=np.int64)
    if topic_cdf.size > 1:
        secondary = _second_favourite(rng, topic_cdf, primary, two_topic_fraction)
    return Users(number=number, robot=is_robot, topics=np.stack([primary, secondary], axis=1))


def draw_topics(rng: np.random.Generator, topic_cdf: np.ndarray, n: int) -> np.ndarray:
    """``n`` topics drawn by the topic popularity ``topic_cdf``."""
    return np.searchsorted(topic_cdf, rng.random(n), side="right").clip(max=topic_cdf.size - 1)


def _second_favourite(
    rng: np.random.Generator, topic_cdf: np.ndarray, primary: np.ndarray, two_topic_fraction: float
) -> np.ndarray:
    """A second topic, different from the first, for a ``two_topic_fraction`` of users (-1 for the rest)."""
    n_topics = topic_cdf.size
    has2 = rng.random(primary.size) < two_topic_fraction
    second = draw_topics(rng, topic_cdf, primary.size)
    clash = second == primary
    second[clash] = (primary[clash] + 1 + rng.integers(0, n_topics - 1, clash.sum())) % n_topics
    return np.where(has2, second, -1)


# ---- sessions -------------------------------------------------------------------------------------------------
# Sessions: how many each user has (heavy-tailed), how long each is, which favourite topic it is about, and
# where its events sit in the flat event arrays that the later stages fill.


@dataclass(frozen=True)
class Sessions:
    """Sessions are numbered user by user (a user's sessions are contiguous and in time order); events are
    numbered session by session."""

    user: np.ndarray  # (n_sessions,) int32 user index
    user_offset: np.ndarray  # (n_users,) the first session of each user
    robot: np.ndarray  # (n_sessions,) bool
    length: np.ndarray  # (n_sessions,) int64 number of events
    topic: np.ndarray  # (n_sessions,) topic index
    offset: np.ndarray  # (n_sessions,) the first event of each session
    event_session: np.ndarray  # (n_events,) session index of each event

    @property
    def count(self) -> int:
        return int(self.length.size)

    @property
    def n_events(self) -> int:
        return int(self.event_session.size)

    @property
    def last_event(self) -> np.ndarray:
        return self.offset + self.length - 1

    @property
    def event_robot(self) -> np.ndarray:
        return self.robot[self.event_session]


def draw_sessions(
    rng: np.random.Generator,
    users: Users,
    *,
    sessions_per_user_median: float,
    max_sessions_per_user: int,
    mean_session_length: float,
    max_session_length: int,
) -> Sessions:
    """Draw session counts, then lengths, then topics (this order is part of the seeded output)."""
    per_user = _sessions_per_user(rng, users, sessions_per_user_median, max_sessions_per_user)
    n_sessions = int(per_user.sum())
    user = np.repeat(np.arange(per_user.size, dtype=np.int32), per_user)
    robot = users.robot[user]
    length = _session_lengths(rng, robot, mean_session_length, max_session_length)
    use_second = (users.secondary[user] >= 0) & (rng.random(n_sessions) >= PRIMARY_TOPIC_PROB)
    topic = np.where(use_second, users.secondary[user], users.primary[user])
    index_dtype = np.int32 if n_sessions < 2**31 else np.int64
    return Sessions(
        user=user,
        user_offset=np.concatenate([[0], np.cumsum(per_user)[:-1]]),
        robot=robot,
        length=length,
        topic=topic,
        offset=np.concatenate([[0], np.cumsum(length)[:-1]]),
        event_session=np.repeat(np.arange(n_sessions, dtype=index_dtype), length),
    )


def _sessions_per_user(
    rng: np.random.Generator, users: Users, median: float, cap: int
) -> np.ndarray:
    """ceil(LogNormal) capped at ``cap``: most users have a few sessions, some have very many."""
    n_users = users.number.size
    per_user = np.ceil(median * np.exp(SESSIONS_SIGMA * rng.standard_normal(n_users)))
    per_user = per_user.clip(1, cap).astype(np.int64)
    per_user[users.robot] = robot_draw(rng, ROBOT_SESSIONS, int(users.robot.sum()))
    return per_user


def _session_lengths(
    rng: np.random.Generator, robot: np.ndarray, mean_session_length: float, max_session_length: int
) -> np.ndarray:
    """2 + Geometric, capped: every session has a next item to predict."""
    length = 2 + np.minimum(rng.geometric(geometric_p(mean_session_length), robot.size) - 1, max_session_length - 2)
    n_robot_sessions = int(robot.sum())
    if n_robot_sessions:
        length[robot] = robot_draw(rng, ROBOT_SESSION_LENGTH, n_robot_sessions)
    return length.astype(np.int64)
