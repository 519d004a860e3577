"""Interactions -> the compact arrays the model trains on.

The path is vectorised end to end (Arrow compute and numpy; no per-event Python objects): filter by event
type and value, drop users outside the history-length percentiles, map string ids to dense indices, sort
each user's events by time (stable, so ties keep file order) and cut sessions at inactivity gaps.

Decisions: the service's Interactions rules and minimums
(https://docs.aws.amazon.com/personalize/latest/dg/interactions-dataset-requirements.html,
https://docs.aws.amazon.com/personalize/latest/dg/limits.html), and this project's choices where the service is silent.

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
* TIMESTAMPs of a file must be plausible epoch seconds: none later than now plus :data:`FUTURE_TOLERANCE_SECONDS`.
  A value in the far future (``9999999999``, ``2**63-1``) or a file in milliseconds (every event would
  then be its own session, and the recency weights of the older events vanish) is refused with the row,
  the value and, when dividing by 1000 (or 10^6, 10^9) gives a plausible time, that hint.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InvalidInputException
from ..hyperparameters import DATA_SETTINGS, Settings, derive_settings
from ..recipe import HRNN_RECIPE
from .dataset import InteractionData
from .encode import compact_codes, encode_ids, stable_user_time_order
from .interactions import read_interactions

MIN_INTERACTIONS = 1000
FUTURE_TOLERANCE_SECONDS = 2 * 86400  # clocks and time zones; an export is not days ahead of now
MIN_USERS_WITH_TWO = 25


@derive_settings(HRNN_RECIPE, DATA_SETTINGS)
class DataConfig(Settings):
    """Filtering and featurization settings: the request's eventType and eventValueThreshold, and the
    recipe's featurization hyperparameters (the history-length percentiles, the session timeout; fields
    added by :func:`~hrnn.hyperparameters.derive_settings` with the recipe's defaults)."""

    event_type: str | None = None
    event_value_threshold: float | None = None
    check_minimums: bool = True


# ---- building from a table --------------------------------------------------------------------------

def load_interactions(path: str | os.PathLike, config: DataConfig = DataConfig()) -> InteractionData:
    """Read an Interactions file, check its timestamps are plausible, and build the training arrays."""
    table = read_interactions(path)
    check_timestamps(_int64(table.column("TIMESTAMP"), str(path)), str(path))
    return build_interactions(table, config, source=str(path))


def build_interactions(table: pa.Table, config: DataConfig = DataConfig(), source: str = "<table>",
                       timings: dict | None = None) -> InteractionData:
    """Filter, encode, sessionize. ``timings``, when given, receives seconds per stage (for profiling)."""
    clock = _Clock(timings)
    for name in ("USER_ID", "ITEM_ID", "TIMESTAMP"):
        if name not in table.column_names:
            raise InvalidInputException(f"{source!r} has no {name} column.")
    keep = _filter_mask(table, config, source)
    if keep is not None and np.count_nonzero(keep) < len(keep) // 2:
        # Most rows go: drop them before the ids are encoded (hashing costs more than copying).
        table = table.select(["USER_ID", "ITEM_ID", "TIMESTAMP"]).filter(pa.array(keep))
        keep = None
    clock("filter")
    user_codes, user_dict = encode_ids(table.column("USER_ID"), "USER_ID", source)
    item_codes, item_dict = encode_ids(table.column("ITEM_ID"), "ITEM_ID", source)
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
    user_codes, user_dict = compact_codes(user_codes, user_dict, user_counts > 0)
    item_codes, item_dict = compact_codes(item_codes, item_dict, np.bincount(item_codes, minlength=len(item_dict)) > 0)
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


def check_timestamps(times: np.ndarray, source: str, now: float | None = None) -> None:
    """Refuse timestamps after now (+ tolerance); see the module docstring."""
    if len(times) == 0:
        return
    latest = int(time.time() if now is None else now) + FUTURE_TOLERANCE_SECONDS
    if int(times.max()) <= latest:
        return
    row = int(np.argmax(times > latest))
    value = int(times[row])
    later = int(np.count_nonzero(times > latest))
    for scale, unit in ((1000, "milliseconds"), (10**6, "microseconds"), (10**9, "nanoseconds")):
        if 0 < value // scale <= latest and value // scale >= 10**8:  # after 1973 in that unit
            raise InvalidInputException(
                f"{source!r}, row {row + 1}: TIMESTAMP {value} is not epoch seconds: it is {_date(value // scale)} "
                f"in {unit} ({later:,} of {len(times):,} values are in the future as seconds). Convert the "
                f"column to Unix epoch seconds (divide by {scale:,}).")
    raise InvalidInputException(
        f"{source!r}, row {row + 1}: TIMESTAMP {value} is {_date(value)}, in the future ({later:,} of "
        f"{len(times):,} values are); expected Unix epoch seconds no later than {_date(latest)}. Fix or drop "
        "those rows.")


def _date(seconds: int) -> str:
    import datetime

    try:
        return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return "beyond the year 9999"


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
        threshold = float(config.event_value_threshold)
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
    order = stable_user_time_order(users, times)
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
