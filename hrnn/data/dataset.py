"""The prepared dataset: every user's events as flat numpy arrays, sorted by time and cut into sessions.

Flat arrays with offsets (rather than per-user Python objects) keep memory at a few bytes per event and let
training, splits and evaluation work on whole arrays at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass
class InteractionData:
    """Events grouped by user (sequence), sorted by time within each user, cut into sessions.

    ``items``/``times``/``weights`` are per event. ``user_offsets[k]:user_offsets[k+1]`` are the events of
    sequence ``k`` whose user is ``seq_users[k]`` (an index into ``user_ids``). ``session_offsets`` cuts the
    same events into sessions; a session never spans two sequences, and an empty sequence (possible in a
    subset made by :meth:`take`) has no session. ``weights`` is the per-event loss weight: 1.0 (the service
    trains on every kept event with equal weight); the recency mask multiplies it during training. Item and
    user indices are global, so a subset shares the id maps of its parent: ``item_ids[items[e]]`` is the
    original ITEM_ID string of event ``e`` and ``user_ids[seq_users[k]]`` the USER_ID of sequence ``k``.
    """

    items: np.ndarray  # int32 [N]
    times: np.ndarray  # int64 [N]
    weights: np.ndarray  # float32 [N]
    user_offsets: np.ndarray  # int64 [M+1]
    seq_users: np.ndarray  # int32 [M]
    session_offsets: np.ndarray  # int64 [S+1]
    user_ids: pa.Array  # string [n_users]
    item_ids: pa.Array  # string [n_items]

    # ---- sizes and derived views -------------------------------------------------------------------
    @property
    def n_events(self) -> int:
        return int(self.items.shape[0])

    @property
    def n_sequences(self) -> int:
        return int(self.seq_users.shape[0])

    @property
    def n_sessions(self) -> int:
        return int(self.session_offsets.shape[0] - 1)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.user_offsets)

    @property
    def users(self) -> np.ndarray:
        """Global user index of every event."""
        return np.repeat(self.seq_users, self.lengths).astype(np.int32, copy=False)

    def session_start_mask(self) -> np.ndarray:
        mask = np.zeros(self.n_events, dtype=bool)
        mask[self.session_offsets[:-1]] = True
        return mask

    def user_start_mask(self) -> np.ndarray:
        mask = np.zeros(self.n_events, dtype=bool)
        mask[self.user_offsets[:-1][self.lengths > 0]] = True
        return mask

    def item_counts(self) -> np.ndarray:
        return np.bincount(self.items, minlength=self.n_items)

    def user_index(self, user_id: str) -> int | None:
        """Dense index of a user id (as a string), or None when unknown."""
        found = pc.index(self.user_ids, pa.scalar(str(user_id), pa.string())).as_py()
        return None if found < 0 else int(found)

    def item_index(self, item_id: str) -> int | None:
        """Dense index of an item id (as a string), or None when unknown."""
        found = pc.index(self.item_ids, pa.scalar(str(item_id), pa.string())).as_py()
        return None if found < 0 else int(found)

    def summary(self) -> dict:
        lengths = self.lengths
        nonempty = lengths[lengths > 0]
        session_lengths = np.diff(self.session_offsets)
        return {
            "interactions": self.n_events,
            "users": int(nonempty.size),
            "items": int(np.count_nonzero(self.item_counts())),
            "sessions": self.n_sessions,
            "users_with_2_or_more": int(np.count_nonzero(lengths >= 2)),
            "mean_events_per_user": round(float(nonempty.mean()), 3) if nonempty.size else 0.0,
            "mean_events_per_session": round(float(session_lengths.mean()), 3) if session_lengths.size else 0.0,
            "first_timestamp": int(self.times.min()) if self.n_events else None,
            "last_timestamp": int(self.times.max()) if self.n_events else None,
        }

    # ---- subsets -------------------------------------------------------------------------------------
    def take(self, sequences: np.ndarray, stops: np.ndarray | None = None, starts: np.ndarray | None = None) -> "InteractionData":
        """Keep the chosen sequences (in the given order), each cut to its events ``[start, stop)``.

        ``starts``/``stops`` are absolute event indices of this dataset (default: the whole sequence) and
        are clipped to the sequence. Session boundaries are kept; a cut inside a session keeps the part of
        it that remains. Sequences left empty are kept (with no events and no session) so the result stays
        aligned with ``sequences``. Ids are shared with this dataset.
        """
        sequences = np.asarray(sequences, dtype=np.int64).reshape(-1)
        lo = self.user_offsets[sequences]
        hi = self.user_offsets[sequences + 1]
        starts = lo if starts is None else np.clip(np.asarray(starts, dtype=np.int64), lo, hi)
        stops = hi if stops is None else np.clip(np.asarray(stops, dtype=np.int64), lo, hi)
        lengths = np.maximum(stops - starts, 0)
        index = ranges_to_index(starts, lengths)
        session_start = self.session_start_mask()[index]
        offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        session_start[offsets[:-1][lengths > 0]] = True
        return InteractionData(
            items=self.items[index],
            times=self.times[index],
            weights=self.weights[index],
            user_offsets=offsets,
            seq_users=self.seq_users[sequences],
            session_offsets=np.append(np.flatnonzero(session_start), len(index)).astype(np.int64),
            user_ids=self.user_ids,
            item_ids=self.item_ids,
        )


def ranges_to_index(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(s, s + n)`` for every (s, n) without a Python loop."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    nonzero = lengths > 0
    starts, lengths = np.asarray(starts, dtype=np.int64)[nonzero], lengths[nonzero]
    steps = np.ones(total, dtype=np.int64)
    heads = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=heads[1:])
    steps[0] = starts[0]
    steps[heads[1:]] = starts[1:] - (starts[:-1] + lengths[:-1] - 1)
    return np.cumsum(steps)

