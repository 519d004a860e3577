"""Seeded synthetic Amazon Personalize Interactions dataset with planted, measurable structure.

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
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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

START_TIMESTAMP = 1_704_067_200  # 2024-01-01T00:00:00Z
MIN_SESSION_GAP_SECONDS = 3600  # end of one session to the start of the user's next one, at least
MAX_INTRA_GAP_SECONDS = 25 * 60  # between consecutive events of a session, at most
INTRA_GAP_MEDIAN_SECONDS = 35.0
INTRA_GAP_SIGMA = 1.1
PRIMARY_TOPIC_PROB = 0.65
SESSIONS_SIGMA = 1.0
ITEM_ZIPF = 1.0
TOPIC_ZIPF = 0.8
N_START_ITEMS = 3
PRICE_MEDIAN = 20.0
PRICE_SIGMA = 0.8
ROBOT_SESSIONS = (20, 40)  # inclusive
ROBOT_SESSION_LENGTH = (20, 50)  # inclusive
ROBOT_GAP_SECONDS = (1, 3)  # inclusive
DAY = 86_400

SCHEMA = pa.schema(
    [
        pa.field("USER_ID", pa.string(), nullable=False),
        pa.field("ITEM_ID", pa.string(), nullable=False),
        pa.field("TIMESTAMP", pa.int64(), nullable=False),
        pa.field("EVENT_TYPE", pa.string(), nullable=False),
        pa.field("EVENT_VALUE", pa.float64(), nullable=True),
    ]
)
EVENT_TYPES = ("click", "purchase")


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


def _halving_weights(k: int) -> np.ndarray:
    w = 0.5 ** np.arange(k, dtype=np.float64)
    return w / w.sum()


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
    q = 1.0 - _geometric_p(mean_session_length)
    # L = 2 + min(G - 1, max - 2), G ~ Geometric(p) on {1, 2, ...}: E[L] = 2 + sum_{j=1}^{max-2} q^j
    e_length = 2.0 + sum(q**j for j in range(1, max_session_length - 1))
    e_robot = (sum(ROBOT_SESSIONS) / 2.0) * (sum(ROBOT_SESSION_LENGTH) / 2.0)
    return (1.0 - robot_fraction) * e_sessions * e_length + robot_fraction * e_robot


def _geometric_p(mean_session_length: float) -> float:
    if mean_session_length <= 2.0:
        return 1.0
    return 1.0 / (mean_session_length - 1.0)


def _segment_cumsum(x: np.ndarray, seg_start: np.ndarray, seg_id: np.ndarray) -> np.ndarray:
    """Inclusive cumulative sum of ``x`` restarted at each segment (segments contiguous, non-empty)."""
    c = np.cumsum(x)
    base = c[seg_start] - x[seg_start]
    c -= base[seg_id]
    return c


def generate_interactions(
    n_users: int = 2000,
    n_items: int = 1000,
    n_topics: int = 25,
    seed: int = 0,
    target_rows: int | None = None,
    *,
    days: float = 120.0,
    start_timestamp: int = START_TIMESTAMP,
    sessions_per_user_median: float = 3.0,
    max_sessions_per_user: int = 150,
    mean_session_length: float = 5.0,
    max_session_length: int = 20,
    two_topic_fraction: float = 0.5,
    n_successors: int = 3,
    start_prob: float = 0.8,
    follow: float = 0.75,
    noise: float = 0.08,
    n_trending: int | None = None,
    trend_fraction: float = 0.12,
    trend_strength: float = 0.25,
    purchase_prob: float = 0.09,
    purchase_prob_last: float = 0.30,
    null_value_fraction: float = 0.02,
    robot_fraction: float = 0.001,
    return_truth: bool = False,
) -> pa.Table | tuple[pa.Table, PlantedTruth]:
    """Generate an Interactions table (see the module docstring for what is planted).

    ``target_rows``, when given, replaces ``n_users`` by the number of users whose expected row
    count is ``target_rows`` (the result is within a fraction of a percent for large targets).
    The catalogue structure (topics, successors, start items, trending set) depends only on
    ``seed``, ``n_items``, ``n_topics``, ``n_successors`` and ``n_trending``, not on the number
    of users. With ``return_truth=True`` returns ``(table, PlantedTruth)``.
    """
    if target_rows is not None:
        if target_rows < 1:
            raise ValueError("target_rows must be positive")
        per_user = expected_rows_per_user(
            sessions_per_user_median=sessions_per_user_median,
            max_sessions_per_user=max_sessions_per_user,
            mean_session_length=mean_session_length,
            max_session_length=max_session_length,
            robot_fraction=robot_fraction,
        )
        n_users = max(1, int(round(target_rows / per_user)))
    n_trend = max(5, n_items // 50) if n_trending is None else int(n_trending)
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

    ss = np.random.SeedSequence(int(seed))
    s_struct, s_users, s_events = (np.random.default_rng(s) for s in ss.spawn(3))
    span = int(round(days * DAY))

    # ---------------------------------------------------------------- catalogue structure
    perm = s_struct.permutation(n_items)
    trending = np.sort(perm[:n_trend])
    core = perm[n_trend:]  # random order; contiguous chunks are topics, order inside = popularity rank
    n_core = core.size
    core_topic = (np.arange(n_core, dtype=np.int64) * n_topics) // n_core
    topic_start = np.searchsorted(core_topic, np.arange(n_topics + 1))
    topic_size = np.diff(topic_start)
    item_topic = np.full(n_items, -1, dtype=np.int64)
    item_topic[core] = core_topic
    rank = np.arange(n_core) - topic_start[core_topic]
    pop = 1.0 / (rank + 1.0) ** ITEM_ZIPF
    cdf = _segment_cumsum(pop, topic_start[:-1], core_topic)
    cdf /= cdf[topic_start[1:] - 1][core_topic]
    cdf[topic_start[1:] - 1] = 1.0
    gcdf = core_topic + cdf  # topic c's cdf lives in (c, c + 1]

    def topic_draw(topics: np.ndarray, u: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(gcdf, topics + u, side="right")
        return np.minimum(idx, topic_start[topics + 1] - 1)  # index into core

    # successors: popularity draws from the item's own topic, never the item itself
    succ_pos = topic_draw(np.repeat(core_topic, n_successors), s_struct.random(n_core * n_successors))
    succ_pos = succ_pos.reshape(n_core, n_successors)
    own = np.arange(n_core)[:, None]
    t_of = core_topic[:, None]
    shifted = topic_start[t_of] + (own - topic_start[t_of] + 1) % topic_size[t_of]
    succ_pos = np.where(succ_pos == own, shifted, succ_pos)
    successors = np.repeat(np.arange(n_items, dtype=np.int64)[:, None], n_successors, axis=1)
    successors[core] = core[succ_pos]
    succ_probs = _halving_weights(n_successors)
    succ_cdf = np.cumsum(succ_probs)
    succ_cdf[-1] = 1.0
    start_items = core[
        topic_draw(np.repeat(np.arange(n_topics), N_START_ITEMS), s_struct.random(n_topics * N_START_ITEMS))
    ].reshape(n_topics, N_START_ITEMS)
    start_probs = _halving_weights(N_START_ITEMS)
    start_cdf = np.cumsum(start_probs)
    start_cdf[-1] = 1.0
    topic_w = 1.0 / (s_struct.permutation(n_topics) + 3.0) ** TOPIC_ZIPF
    topic_w /= topic_w.sum()
    topic_cdf = np.cumsum(topic_w)
    topic_cdf[-1] = 1.0
    price = np.round(PRICE_MEDIAN * np.exp(PRICE_SIGMA * s_struct.standard_normal(n_items)), 2)
    price = np.maximum(price, 0.5)

    # ---------------------------------------------------------------- users and sessions
    U = int(n_users)
    n_robots = int(round(U * robot_fraction))
    is_robot = np.zeros(U, dtype=bool)
    if n_robots:
        is_robot[U - n_robots:] = True
    user_num = 1000 + s_users.choice(10 * U, size=U, replace=False)
    primary = np.searchsorted(topic_cdf, s_users.random(U), side="right").clip(max=n_topics - 1)
    secondary = np.full(U, -1, dtype=np.int64)
    if n_topics > 1:
        has2 = s_users.random(U) < two_topic_fraction
        sec = np.searchsorted(topic_cdf, s_users.random(U), side="right").clip(max=n_topics - 1)
        clash = sec == primary
        sec[clash] = (primary[clash] + 1 + s_users.integers(0, n_topics - 1, clash.sum())) % n_topics
        secondary = np.where(has2, sec, -1)
    user_topics = np.stack([primary, secondary], axis=1)

    n_sess = np.ceil(sessions_per_user_median * np.exp(SESSIONS_SIGMA * s_users.standard_normal(U)))
    n_sess = n_sess.clip(1, max_sessions_per_user).astype(np.int64)
    n_sess[is_robot] = s_users.integers(ROBOT_SESSIONS[0], ROBOT_SESSIONS[1] + 1, n_robots)
    S = int(n_sess.sum())
    user_off = np.concatenate([[0], np.cumsum(n_sess)[:-1]])
    sess_user = np.repeat(np.arange(U, dtype=np.int32), n_sess)
    sess_robot = is_robot[sess_user]
    L = 2 + np.minimum(s_users.geometric(_geometric_p(mean_session_length), S) - 1, max_session_length - 2)
    n_rob_sess = int(sess_robot.sum())
    if n_rob_sess:
        L[sess_robot] = s_users.integers(ROBOT_SESSION_LENGTH[0], ROBOT_SESSION_LENGTH[1] + 1, n_rob_sess)
    L = L.astype(np.int64)
    use_second = (secondary[sess_user] >= 0) & (s_users.random(S) >= PRIMARY_TOPIC_PROB)
    sess_topic = np.where(use_second, secondary[sess_user], primary[sess_user])

    # ---------------------------------------------------------------- timestamps
    N = int(L.sum())
    off = np.concatenate([[0], np.cumsum(L)[:-1]])
    ev_sess = np.repeat(np.arange(S, dtype=np.int32 if S < 2**31 else np.int64), L)
    ev_robot = sess_robot[ev_sess]
    gap = s_users.standard_normal(N, dtype=np.float32)
    gap *= INTRA_GAP_SIGMA
    gap += math.log(INTRA_GAP_MEDIAN_SECONDS)
    np.exp(gap, out=gap)
    gap = np.rint(gap).clip(1, MAX_INTRA_GAP_SECONDS).astype(np.int64)
    n_rob_ev = int(ev_robot.sum())
    if n_rob_ev:
        gap[ev_robot] = s_users.integers(ROBOT_GAP_SECONDS[0], ROBOT_GAP_SECONDS[1] + 1, n_rob_ev)
    gap[off] = 0
    within = np.cumsum(gap)
    within -= within[off][ev_sess]
    duration = within[off + L - 1]
    del gap
    needed = np.add.reduceat(duration + MIN_SESSION_GAP_SECONDS, user_off) - MIN_SESSION_GAP_SECONDS
    if (needed > span).any():
        raise ValueError(f"days={days} is too short for the longest user's sessions; raise days")
    window = (span * s_users.uniform(0.25, 1.0, U)).astype(np.int64)
    window = np.maximum(window, needed)
    begin = (s_users.random(U) * (span - window + 1)).astype(np.int64).clip(0, span - window)
    budget = window - needed
    weight = s_users.exponential(size=S)
    total = np.add.reduceat(weight, user_off) + s_users.exponential(size=U)
    extra = np.floor(weight / total[sess_user] * budget[sess_user]).astype(np.int64)
    step = duration + MIN_SESSION_GAP_SECONDS
    sess_start = (
        begin[sess_user]
        + _segment_cumsum(extra, user_off, sess_user)
        + _segment_cumsum(step, user_off, sess_user)
        - step
    )
    ts = sess_start[ev_sess]
    ts += within
    ts += int(start_timestamp)
    del within
    trend_start = int(start_timestamp) + int(round((1.0 - trend_fraction) * span))

    # ---------------------------------------------------------------- items (loop over step position)
    order = np.argsort(-L, kind="stable")
    active = S - np.cumsum(np.bincount(L, minlength=int(L.max()) + 1))  # active[t] = #sessions longer than t
    o_off, o_topic, o_robot = off[order], sess_topic[order], sess_robot[order]
    items = np.empty(N, dtype=np.int32)
    for t in range(int(L.max())):
        k = int(active[t])
        pos = o_off[:k] + t
        c = o_topic[:k]
        u = s_events.random(k, dtype=np.float32)
        v = s_events.random(k)
        x = np.empty(k, dtype=np.int32)
        m_noise = (u < noise) | o_robot[:k]
        x[m_noise] = s_events.integers(0, n_items, int(m_noise.sum()))
        if t == 0:
            m_spec = ~m_noise & (u < noise + start_prob)
            x[m_spec] = start_items[c[m_spec], np.searchsorted(start_cdf, v[m_spec], side="right")]
        else:
            prev = items[pos - 1]
            m_spec = ~m_noise & (u < noise + follow) & (item_topic[prev] == c)
            x[m_spec] = successors[prev[m_spec], np.searchsorted(succ_cdf, v[m_spec], side="right")]
        m_pop = ~(m_noise | m_spec)
        x[m_pop] = core[topic_draw(c[m_pop], v[m_pop])]
        items[pos] = x
    del order, o_off, o_topic, o_robot

    late = np.flatnonzero((ts >= trend_start) & ~ev_robot)
    late = late[s_events.random(late.size) < trend_strength]
    items[late] = trending[s_events.integers(0, n_trend, late.size)]

    # ---------------------------------------------------------------- event types and values
    p_buy = np.full(N, purchase_prob, dtype=np.float32)
    p_buy[off + L - 1] = purchase_prob_last
    p_buy[ev_robot] = 0.0
    buy = s_events.random(N, dtype=np.float32) < p_buy
    del p_buy
    value = np.round(1.0 - np.sqrt(s_events.random(N)), 3)  # Beta(1, 2): mostly short dwell
    value[buy] = price[items[buy]]
    null = ~buy & (s_events.random(N, dtype=np.float32) < null_value_fraction)

    # ---------------------------------------------------------------- shuffle and build the table
    shuffle = s_events.permutation(N)
    if N < 2**31:
        shuffle = shuffle.astype(np.int32)
    row_sess = ev_sess[shuffle]
    del ev_sess
    row_user = sess_user[row_sess]
    row_item = items[shuffle]
    user_strings = pc.cast(pa.array(user_num), pa.string())
    width = max(5, len(str(n_items - 1)))
    item_strings = pc.binary_join_element_wise(
        "i_", pc.utf8_lpad(pc.cast(pa.array(np.arange(n_items)), pa.string()), width=width, padding="0"), ""
    )
    event_strings = pa.array(EVENT_TYPES, pa.string())
    table = pa.Table.from_arrays(
        [
            pc.take(user_strings, pa.array(row_user)),
            pc.take(item_strings, pa.array(row_item)),
            pa.array(ts[shuffle], pa.int64()),
            pc.take(event_strings, pa.array(buy[shuffle].view(np.int8))),
            pa.array(value[shuffle], pa.float64(), mask=null[shuffle]),
        ],
        schema=SCHEMA,
    )
    if not return_truth:
        return table
    inserted = np.zeros(N, dtype=bool)
    inserted[late] = True
    truth = PlantedTruth(
        item_ids=np.asarray(item_strings.to_pylist(), dtype=object),
        user_ids=np.asarray(user_strings.to_pylist(), dtype=object),
        item_topic=item_topic,
        topic_weights=topic_w,
        start_items=start_items,
        start_item_probs=start_probs,
        successors=successors,
        successor_probs=succ_probs,
        trending_items=trending,
        trend_start=trend_start,
        user_topics=user_topics,
        robot_users=is_robot,
        session_user=sess_user,
        session_topic=sess_topic,
        row_session=row_sess,
        row_user=row_user,
        row_item=row_item,
        row_trending_insert=inserted[shuffle],
    )
    return table, truth


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hrnn.synth",
        description="Generate a synthetic Amazon Personalize Interactions dataset with planted structure.",
    )
    parser.add_argument("--users", type=int, default=2000, help="number of users (default 2000)")
    parser.add_argument("--items", type=int, default=1000, help="number of items (default 1000)")
    parser.add_argument("--topics", type=int, default=25, help="number of topics (default 25)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--rows", type=int, default=None, help="aim for about this many rows (overrides --users)")
    parser.add_argument("--days", type=float, default=120.0, help="length of the time range in days (default 120)")
    parser.add_argument("--out", default="data/sample_interactions.csv", help="output .csv, .csv.gz, .parquet or .pq")
    parser.add_argument("--describe", action="store_true", help="print the planted structure and exit")
    args = parser.parse_args(argv)
    if args.describe:
        print(describe_planted_structure())
        return 0
    t0 = time.perf_counter()
    table = generate_interactions(
        n_users=args.users, n_items=args.items, n_topics=args.topics, seed=args.seed,
        target_rows=args.rows, days=args.days,
    )
    t1 = time.perf_counter()
    path = write_interactions(table, args.out)
    t2 = time.perf_counter()
    n_users = pc.count_distinct(table["USER_ID"]).as_py()
    n_items = pc.count_distinct(table["ITEM_ID"]).as_py()
    print(
        f"wrote {table.num_rows} rows, {n_users} users, {n_items} items to {path} "
        f"(generate {t1 - t0:.2f} s, write {t2 - t1:.2f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
