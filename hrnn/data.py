"""Interactions -> the compact arrays the model trains on.

The path is vectorised end to end (Arrow compute and numpy; no per-event Python objects): filter by event
type and value, drop users outside the history-length percentiles, map string ids to dense indices, sort
each user's events by time (stable, so ties keep file order) and cut sessions at inactivity gaps.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import InvalidInputException
from .io import read_interactions

MIN_INTERACTIONS = 1000
MIN_USERS_WITH_TWO = 25
FORMAT_VERSION = 1


@dataclass(frozen=True)
class DataConfig:
    """Filtering and featurization settings (the request's eventType/eventValueThreshold and featurization)."""

    event_type: str | None = None
    event_value_threshold: float | None = None
    min_user_history_length_percentile: float = 0.0
    max_user_history_length_percentile: float = 0.99
    session_timeout_minutes: float = 30.0
    check_minimums: bool = True


@dataclass
class InteractionData:
    """Events grouped by user (sequence), sorted by time within each user, cut into sessions.

    ``items``/``times``/``weights`` are per event. ``user_offsets[k]:user_offsets[k+1]`` are the events of
    sequence ``k`` whose user is ``seq_users[k]`` (an index into ``user_ids``). ``session_offsets`` cuts the
    same events into sessions; a session never spans two sequences. ``weights`` is the per-event loss
    weight: 1.0 (the service trains on every kept event with equal weight); the recency mask multiplies it
    during training. Item and user indices are global, so a subset shares the id maps of its parent.
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

    def summary(self) -> dict:
        lengths = self.lengths
        session_lengths = np.diff(self.session_offsets)
        return {
            "interactions": self.n_events,
            "users": self.n_sequences,
            "items": int(np.count_nonzero(self.item_counts())),
            "sessions": self.n_sessions,
            "users_with_2_or_more": int(np.count_nonzero(lengths >= 2)),
            "mean_events_per_user": round(float(lengths.mean()), 3) if lengths.size else 0.0,
            "mean_events_per_session": round(float(session_lengths.mean()), 3) if session_lengths.size else 0.0,
            "first_timestamp": int(self.times.min()) if self.n_events else None,
            "last_timestamp": int(self.times.max()) if self.n_events else None,
        }

    # ---- subsets -------------------------------------------------------------------------------------
    def take(self, sequences: np.ndarray, stops: np.ndarray | None = None, starts: np.ndarray | None = None) -> "InteractionData":
        """Keep the chosen sequences, each cut to its events ``[start, stop)`` (absolute event indices).

        Session boundaries are kept; a cut inside a session keeps the part of it that remains.
        """
        sequences = np.asarray(sequences, dtype=np.int64)
        starts = self.user_offsets[sequences] if starts is None else np.asarray(starts, dtype=np.int64)
        stops = self.user_offsets[sequences + 1] if stops is None else np.asarray(stops, dtype=np.int64)
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

    # ---- persistence ---------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> Path:
        """Write the dataset as Arrow IPC files in ``directory`` (replaced atomically as a whole)."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        session_start = self.session_start_mask()
        _write_ipc(tmp / "events.arrow", {
            "item": self.items, "time": self.times, "weight": self.weights, "session_start": session_start,
        })
        _write_ipc(tmp / "sequences.arrow", {"user": self.seq_users, "length": self.lengths})
        _write_ipc(tmp / "users.arrow", {"user_id": self.user_ids})
        _write_ipc(tmp / "items.arrow", {"item_id": self.item_ids})
        (tmp / "meta.json").write_text(json.dumps({"format_version": FORMAT_VERSION, **self.summary()}, indent=2))
        _replace_dir(tmp, directory)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "InteractionData":
        directory = Path(directory)
        if not (directory / "meta.json").exists():
            raise InvalidInputException(f"{str(directory)!r} is not a saved dataset directory (no meta.json).")
        events = _read_ipc(directory / "events.arrow")
        sequences = _read_ipc(directory / "sequences.arrow")
        offsets = np.zeros(sequences.num_rows + 1, dtype=np.int64)
        np.cumsum(sequences.column("length").to_numpy(), out=offsets[1:])
        session_start = events.column("session_start").to_numpy(zero_copy_only=False)
        return cls(
            items=events.column("item").to_numpy(),
            times=events.column("time").to_numpy(),
            weights=events.column("weight").to_numpy(),
            user_offsets=offsets,
            seq_users=sequences.column("user").to_numpy(),
            session_offsets=np.append(np.flatnonzero(session_start), events.num_rows).astype(np.int64),
            user_ids=_read_ipc(directory / "users.arrow").column("user_id").combine_chunks(),
            item_ids=_read_ipc(directory / "items.arrow").column("item_id").combine_chunks(),
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


def _write_ipc(path: Path, columns: dict) -> None:
    table = pa.table({k: (v if isinstance(v, (pa.Array, pa.ChunkedArray)) else pa.array(v)) for k, v in columns.items()})
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _read_ipc(path: Path) -> pa.Table:
    with pa.memory_map(str(path), "r") as source:
        return pa.ipc.open_file(source).read_all()


def _replace_dir(tmp: Path, target: Path) -> None:
    """Swap a fully written temporary directory into place so readers never see a half-written one."""
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        os.replace(tmp, target)
        import shutil

        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


# ---- building from a table --------------------------------------------------------------------------

def load_interactions(path: str | os.PathLike, config: DataConfig = DataConfig()) -> InteractionData:
    """Read an Interactions file and build the training arrays."""
    return build_interactions(read_interactions(path), config, source=str(path))


def build_interactions(table: pa.Table, config: DataConfig = DataConfig(), source: str = "<table>") -> InteractionData:
    table = _filter_events(table, config, source)
    user_codes, user_dict = _encode(table.column("USER_ID"))
    keep = _history_length_mask(user_codes, len(user_dict), config)
    if not keep.all():
        table = table.filter(pa.array(keep[user_codes]))
        user_codes, user_dict = _encode(table.column("USER_ID"))
    item_codes, item_dict = _encode(table.column("ITEM_ID"))
    times = table.column("TIMESTAMP").to_numpy().astype(np.int64, copy=False)
    data = _sessionize(user_codes, item_codes, times, user_dict, item_dict, config.session_timeout_minutes)
    if config.check_minimums:
        check_minimums(data, source, config)
    return data


def _filter_events(table: pa.Table, config: DataConfig, source: str) -> pa.Table:
    if config.event_type is not None:
        if "EVENT_TYPE" not in table.column_names:
            raise InvalidInputException(
                f"eventType {config.event_type!r} was given but {source!r} has no EVENT_TYPE column."
            )
        filtered = table.filter(pc.equal(table.column("EVENT_TYPE"), pa.scalar(config.event_type)))
        if filtered.num_rows == 0:
            present = pc.unique(table.column("EVENT_TYPE")).to_pylist()[:20]
            raise InvalidInputException(
                f"eventType {config.event_type!r} leaves no rows in {source!r}; "
                f"the file's event types are: {', '.join(map(repr, present))}."
            )
        table = filtered
    if config.event_value_threshold is not None:
        threshold = _parse_threshold(config.event_value_threshold)
        if "EVENT_VALUE" not in table.column_names:
            raise InvalidInputException(
                f"eventValueThreshold {config.event_value_threshold!r} was given but {source!r} has no EVENT_VALUE column."
            )
        # Nulls compare as null and filter() drops them: rows without a value do not pass a threshold.
        table = table.filter(pc.greater_equal(table.column("EVENT_VALUE"), pa.scalar(threshold)))
    return table


def _parse_threshold(value: object) -> float:
    try:
        threshold = float(value)  # the service sends the threshold as a string
    except (TypeError, ValueError):
        threshold = float("nan")
    if isinstance(value, bool) or not math.isfinite(threshold):
        raise InvalidInputException(
            f"eventValueThreshold {value!r} is not a number; expected a finite number such as \"0.5\"."
        )
    return threshold


def _encode(column: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Dense int32 codes in first-appearance order plus the dictionary (code -> original string id)."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    return codes, encoded.dictionary.cast(pa.string())


def _history_length_mask(user_codes: np.ndarray, n_users: int, config: DataConfig) -> np.ndarray:
    lo_p, hi_p = config.min_user_history_length_percentile, config.max_user_history_length_percentile
    if not (0.0 <= lo_p <= hi_p <= 1.0):
        raise InvalidInputException(
            f"min_user_history_length_percentile {lo_p} and max_user_history_length_percentile {hi_p} "
            "must satisfy 0 <= min <= max <= 1."
        )
    lengths = np.bincount(user_codes, minlength=n_users)
    lo, hi = np.quantile(lengths, [lo_p, hi_p]) if n_users else (0, 0)
    return (lengths >= lo) & (lengths <= hi)


def _sessionize(users, items, times, user_dict, item_dict, timeout_minutes) -> InteractionData:
    """Sort by (user, time) keeping file order for ties, then cut sessions at gaps above the timeout."""
    n = len(items)
    order = _stable_user_time_order(users, times)
    users, items, times = users[order], items[order], times[order]
    user_start = np.ones(n, dtype=bool)
    user_start[1:] = users[1:] != users[:-1]
    session_start = user_start.copy()
    session_start[1:] |= np.diff(times) > timeout_minutes * 60.0
    user_heads = np.flatnonzero(user_start)
    return InteractionData(
        items=items.astype(np.int32, copy=False),
        times=times,
        weights=np.ones(n, dtype=np.float32),
        user_offsets=np.append(user_heads, n).astype(np.int64),
        seq_users=users[user_heads].astype(np.int32),
        session_offsets=np.append(np.flatnonzero(session_start), n).astype(np.int64),
        user_ids=user_dict,
        item_ids=item_dict,
    )


def _stable_user_time_order(users: np.ndarray, times: np.ndarray) -> np.ndarray:
    t0 = int(times.min()) if len(times) else 0
    span = int(times.max()) - t0 + 1 if len(times) else 1
    if span * (int(users.max()) + 1 if len(users) else 1) < 2**62:
        key = users.astype(np.int64) * span + (times - t0)
        return np.argsort(key, kind="stable")
    return np.lexsort((times, users))


def check_minimums(data: InteractionData, source: str, config: DataConfig) -> None:
    users_with_two = int(np.count_nonzero(data.lengths >= 2))
    if data.n_events < MIN_INTERACTIONS or users_with_two < MIN_USERS_WITH_TWO:
        filters = []
        if config.event_type is not None:
            filters.append(f"eventType {config.event_type!r}")
        if config.event_value_threshold is not None:
            filters.append(f"eventValueThreshold {config.event_value_threshold!r}")
        filters.append(
            f"history-length percentiles [{config.min_user_history_length_percentile}, "
            f"{config.max_user_history_length_percentile}]"
        )
        raise InvalidInputException(
            f"Too little data in {source!r} after filtering ({', '.join(filters)}): {data.n_events} interactions "
            f"and {users_with_two} users with 2 or more interactions; at least {MIN_INTERACTIONS} interactions "
            f"and {MIN_USERS_WITH_TWO} users with 2 or more interactions are required."
        )
