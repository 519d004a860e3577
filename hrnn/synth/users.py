"""Users and their persistent tastes: one or two favourite topics each, kept for every session, which is what
makes a new session's first item predictable from the user's history."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .robots import robot_flags


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
