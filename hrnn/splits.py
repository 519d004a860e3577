"""Train/validation/test splits.

* The service's split (what GetSolutionMetrics reports): a seeded random 10% of the users with at least 2
  interactions are test users; each test user's newest ceil(10%) interactions (at least 1) are the relevant
  set and the older ones the model's input. Everyone else trains. HPO carves a validation split the same way
  out of the training users only, so the test users stay unseen until the final report.
* The field's next-item split (SESSION_RNN.md 1.7): a global time cut; sessions that start after it are test
  sessions, items never seen in training are dropped from them, and test sessions shorter than 2 are dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .data import InteractionData, ranges_to_index

HOLDOUT_FRACTION = 0.1


@dataclass
class UserHoldout:
    """Held-out users of a dataset: sequences ``users`` whose events ``[start, cut)`` are the input and
    ``[cut, stop)`` the relevant set (absolute event indices of the parent dataset)."""

    users: np.ndarray  # sequence indices into the parent dataset
    cuts: np.ndarray  # int64 absolute event index where the relevant part starts

    def inputs(self, data: InteractionData) -> InteractionData:
        return data.take(self.users, stops=self.cuts)

    def relevant(self, data: InteractionData) -> tuple[np.ndarray, np.ndarray]:
        """CSR (offsets, items) of each held-out user's relevant items."""
        stops = data.user_offsets[self.users + 1]
        lengths = stops - self.cuts
        offsets = np.zeros(len(self.users) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return offsets, data.items[ranges_to_index(self.cuts, lengths)]


@dataclass
class ServiceSplit:
    train: np.ndarray  # sequence indices that train the model
    holdout: UserHoldout


def service_split(data: InteractionData, seed: int, among: np.ndarray | None = None,
                  fraction: float = HOLDOUT_FRACTION) -> ServiceSplit:
    """Hold out a seeded random ``fraction`` of the eligible users among ``among`` (default: all users)."""
    among = np.arange(data.n_sequences) if among is None else np.asarray(among, dtype=np.int64)
    lengths = data.lengths[among]
    eligible = among[lengths >= 2]
    rng = np.random.default_rng(seed)
    n_test = min(len(eligible), max(1, int(round(fraction * len(eligible))))) if len(eligible) else 0
    test = np.sort(rng.permutation(eligible)[:n_test])
    train = np.setdiff1d(among, test, assume_unique=True)
    test_lengths = data.lengths[test]
    n_relevant = np.maximum(1, np.ceil(test_lengths * fraction - 1e-9).astype(np.int64))
    cuts = data.user_offsets[test + 1] - n_relevant
    return ServiceSplit(train=train, holdout=UserHoldout(users=test, cuts=cuts))


@dataclass
class HPOSplits:
    """Test users (final report), validation users (HPO objective) and the remaining training users."""

    train: np.ndarray
    validation: UserHoldout
    test: UserHoldout


def hpo_splits(data: InteractionData, seed: int) -> HPOSplits:
    outer = service_split(data, seed)
    inner = service_split(data, seed + 1, among=outer.train)
    return HPOSplits(train=inner.train, validation=inner.holdout, test=outer.holdout)


@dataclass
class NextItemSplit:
    cut_time: int
    train: InteractionData  # every user's sessions that start at or before the cut
    test: InteractionData  # the same users' later sessions (unseen items dropped, length >= 2), if any
    warmup: InteractionData  # for each test sequence: that user's training sessions (may be empty)


def next_item_split(data: InteractionData, test_fraction: float = 0.1, cut_time: int | None = None) -> NextItemSplit:
    """Global time cut; by default at the session-start time leaving ``test_fraction`` of sessions after it."""
    session_heads = data.session_offsets[:-1]
    session_times = data.times[session_heads]
    if cut_time is None:
        cut_time = int(np.quantile(session_times, 1.0 - test_fraction, method="lower"))
    is_test_session = session_times > cut_time
    session_len = np.diff(data.session_offsets)
    event_is_test = np.repeat(is_test_session, session_len)

    # Per user, training sessions come first (time-sorted): the first test event is the cut.
    seq_of_event = np.repeat(np.arange(data.n_sequences), data.lengths)
    test_events = np.flatnonzero(event_is_test)
    cut = data.user_offsets[1:].copy()
    if test_events.size:
        # first test event of each sequence that has one
        seqs, first_idx = np.unique(seq_of_event[test_events], return_index=True)
        cut[seqs] = test_events[first_idx]
    all_seq = np.arange(data.n_sequences)
    train = data.take(all_seq, stops=cut)

    seen = np.zeros(data.n_items, dtype=bool)
    seen[train.items] = True
    keep = event_is_test & seen[data.items]
    # Drop unseen items, then drop test sessions left with fewer than 2 events.
    session_of_event = np.repeat(np.arange(data.n_sessions), session_len)
    kept_per_session = np.bincount(session_of_event[keep], minlength=data.n_sessions)
    keep &= kept_per_session[session_of_event] >= 2
    kept = np.flatnonzero(keep)
    test = _gather_events(data, kept, seq_of_event, session_of_event)
    test_seqs = np.unique(seq_of_event[kept]) if kept.size else np.zeros(0, dtype=np.int64)
    warmup = data.take(test_seqs, stops=cut[test_seqs])
    return NextItemSplit(cut_time=cut_time, train=train, test=test, warmup=warmup)


def _gather_events(data: InteractionData, kept: np.ndarray, seq_of_event: np.ndarray,
                   session_of_event: np.ndarray) -> InteractionData:
    seqs = seq_of_event[kept]
    sessions = session_of_event[kept]
    user_start = np.ones(len(kept), dtype=bool)
    user_start[1:] = seqs[1:] != seqs[:-1]
    session_start = user_start.copy()
    session_start[1:] |= sessions[1:] != sessions[:-1]
    heads = np.flatnonzero(user_start)
    return InteractionData(
        items=data.items[kept],
        times=data.times[kept],
        weights=data.weights[kept],
        user_offsets=np.append(heads, len(kept)).astype(np.int64),
        seq_users=data.seq_users[seqs[heads]] if len(kept) else np.zeros(0, dtype=np.int32),
        session_offsets=np.append(np.flatnonzero(session_start), len(kept)).astype(np.int64),
        user_ids=data.user_ids,
        item_ids=data.item_ids,
    )
