"""The generator's driver: check the arguments, then run the stages in order on three seeded streams
(catalogue, users and time, events), so the catalogue does not change with the number of users."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow as pa

from .catalogue import build_catalogue
from .constants import DAY, START_TIMESTAMP
from .events import event_types_and_values
from .sessions import draw_sessions
from .sizing import users_for_rows
from .table import id_strings, interactions_table, shuffle_order
from .timeline import event_timestamps
from .trend import shift_patterns, shift_popularity, trend_start
from .truth import PlantedTruth, planted_truth
from .users import draw_topics, draw_users
from .walks import walk_sessions


def generate_interactions(
    n_users: int = 2000,
    n_items: int = 1000,
    n_topics: int = 25,
    seed: int = 0,
    target_rows: int | None = None,
    *,
    days: float = 120.0, start_timestamp: int = START_TIMESTAMP,
    sessions_per_user_median: float = 3.0, max_sessions_per_user: int = 150,
    mean_session_length: float = 5.0, max_session_length: int = 20, two_topic_fraction: float = 0.5,
    n_successors: int = 3, start_prob: float = 0.8, follow: float = 0.75, noise: float = 0.08,
    n_trending: int | None = None, trend_fraction: float = 0.12, trend_strength: float = 0.25,
    purchase_prob: float = 0.09, purchase_prob_last: float = 0.30, null_value_fraction: float = 0.02,
    robot_fraction: float = 0.001, persistent_tastes: bool = True, pattern_shift: bool = False,
    return_truth: bool = False,
) -> pa.Table | tuple[pa.Table, PlantedTruth]:
    """Generate an Interactions table (see :mod:`hrnn.synth` for what is planted).

    ``target_rows``, when given, replaces ``n_users`` by the number of users whose expected row count is
    ``target_rows``. The catalogue depends only on ``seed``, ``n_items``, ``n_topics``, ``n_successors`` and
    ``n_trending``. ``persistent_tastes=False`` is the null case: each session's topic is drawn afresh from
    the topic popularity, so a user's past sessions say nothing about the next one (``trend_strength=0``
    turns the popularity shift off). ``pattern_shift=True`` also relabels the items within each topic from the
    trend's start on (which items start sessions and follow each other changes). With ``return_truth=True`` returns ``(table, PlantedTruth)``.
    """
    shape = dict(sessions_per_user_median=sessions_per_user_median, max_sessions_per_user=max_sessions_per_user,
                 mean_session_length=mean_session_length, max_session_length=max_session_length)
    if target_rows is not None:
        n_users = users_for_rows(target_rows, **shape, robot_fraction=robot_fraction)
    n_trend = max(5, n_items // 50) if n_trending is None else int(n_trending)
    _check(n_users, n_items, n_topics, n_successors, n_trend, max_session_length, max_sessions_per_user,
           noise, follow, start_prob)
    s_struct, s_users, s_events = (np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(3))
    span = int(round(days * DAY))

    catalogue = build_catalogue(s_struct, n_items, n_topics, n_successors, n_trend)
    users = draw_users(s_users, int(n_users), catalogue.topic_cdf, two_topic_fraction, robot_fraction)
    sessions = draw_sessions(s_users, users, **shape)
    if not persistent_tastes:
        sessions = replace(sessions, topic=draw_topics(s_users, catalogue.topic_cdf, sessions.topic.size))
    ts = event_timestamps(s_users, sessions, span, days, start_timestamp)
    start = trend_start(start_timestamp, span, trend_fraction)
    items = walk_sessions(s_events, catalogue, sessions, noise=noise, start_prob=start_prob, follow=follow)
    if pattern_shift:
        shift_patterns(np.random.default_rng([int(seed), 1]), items, ts, sessions.event_robot, start,
                       catalogue.item_topic)
    replaced = shift_popularity(s_events, items, ts, sessions.event_robot, start, trend_strength, catalogue.trending)
    buy, value, null = event_types_and_values(
        s_events, sessions, items, catalogue.price, purchase_prob=purchase_prob,
        purchase_prob_last=purchase_prob_last, null_value_fraction=null_value_fraction,
    )

    shuffle = shuffle_order(s_events, sessions.n_events)
    row_session = sessions.event_session[shuffle]
    row_user, row_item = sessions.user[row_session], items[shuffle]
    ids = id_strings(users.number, n_items)
    table = interactions_table(*ids, row_user, row_item, ts[shuffle], buy[shuffle], value[shuffle], null[shuffle])
    if not return_truth:
        return table
    truth = planted_truth(catalogue, users, sessions, ids, start, shuffle, row_session, row_user, row_item, replaced)
    return table, truth


def _check(
    n_users: int, n_items: int, n_topics: int, n_successors: int, n_trend: int, max_session_length: int,
    max_sessions_per_user: int, noise: float, follow: float, start_prob: float
) -> None:
    """Fail early, with the argument's name, rather than deep inside a stage."""
    if n_users < 1:
        raise ValueError("n_users must be positive")
    if n_topics < 1 or n_successors < 1:
        raise ValueError("n_topics and n_successors must be positive")
    if n_trend < 1 or n_items - n_trend < 2 * n_topics:
        raise ValueError(
            f"n_items={n_items} is too small: need at least 2 items per topic plus {n_trend} trending items"
        )
    if max_session_length < 2 or max_sessions_per_user < 1:
        raise ValueError("max_session_length must be >= 2 and max_sessions_per_user >= 1")
    if not 0.0 <= noise <= 1.0 or not 0.0 <= follow <= 1.0 - noise or not 0.0 <= start_prob <= 1.0:
        raise ValueError("need 0 <= noise, 0 <= follow <= 1 - noise and 0 <= start_prob <= 1")
