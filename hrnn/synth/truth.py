"""What the generator plants, as data for tests and benchmarks (:class:`PlantedTruth`) and as prose for the
README (:func:`describe_planted_structure`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .catalogue import Catalogue
from .sessions import Sessions
from .users import Users


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
