"""Interactions -> the compact arrays the model trains on.

The path is vectorised end to end (Arrow compute and numpy; no per-event Python objects): filter by event
type and value, drop users outside the history-length percentiles, map string ids to dense indices, sort
each user's events by time (stable, so ties keep file order) and cut sessions at inactivity gaps.

Decisions (PERSONALIZE.md section 4 and 9 where the service is silent):

* ``eventType`` keeps rows whose EVENT_TYPE equals it exactly; ``eventValueThreshold`` keeps rows with
  ``EVENT_VALUE >= threshold`` and drops rows without a value (null or NaN).
* A user's history length is their number of interactions after those two filters. Users whose length is
  below the ``min`` or above the ``max`` history-length percentile are dropped, before any split, so they
  are neither trained nor evaluated. The p-th percentile is the smallest length L such that at least a
  fraction p of the users have a length <= L (numpy ``method="inverted_cdf"``), so the max bound drops at
  most ``1 - max`` of the users and the min bound fewer than ``min`` of them.
* Dense ids are given only to ids that survive the filters (``n_items`` is the number of items the model
  sees). Their order is deterministic: numeric order when every id of the column is a canonical decimal
  number (no hashing needed), else order of first appearance in the file.
* A new session starts at a user's first event and wherever the gap to the user's previous event is
  strictly greater than the timeout (default 30 minutes; a gap of exactly the timeout stays in the session).
* The 1000-interaction and 25-users-with-2-or-more minimums are checked after all filtering.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import shutil
import tempfile
import time
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
    event_value_threshold: float | str | None = None
    min_user_history_length_percentile: float = 0.0
    max_user_history_length_percentile: float = 0.99
    session_timeout_minutes: float = 30.0
    check_minimums: bool = True

    def validate(self) -> None:
        """Raise :class:`InvalidInputException` for settings that cannot work (before any data is read)."""
        if self.event_type is not None and not isinstance(self.event_type, str):
            raise InvalidInputException(f"eventType {self.event_type!r} is not a string.")
        if self.event_value_threshold is not None:
            _parse_threshold(self.event_value_threshold)
        lo_p, hi_p = self.min_user_history_length_percentile, self.max_user_history_length_percentile
        try:
            ok = 0.0 <= float(lo_p) <= float(hi_p) <= 1.0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise InvalidInputException(
                f"min_user_history_length_percentile {lo_p!r} and max_user_history_length_percentile {hi_p!r} "
                "must be numbers with 0 <= min <= max <= 1."
            )
        try:
            ok = float(self.session_timeout_minutes) > 0 and math.isfinite(float(self.session_timeout_minutes))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise InvalidInputException(
                f"session timeout {self.session_timeout_minutes!r} minutes must be a positive number."
            )


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

    # ---- persistence ---------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> Path:
        """Write the dataset as Arrow IPC files in ``directory``, replacing an existing saved dataset.

        Everything is written to a temporary sibling directory first and swapped in with one atomic rename
        exchange (Linux ``renameat2``), or two renames where that is unavailable, so a reader sees either
        the old dataset or the new one. A directory that is not a saved dataset is never replaced.
        """
        directory = Path(directory)
        if directory.exists() and not _is_dataset_dir(directory):
            raise InvalidInputException(
                f"{str(directory)!r} exists and is not a saved dataset directory; refusing to replace it."
            )
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
        try:
            write_ipc(tmp / "events.arrow", {
                "item": np.ascontiguousarray(self.items, dtype=np.int32),
                "time": np.ascontiguousarray(self.times, dtype=np.int64),
                "weight": np.ascontiguousarray(self.weights, dtype=np.float32),
                "session_start": self.session_start_mask(),
            })
            write_ipc(tmp / "sequences.arrow", {
                "user": np.ascontiguousarray(self.seq_users, dtype=np.int32),
                "length": self.lengths.astype(np.int64),
            })
            write_ipc(tmp / "users.arrow", {"user_id": _as_string_array(self.user_ids)})
            write_ipc(tmp / "items.arrow", {"item_id": _as_string_array(self.item_ids)})
            meta = {"format_version": FORMAT_VERSION, "n_users": self.n_users, "n_items": self.n_items,
                    **self.summary()}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
            _replace_dir(tmp, directory)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "InteractionData":
        directory = Path(directory)
        if not _is_dataset_dir(directory):
            raise InvalidInputException(f"{str(directory)!r} is not a saved dataset directory (no meta.json).")
        try:
            meta = json.loads((directory / "meta.json").read_text())
            if meta.get("format_version") != FORMAT_VERSION:
                raise InvalidInputException(
                    f"{str(directory)!r} has dataset format version {meta.get('format_version')!r}; "
                    f"expected {FORMAT_VERSION}."
                )
            events = read_ipc(directory / "events.arrow")
            sequences = read_ipc(directory / "sequences.arrow")
            user_ids = read_ipc(directory / "users.arrow").column("user_id").combine_chunks()
            item_ids = read_ipc(directory / "items.arrow").column("item_id").combine_chunks()
        except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
            if isinstance(exc, InvalidInputException):
                raise
            raise InvalidInputException(f"Saved dataset {str(directory)!r} is unreadable: {exc}") from None
        offsets = np.zeros(sequences.num_rows + 1, dtype=np.int64)
        np.cumsum(_np(sequences.column("length")), out=offsets[1:])
        session_start = _np(events.column("session_start"))
        if offsets[-1] != events.num_rows:
            raise InvalidInputException(f"Saved dataset {str(directory)!r} is inconsistent (sequence lengths).")
        return cls(
            items=_np(events.column("item")),
            times=_np(events.column("time")),
            weights=_np(events.column("weight")),
            user_offsets=offsets,
            seq_users=_np(sequences.column("user")),
            session_offsets=np.append(np.flatnonzero(session_start), events.num_rows).astype(np.int64),
            user_ids=user_ids,
            item_ids=item_ids,
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


def _np(column: pa.ChunkedArray) -> np.ndarray:
    """A writable numpy copy of a (chunked) Arrow column."""
    return np.array(column.to_numpy(), copy=True)


def _as_string_array(values) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        values = pa.array(values, pa.string())
    return values.cast(pa.string())


def write_ipc(path: Path, columns: dict) -> None:
    """Write columns (numpy or Arrow arrays) as one Arrow IPC file."""
    table = pa.table({k: (v if isinstance(v, (pa.Array, pa.ChunkedArray)) else pa.array(v)) for k, v in columns.items()})
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_ipc(path: Path) -> pa.Table:
    """Read a whole Arrow IPC file."""
    with pa.OSFile(str(path), "rb") as source:
        return pa.ipc.open_file(source).read_all()


def _is_dataset_dir(directory: Path) -> bool:
    return directory.is_dir() and (directory / "meta.json").is_file()


def _rename_exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), rename_exchange) == 0


def _replace_dir(tmp: Path, target: Path) -> None:
    """Swap a fully written temporary directory into place so readers never see a half-written one."""
    if not target.exists():
        os.replace(tmp, target)
        return
    if _rename_exchange(tmp, target):
        shutil.rmtree(tmp, ignore_errors=True)  # now holds the old dataset
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.replace(target, old)  # onto an empty directory: allowed
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


# ---- building from a table --------------------------------------------------------------------------

def load_interactions(path: str | os.PathLike, config: DataConfig = DataConfig()) -> InteractionData:
    """Read an Interactions file and build the training arrays (settings are checked before reading)."""
    config.validate()
    return build_interactions(read_interactions(path), config, source=str(path))


def build_interactions(table: pa.Table, config: DataConfig = DataConfig(), source: str = "<table>",
                       timings: dict | None = None) -> InteractionData:
    """Filter, encode, sessionize. ``timings``, when given, receives seconds per stage (for profiling)."""
    clock = _Clock(timings)
    config.validate()
    for name in ("USER_ID", "ITEM_ID", "TIMESTAMP"):
        if name not in table.column_names:
            raise InvalidInputException(f"{source!r} has no {name} column.")
    keep = _filter_mask(table, config, source)
    if keep is not None and np.count_nonzero(keep) < len(keep) // 2:
        # Most rows go: drop them before the ids are encoded (hashing costs more than copying).
        table = table.select(["USER_ID", "ITEM_ID", "TIMESTAMP"]).filter(pa.array(keep))
        keep = None
    clock("filter")
    user_codes, user_dict = _encode(table.column("USER_ID"), "USER_ID", source)
    item_codes, item_dict = _encode(table.column("ITEM_ID"), "ITEM_ID", source)
    times = _int64(table.column("TIMESTAMP"), source)
    clock("encode")
    if keep is not None:
        user_codes, item_codes, times = user_codes[keep], item_codes[keep], times[keep]
        del keep
    user_counts = np.bincount(user_codes, minlength=len(user_dict))
    keep_user = _history_length_keep(user_counts, config)
    if not keep_user.all():
        keep = keep_user[user_codes]
        user_codes, item_codes, times = user_codes[keep], item_codes[keep], times[keep]
        del keep
        user_counts = np.where(keep_user, user_counts, 0)
    user_codes, user_dict = _compact(user_codes, user_dict, user_counts > 0)
    item_codes, item_dict = _compact(item_codes, item_dict, np.bincount(item_codes, minlength=len(item_dict)) > 0)
    clock("percentile+compact")
    data = _sessionize(user_codes, item_codes, times, user_dict, item_dict, float(config.session_timeout_minutes))
    clock("sort+sessionize")
    if config.check_minimums:
        check_minimums(data, source, config)
    return data


class _Clock:
    """Accumulates wall seconds per stage into ``timings`` (and CPU seconds under ``"<stage> cpu"``)."""

    def __init__(self, timings: dict | None):
        self.timings = timings
        self.last = (time.perf_counter(), time.process_time())

    def __call__(self, stage: str) -> None:
        if self.timings is not None:
            now = (time.perf_counter(), time.process_time())
            self.timings[stage] = self.timings.get(stage, 0.0) + now[0] - self.last[0]
            self.timings[f"{stage} cpu"] = self.timings.get(f"{stage} cpu", 0.0) + now[1] - self.last[1]
            self.last = now


def _int64(column: pa.ChunkedArray, source: str) -> np.ndarray:
    if not pa.types.is_integer(column.type):
        raise InvalidInputException(f"{source!r}: column TIMESTAMP has type {column.type}; expected integers.")
    if column.null_count:
        raise InvalidInputException(f"{source!r}: column TIMESTAMP has empty values; expected integer epoch seconds.")
    if column.num_chunks == 1:
        return column.chunk(0).to_numpy().astype(np.int64, copy=False)
    return np.concatenate([c.to_numpy() for c in column.chunks]).astype(np.int64, copy=False) if column.num_chunks \
        else np.zeros(0, dtype=np.int64)


def _filter_mask(table: pa.Table, config: DataConfig, source: str) -> np.ndarray | None:
    """Boolean keep-mask for eventType / eventValueThreshold, or None when nothing is filtered."""
    keep = None
    if config.event_type is not None:
        if "EVENT_TYPE" not in table.column_names:
            raise InvalidInputException(
                f"eventType {config.event_type!r} was given but {source!r} has no EVENT_TYPE column."
            )
        column = table.column("EVENT_TYPE")
        keep = _equals(column, config.event_type)
        if not keep.any():
            present = _distinct(column)
            shown = ", ".join(map(repr, present[:20])) + (", ..." if len(present) > 20 else "")
            raise InvalidInputException(
                f"eventType {config.event_type!r} leaves no rows in {source!r}; "
                f"the file's event types are: {shown or 'none'}."
            )
    if config.event_value_threshold is not None:
        threshold = _parse_threshold(config.event_value_threshold)
        if "EVENT_VALUE" not in table.column_names:
            raise InvalidInputException(
                f"eventValueThreshold {config.event_value_threshold!r} was given but {source!r} has no "
                "EVENT_VALUE column."
            )
        column = table.column("EVENT_VALUE")
        if not pa.types.is_floating(column.type):
            column = column.cast(pa.float64())
        # Nulls become NaN and NaN >= threshold is false: rows without a value do not pass a threshold.
        values = np.concatenate([c.to_numpy(zero_copy_only=False) for c in column.chunks]) if column.num_chunks \
            else np.zeros(0)
        passed = values >= threshold
        keep = passed if keep is None else keep & passed
    return keep


def _equals(column: pa.ChunkedArray, value: str) -> np.ndarray:
    """column == value as a numpy bool array (nulls false); compares dictionaries, not rows, when it can."""
    parts = []
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type):
            code = pc.index(chunk.dictionary.cast(pa.string()), pa.scalar(value, pa.string())).as_py()
            if code < 0:
                parts.append(np.zeros(len(chunk), dtype=bool))
            else:
                parts.append(chunk.indices.fill_null(-1).to_numpy() == code)
        else:
            parts.append(pc.equal(chunk.cast(pa.string()), value).fill_null(False).to_numpy(zero_copy_only=False))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def _distinct(column: pa.ChunkedArray) -> list:
    """The distinct non-null values of a (possibly dictionary-encoded) string column, sorted."""
    values = set()
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type):
            values.update(chunk.dictionary.take(pc.unique(chunk.indices.drop_null())).to_pylist())
        else:
            values.update(pc.unique(chunk.drop_null()).to_pylist())
    return sorted(values, key=str)


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


def _encode(column: pa.ChunkedArray, name: str, source: str) -> tuple[np.ndarray, pa.Array]:
    """Dense int32 codes plus the dictionary (code -> original string id).

    Ids that are all canonical decimal numbers ("0", "42", not "007" or "+4", at most 18 digits) are coded
    in numeric order without hashing any string (the common case of numeric-looking ids, and the fastest).
    Other ids are hashed, in order of first appearance. Dictionary-encoded input (several chunks with their
    own dictionaries) is unified by hashing each distinct dictionary once.
    """
    if column.null_count:
        raise InvalidInputException(f"{source!r}: column {name} has missing (null) ids; expected strings.")
    if column.num_chunks == 0 or len(column) == 0:
        return np.zeros(0, dtype=np.int32), pa.array([], pa.string())
    if pa.types.is_dictionary(column.type):
        return _encode_dictionary(column)
    if not pa.types.is_string(column.type):
        column = column.cast(pa.string())
    numbers = _canonical_decimals(column)
    if numbers is not None:
        codes, uniques = _encode_integers(numbers)
        return codes, pc.cast(pa.array(uniques, pa.int64()), pa.string())
    encoded = pc.dictionary_encode(column.combine_chunks() if column.num_chunks > 1 else column.chunk(0))
    return encoded.indices.to_numpy().astype(np.int32, copy=False), encoded.dictionary


def _encode_dictionary(column: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    groups = _dictionary_groups(column)
    if len(groups) == 1:
        codes = _concat_numpy([c.indices for c in column.chunks]).astype(np.int32, copy=False)
        return codes, groups[0][0].cast(pa.string())
    encoded = pc.dictionary_encode(pa.concat_arrays([d.cast(pa.string()) for d, _ in groups]))
    transposed = encoded.indices.to_numpy().astype(np.int32, copy=False)
    codes = np.empty(len(column), dtype=np.int32)
    starts = np.concatenate([[0], np.cumsum([len(c) for c in column.chunks])])
    position = 0
    for d, chunk_indices in groups:
        transpose = transposed[position:position + len(d)]
        position += len(d)
        for i in chunk_indices:
            np.take(transpose, column.chunk(i).indices.to_numpy(), out=codes[starts[i]:starts[i + 1]])
    return codes, encoded.dictionary


def _dictionary_groups(column: pa.ChunkedArray) -> list[tuple[pa.Array, list[int]]]:
    """The distinct dictionaries of a dictionary-typed chunked column, each with the chunks that use it
    (Parquet chunks of one row group share one dictionary: hash it once, not once per chunk)."""
    groups: dict = {}
    for i, chunk in enumerate(column.chunks):
        d = chunk.dictionary
        key = (tuple(b.address if b is not None else 0 for b in d.buffers()), d.offset, len(d))
        groups.setdefault(key, (d, []))[1].append(i)
    return list(groups.values())


_MAX_DECIMAL_DIGITS = 18  # < 2**63


def _canonical_decimals(column: pa.ChunkedArray) -> np.ndarray | None:
    """The ids as int64 when every one is a canonical decimal number, else None (checked on raw bytes)."""
    parts = []
    for chunk in column.chunks:
        if len(chunk) == 0:
            continue
        _, offsets_buffer, data_buffer = chunk.buffers()
        offsets = np.frombuffer(offsets_buffer, dtype=np.int32, count=len(chunk) + 1, offset=chunk.offset * 4)
        lengths = np.diff(offsets)
        if lengths.min() < 1 or lengths.max() > _MAX_DECIMAL_DIGITS:
            return None
        data = np.frombuffer(data_buffer, dtype=np.uint8)
        body = data[offsets[0]:offsets[-1]]
        if body.min() < 48 or body.max() > 57:  # a byte outside '0'..'9'
            return None
        if ((data[offsets[:-1]] == 48) & (lengths > 1)).any():  # a leading zero
            return None
        parts.append(pc.cast(chunk, pa.int64()).to_numpy())
    return np.concatenate(parts) if len(parts) != 1 else parts[0]


def _encode_integers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense codes in increasing value order, and the distinct values (no hashing, no argsort)."""
    n = len(values)
    lo, hi = int(values.min()), int(values.max())
    span = hi - lo + 1
    if span <= max(4 * n, 1 << 16) and span <= 1 << 26:
        present = np.zeros(span, dtype=bool)
        shifted = values - lo
        present[shifted] = True
        rank = np.cumsum(present, dtype=np.int32)
        rank -= 1
        return rank[shifted], np.flatnonzero(present) + lo
    pos_bits = _bits(n - 1)
    if _bits(hi - lo) + pos_bits <= 63:
        key = values - lo
        key <<= pos_bits
        key |= np.arange(n, dtype=np.int64)
        key.sort()
        position = key & ((1 << pos_bits) - 1)
        key >>= pos_bits
        new = np.empty(n, dtype=bool)
        new[0] = True
        np.not_equal(key[1:], key[:-1], out=new[1:])
        codes = np.empty(n, dtype=np.int32)
        codes[position] = np.cumsum(new, dtype=np.int32) - 1
        return codes, key[new] + lo
    uniques, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int32).reshape(-1), uniques


