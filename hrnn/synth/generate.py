"""The generator's driver (check the arguments, then run the stages in order on three seeded streams:
catalogue, users and time, events, so the catalogue does not change with the number of users), the
Interactions table it returns and writes, and what it plants, as data and as prose."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .events import (event_timestamps, event_types_and_values, shift_patterns, shift_popularity, trend_start,
                     walk_sessions)
from .structure import (DAY, EVENT_TYPES, SCHEMA, START_TIMESTAMP, Catalogue, Sessions, Users, build_catalogue,
                        draw_sessions, draw_topics, draw_users, users_for_rows)


# ---- the driver -----------------------------------------------------------------------------------------------
# The generator's driver: check the arguments, then run the stages in order on three seeded streams
# (catalogue, users and time, events), so the catalogue does not change with the number of users.


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
    trend's start on (which items start sessions and follow each other changes). With ``return_truth=True``
    returns ``(table, PlantedTruth)``.
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


# ---- the table ------------------------------------------------------------------------------------------------
# The Interactions table: string ids, shuffled rows (real exports are not sorted), and writing it out.


def shuffle_order(rng: np.random.Generator, n_events: int) -> np.ndarray:
    """A seeded row order (int32 where it fits, to halve the gathers' index memory)."""
    shuffle = rng.permutation(n_events)
    if n_events < 2**31:
        shuffle = shuffle.astype(np.int32)
    return shuffle


def id_strings(user_numbers: np.ndarray, n_items: int) -> tuple[pa.Array, pa.Array]:
    """USER_ID strings (``"1042"``) per user and ITEM_ID strings (``"i_00017"``) per item."""
    user_ids = pc.cast(pa.array(user_numbers), pa.string())
    width = max(5, len(str(n_items - 1)))
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(n_items)), pa.string()), width=width, padding="0")
    return user_ids, pc.binary_join_element_wise("i_", digits, "")


def interactions_table(
    user_ids: pa.Array, item_ids: pa.Array, row_user: np.ndarray, row_item: np.ndarray, timestamp: np.ndarray,
    purchase: np.ndarray, value: np.ndarray, null: np.ndarray
) -> pa.Table:
    """The table in :data:`SCHEMA` from per-row arrays (already in row order)."""
    event_types = pa.array(EVENT_TYPES, pa.string())
    return pa.Table.from_arrays(
        [
            pc.take(user_ids, pa.array(row_user)),
            pc.take(item_ids, pa.array(row_item)),
            pa.array(timestamp, pa.int64()),
            pc.take(event_types, pa.array(purchase.view(np.int8))),
            pa.array(value, pa.float64(), mask=null),
        ],
        schema=SCHEMA,
    )


def write_interactions(table: pa.Table, path: str | Path) -> Path:
    """Write ``table`` as CSV with a header (``.csv``, ``.csv.gz``) or Parquet (``.parquet``, ``.pq``)."""
    path = Path(path)
    name = path.name.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    elif name.endswith((".csv", ".csv.gz")):
        import pyarrow.csv as pacsv

        options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
        if name.endswith(".gz"):
            with pa.CompressedOutputStream(str(path), "gzip") as out:
                pacsv.write_csv(table, out, write_options=options)
        else:
            pacsv.write_csv(table, str(path), write_options=options)
    else:
        raise ValueError(f"unsupported suffix for {path}: use .csv, .csv.gz, .parquet or .pq")
    return path


# ---- what is planted ------------------------------------------------------------------------------------------
# What the generator plants, as data for tests and benchmarks (:class:`PlantedTruth`) and as prose for the
# README (:func:`describe_planted_structure`).


@dataclass(frozen=True)
class PlantedTruth:
    """The generator's hidden state, for tests and benchmarks (``return_truth=True``).

    Item, user and session indices are positions in ``item_ids`` / ``user_ids`` / the generated
    session list; every ``row_*`` array is aligned with the returned (shuffled) table's rows.
    """

    item_ids: np.ndarray  # (n_items,) str
    user_ids: np.ndarray  # (n_users,) str
    item_topic: np.ndarray  # (n_items,) int; -1 for trending items
    topic_weights: np.ndarray  # (n_topics,) how often a topic is a user's favourite
    start_items: np.ndarray  # (n_topics, N_START_ITEMS) item indices
    start_item_probs: np.ndarray  # (N_START_ITEMS,)
    successors: np.ndarray  # (n_items, n_successors) item indices (self for trending items)
    successor_probs: np.ndarray  # (n_successors,)
    trending_items: np.ndarray  # item indices
    trend_start: int  # epoch seconds; trending starts at this timestamp
    user_topics: np.ndarray  # (n_users, 2) topic indices, -1 where a user has one topic
    robot_users: np.ndarray  # (n_users,) bool
    session_user: np.ndarray  # (n_sessions,) user index
    session_topic: np.ndarray  # (n_sessions,) topic index
    row_session: np.ndarray  # (n_rows,) session index (sessions are numbered in time order per user)
    row_user: np.ndarray  # (n_rows,) user index
    row_item: np.ndarray  # (n_rows,) item index
    row_trending_insert: np.ndarray  # (n_rows,) bool: the item was replaced by a trending item


