"""The events of the generated sessions: their timestamps, the items walked within each session, the drift
late in the range, and each event's type and value."""

from __future__ import annotations

import math

import numpy as np

from .structure import (INTRA_GAP_MEDIAN_SECONDS, INTRA_GAP_SIGMA, MAX_INTRA_GAP_SECONDS, MIN_SESSION_GAP_SECONDS,
                        ROBOT_GAP_SECONDS, Catalogue, Sessions, robot_draw, segment_cumsum)


# ---- timestamps -----------------------------------------------------------------------------------------------
# Timestamps: events of a session are seconds to minutes apart, a user's sessions more than an hour apart
# (so a 30-minute session timeout recovers the generated sessions exactly), each user active in a window.


def event_timestamps(
    rng: np.random.Generator, sessions: Sessions, span: int, days: float, start_timestamp: int
) -> np.ndarray:
    """(n_events,) int64 epoch seconds over ``span`` seconds from ``start_timestamp``."""
    within, duration = _offsets_in_session(rng, sessions)
    session_start = _session_starts(rng, sessions, duration, span, days)
    ts = session_start[sessions.event_session]
    ts += within
    ts += int(start_timestamp)
    return ts


def _offsets_in_session(rng: np.random.Generator, sessions: Sessions) -> tuple[np.ndarray, np.ndarray]:
    """Each event's seconds since its session's first event (log-normal gaps; robots 1-3 s), and each
    session's duration."""
    offset, event_session = sessions.offset, sessions.event_session
    gap = rng.standard_normal(sessions.n_events, dtype=np.float32)
    gap *= INTRA_GAP_SIGMA
    gap += math.log(INTRA_GAP_MEDIAN_SECONDS)
    np.exp(gap, out=gap)
    gap = np.rint(gap).clip(1, MAX_INTRA_GAP_SECONDS).astype(np.int64)
    event_robot = sessions.event_robot
    n_robot_events = int(event_robot.sum())
    if n_robot_events:
        gap[event_robot] = robot_draw(rng, ROBOT_GAP_SECONDS, n_robot_events)
    gap[offset] = 0
    within = np.cumsum(gap)
    within -= within[offset][event_session]
    return within, within[sessions.last_event]


def _session_starts(
    rng: np.random.Generator, sessions: Sessions, duration: np.ndarray, span: int, days: float
) -> np.ndarray:
    """Place each user's sessions, in order and an hour or more apart, inside a random window of the range."""
    user, user_offset = sessions.user, sessions.user_offset
    needed = np.add.reduceat(duration + MIN_SESSION_GAP_SECONDS, user_offset) - MIN_SESSION_GAP_SECONDS
    if (needed > span).any():
        raise ValueError(f"days={days} is too short for the longest user's sessions; raise days")
    begin, budget = _activity_windows(rng, needed, span)
    weight = rng.exponential(size=sessions.count)
    total = np.add.reduceat(weight, user_offset) + rng.exponential(size=user_offset.size)
    extra = np.floor(weight / total[user] * budget[user]).astype(np.int64)
    step = duration + MIN_SESSION_GAP_SECONDS
    return begin[user] + segment_cumsum(extra, user_offset, user) + segment_cumsum(step, user_offset, user) - step


def _activity_windows(rng: np.random.Generator, needed: np.ndarray, span: int) -> tuple[np.ndarray, np.ndarray]:
    """Each user's window start (seconds into the range) and its slack: a window covers 25-100% of the range
    and at least what the user's sessions need."""
    n_users = needed.size
    window = (span * rng.uniform(0.25, 1.0, n_users)).astype(np.int64)
    window = np.maximum(window, needed)
    begin = (rng.random(n_users) * (span - window + 1)).astype(np.int64).clip(0, span - window)
    return begin, window - needed


# ---- item walks -----------------------------------------------------------------------------------------------
# Within-session item walks: a start item of the session's topic, then successors of the current item, with
# popularity draws and uniform noise mixed in. This plants the item-to-item signal a session model learns.


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


# ---- drift ----------------------------------------------------------------------------------------------------
# Drift late in the range: a small trending set takes over part of the traffic (a popularity shift), and
# optionally the items trade places within their topics (a pattern shift: which items start sessions and follow
# each other changes, while users keep their topics). Both are what recency weighting is for.


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


# ---- event types and values -----------------------------------------------------------------------------------
# Event types and values: purchases (likelier at a session's end, never by robots) carry the item's price,
# clicks a dwell-like value that is sometimes missing, as in real exports.


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
