"""Seeded synthetic Amazon Personalize Interactions dataset with planted, measurable structure, so that
tests and benchmarks can check that a model finds what was put there.

The generator is fully vectorised with numpy (the only Python loops run over the step position
inside a session, at most ``max_session_length`` iterations) and builds its string columns with
pyarrow, so 10 million rows take a few seconds.

Output: a :class:`pyarrow.Table` with the Interactions schema ``USER_ID`` (string, numeric-looking
such as ``"1042"``), ``ITEM_ID`` (string, such as ``"i_00017"``), ``TIMESTAMP`` (int64 epoch
seconds), ``EVENT_TYPE`` (``"click"`` / ``"purchase"``) and ``EVENT_VALUE`` (float64, nullable).
Rows are shuffled (seeded), as real exports are not sorted.

What is planted (see :func:`describe_planted_structure` for the README paragraph):

1. **Persistent user tastes.** The catalogue minus a small "trending" set is split at random
   into ``n_topics`` equal topics, each with a Zipf(1) popularity over its items. Every user
   draws one favourite topic (two with probability ``two_topic_fraction``) once, and every
   session of the user is about one of them (the first with probability 0.65). A session's
   first item is one of its topic's 3 *start items* (weights 4:2:1) with probability
   ``start_prob``; so the first item of a new session is predictable from the user's earlier
   sessions but not from the (empty) current session.
2. **Item-to-item transitions.** Every topic item has ``n_successors`` successors in its own
   topic (popularity-drawn, weights 4:2:1 for 3). Each next item is, with probability
   ``follow``, a successor of the current item (when the current item is in the session's
   topic), with probability ``noise`` a uniformly random catalogue item, otherwise a
   popularity draw from the session's topic.
3. **Popularity shift.** In the last ``trend_fraction`` of the time range each non-robot event
   is replaced, with probability ``trend_strength``, by a uniformly drawn item of the trending
   set; before that, trending items appear only through the uniform noise.
4. **Event types.** The last event of a session is a purchase with probability
   ``purchase_prob_last``, other events with ``purchase_prob`` (robots never purchase).
   Purchases carry the item's fixed price (log-normal, median 20, 2 decimals); clicks carry a
   dwell-like Beta(1, 2) value in [0, 1] (3 decimals), null for ``null_value_fraction`` of clicks.
5. **Time.** Over ``days`` days from ``start_timestamp`` (2024-01-01 UTC). Each user is active
   in a random window covering 25-100% of the range; sessions per user are
   ``ceil(LogNormal(ln(sessions_per_user_median), 1))`` capped at ``max_sessions_per_user``
   (heavy tail); session length is ``2 + Geometric`` capped at ``max_session_length``, mean
   about ``mean_session_length``. Events inside a session are 1 s to 25 min apart (log-normal,
   median 35 s); a user's consecutive sessions are more than one hour apart (end to start), so
   a 30-minute session timeout recovers the generated sessions exactly.
6. **Robots.** A fraction ``robot_fraction`` of users are crawlers: 20-40 sessions of 20-50
   uniformly random items, 1-3 s apart, clicks only.

Layout (each stage draws from its stream in a fixed order; the order is part of the seeded output):
:func:`generate_interactions` (``generate.py``, with the table and the planted truth) draws the hidden
structure (``structure.py``: the catalogue, then the users, then their sessions), then the events
(``events.py``: timestamps, item walks, drift, types and values), then the table; ``cli.py`` is
``python -m hrnn.synth``.
"""

from .cli import main
from .generate import PlantedTruth, describe_planted_structure, generate_interactions, write_interactions
from .structure import SCHEMA, START_TIMESTAMP, expected_rows_per_user

__all__ = [
    "SCHEMA",
    "START_TIMESTAMP",
    "PlantedTruth",
    "generate_interactions",
    "write_interactions",
    "describe_planted_structure",
    "expected_rows_per_user",
    "main",
]