def planted_truth(
    catalogue: Catalogue, users: Users, sessions: Sessions, ids: tuple[pa.Array, pa.Array], trend_start: int,
    shuffle: np.ndarray, row_session: np.ndarray, row_user: np.ndarray, row_item: np.ndarray, replaced: np.ndarray
) -> PlantedTruth:
    """Gather the hidden state; ``row_*`` and ``shuffle`` are in the table's row order, ``replaced`` holds
    the event indices the popularity shift changed."""
    user_ids, item_ids = ids
    inserted = np.zeros(sessions.n_events, dtype=bool)
    inserted[replaced] = True
    return PlantedTruth(
        item_ids=np.asarray(item_ids.to_pylist(), dtype=object),
        user_ids=np.asarray(user_ids.to_pylist(), dtype=object),
        item_topic=catalogue.item_topic,
        topic_weights=catalogue.topic_weights,
        start_items=catalogue.start_items,
        start_item_probs=catalogue.start_item_probs,
        successors=catalogue.successors,
        successor_probs=catalogue.successor_probs,
        trending_items=catalogue.trending,
        trend_start=trend_start,
        user_topics=users.topics,
        robot_users=users.robot,
        session_user=sessions.user,
        session_topic=sessions.topic,
        row_session=row_session,
        row_user=row_user,
        row_item=row_item,
        row_trending_insert=inserted[shuffle],
    )


def describe_planted_structure() -> str:
    """A markdown paragraph describing what the generator plants (defaults in parentheses)."""
    return (
        "**Synthetic data (`hrnn.synth`).** A seeded, vectorised generator of an Interactions table "
        "(`USER_ID` numeric-looking strings such as `\"1042\"`, `ITEM_ID` such as `\"i_00017\"`, epoch-second "
        "`TIMESTAMP`s over 120 days from 2024-01-01 UTC, `EVENT_TYPE` `click`/`purchase`, nullable "
        "`EVENT_VALUE`; rows shuffled). It plants four signals. "
        "*(1) Persistent user tastes:* apart from a small trending set (2% of items), the catalogue is split "
        "at random into topics (25) with Zipf popularity inside each; every user keeps 1 or 2 favourite topics "
        "(2 with probability 0.5) for all of their sessions, each session is about one of them (the first with "
        "probability 0.65), and a session's first item is, with probability 0.8, one of its topic's three start "
        "items (weights 4:2:1), so the first item of a new session is predictable from the user's earlier "
        "sessions but not from the empty current session. "
        "*(2) Item-to-item transitions:* each item has 3 successors in its topic (weights 4:2:1); the next item "
        "is a successor of the current one with probability 0.75, a uniformly random catalogue item with "
        "probability 0.08, and otherwise a popularity draw from the session's topic. "
        "*(3) A popularity shift:* in the last 12% of the time range every (non-robot) event is replaced, with "
        "probability 0.25, by one of the trending items, which before that appear only as uniform noise, so "
        "recency weighting (`recency_mask=true`) pays off on the newest interactions. "
        "*(4) Realistic noise:* a session's last event is a purchase with probability 0.30 and other events with "
        "0.09 (about 12% purchases overall, valued at the item's fixed log-normal price); clicks carry a "
        "Beta(1, 2) dwell value in [0, 1], 2% of them null; sessions per user are heavy-tailed "
        "(ceil of a log-normal with median 3, at most 150), session lengths are 2 + geometric (mean about 5, "
        "at most 20), events in a session are 1 s to 25 min apart and a user's sessions are more than an hour "
        "apart, so a 30-minute timeout recovers the generated sessions exactly; 0.1% of users are robots "
        "(20-40 sessions of 20-50 uniformly random clicks, 1-3 s apart)."
    )