def _concat_numpy(arrays: list) -> np.ndarray:
    if len(arrays) == 1:
        return arrays[0].to_numpy()
    return np.concatenate([a.to_numpy() for a in arrays])


def _compact(codes: np.ndarray, dictionary: pa.Array, used: np.ndarray) -> tuple[np.ndarray, pa.Array]:
    """Renumber codes to 0..k-1 over the used dictionary entries, keeping their order."""
    if used.all():
        return codes, dictionary
    remap = np.cumsum(used, dtype=np.int64) - 1
    return remap[codes].astype(np.int32), dictionary.filter(pa.array(used))


def _history_length_keep(lengths: np.ndarray, config: DataConfig) -> np.ndarray:
    """Users (by code) to keep: history length within the [min, max] history-length percentiles."""
    lo_p = float(config.min_user_history_length_percentile)
    hi_p = float(config.max_user_history_length_percentile)
    present = lengths > 0
    if not present.any():
        return present
    observed = lengths[present]
    # The p-th percentile is the smallest length L with at least a fraction p of the users at or below L
    # (an element of the data, as Spark's approxQuantile returns), so each bound drops at most its share:
    # min drops users strictly below its percentile (< min_p of them), max those strictly above it
    # (<= 1 - max_p of them). With numpy's default linear interpolation, 1 of 30 users could be dropped for
    # a 1% cut.
    lo, hi = np.quantile(observed, [lo_p, hi_p], method="inverted_cdf")
    return present & (lengths >= lo) & (lengths <= hi)


