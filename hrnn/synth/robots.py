"""Crawler users: many long, fast, uniformly random sessions without purchases, the kind of noise a
recommender's data filters have to survive. The other stages ask here who is a robot and what it draws."""

from __future__ import annotations

import numpy as np

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
