"""Sessions: how many each user has (heavy-tailed), how long each is, which favourite topic it is about, and
where its events sit in the flat event arrays that the later stages fill."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .constants import PRIMARY_TOPIC_PROB, SESSIONS_SIGMA
from .robots import ROBOT_SESSION_LENGTH, ROBOT_SESSIONS, robot_draw
from .sizing import geometric_p
from .users import Users


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