def _sessionize(users, items, times, user_dict, item_dict, timeout_minutes) -> InteractionData:
    """Sort by (user, time) keeping file order for ties, then cut sessions at gaps above the timeout."""
    n = len(items)
    order = _stable_user_time_order(users, times)
    users, items, times = users[order], items[order], times[order]
    del order
    user_start = np.ones(n, dtype=bool)
    np.not_equal(users[1:], users[:-1], out=user_start[1:])
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


def _bits(n: int) -> int:
    return max(int(n), 1).bit_length()


def _stable_user_time_order(users: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Permutation sorting events by (user, time), ties in input order.

    Two value sorts of packed 64-bit keys instead of one stable argsort (numpy's SIMD sort of values is an
    order of magnitude faster than argsort): first (time, position) gives each event its rank in time order,
    then (user, time rank) gives the final order. Falls back to a stable argsort/lexsort when a key would not
    fit in 63 bits.
    """
    n = len(times)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    t0 = int(times.min())
    span = int(times.max()) - t0
    n_users = int(users.max()) + 1
    pos_bits = _bits(n - 1)
    if _bits(span) + pos_bits <= 63 and _bits(n_users - 1) + pos_bits <= 63:
        mask = (1 << pos_bits) - 1
        if bool((times[1:] >= times[:-1]).all()):  # already in time order (a common export order)
            by_time = np.arange(n, dtype=np.int64)
        else:
            key = times - t0
            key <<= pos_bits
            key |= np.arange(n, dtype=np.int64)
            key.sort()
            by_time = key & mask  # positions in (time, position) order
            del key
        rank = np.empty(n, dtype=np.int64)
        rank[by_time] = np.arange(n, dtype=np.int64)
        key = users.astype(np.int64)
        key <<= pos_bits
        key |= rank
        del rank
        key.sort()
        key &= mask  # time ranks in (user, time rank) order
        return by_time[key]
    if _bits(span) + _bits(n_users - 1) <= 63:
        key = users.astype(np.int64) * (span + 1) + (times - t0)
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
