"""Timestamps: events of a session are seconds to minutes apart, a user's sessions more than an hour apart
(so a 30-minute session timeout recovers the generated sessions exactly), each user active in a window."""

from __future__ import annotations

import math

import numpy as np

from .arrays import segment_cumsum
from .constants import INTRA_GAP_MEDIAN_SECONDS, INTRA_GAP_SIGMA, MAX_INTRA_GAP_SECONDS, MIN_SESSION_GAP_SECONDS
from .robots import ROBOT_GAP_SECONDS, robot_draw
from .sessions import Sessions


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
