"""How many rows a user yields on average, so callers can ask for a row count instead of a user count."""

from __future__ import annotations

import math

from .constants import SESSIONS_SIGMA
from .robots import ROBOT_SESSION_LENGTH, ROBOT_SESSIONS


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
