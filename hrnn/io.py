"""Reading a user's Interactions file (CSV with a header row, or Parquet) into a checked Arrow table.

Every problem with the file becomes an :class:`InvalidInputException` that names the file, the column or
row, and what was expected, so the CLI never shows a traceback for bad data.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .errors import InvalidInputException

REQUIRED_COLUMNS = ("USER_ID", "ITEM_ID", "TIMESTAMP")
OPTIONAL_COLUMNS = ("EVENT_TYPE", "EVENT_VALUE")
COLUMN_TYPES = {
    "USER_ID": pa.string(),
    "ITEM_ID": pa.string(),
    "TIMESTAMP": pa.int64(),
    "EVENT_TYPE": pa.string(),
    "EVENT_VALUE": pa.float64(),
}
_PARQUET_MAGIC = b"PAR1"


def read_interactions(path: str | os.PathLike) -> pa.Table:
    """Read USER_ID, ITEM_ID, TIMESTAMP[, EVENT_TYPE, EVENT_VALUE]; columns in any order, extras ignored.

    Ids stay strings even when they look numeric. TIMESTAMP must be a non-negative integer (epoch seconds).
    """
    path = Path(path)
    if not path.exists():
        raise InvalidInputException(f"Interactions file {str(path)!r} does not exist.")
    if not path.is_file():
        raise InvalidInputException(f"Interactions path {str(path)!r} is not a file.")
    if path.stat().st_size == 0:
        raise InvalidInputException(f"Interactions file {str(path)!r} is empty; expected a CSV header row and data rows.")
    with open(path, "rb") as fh:
        head = fh.read(65536)
    if head.startswith(_PARQUET_MAGIC):
        table = _read_parquet(path)
    else:
        table = _read_csv(path, head)
    if table.num_rows == 0:
        raise InvalidInputException(f"Interactions file {str(path)!r} has a header but no data rows.")
    _check_timestamps(table, path)
    return table


def _read_parquet(path: Path) -> pa.Table:
    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise InvalidInputException(f"Interactions file {str(path)!r} is not a readable Parquet file: {exc}") from None
    present = _check_columns(schema.names, path)
    try:
        table = pq.read_table(path, columns=present)
    except Exception as exc:
        raise InvalidInputException(f"Interactions file {str(path)!r} could not be read as Parquet: {exc}") from None
    columns = []
    for name in present:
        col = table.column(name)
        target = COLUMN_TYPES[name]
        if name in ("USER_ID", "ITEM_ID", "EVENT_TYPE"):
            if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_integer(col.type)):
                raise InvalidInputException(
                    f"Column {name} of {str(path)!r} has type {col.type}; expected string."
                )
        elif name == "TIMESTAMP" and not pa.types.is_integer(col.type):
            if pa.types.is_floating(col.type):
                _reject_fractional(col, path)
            else:
                raise InvalidInputException(
                    f"Column TIMESTAMP of {str(path)!r} has type {col.type}; expected integer epoch seconds."
                )
        elif name == "EVENT_VALUE" and not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
            raise InvalidInputException(f"Column EVENT_VALUE of {str(path)!r} has type {col.type}; expected a number.")
        columns.append(col.cast(target))
    return pa.table(dict(zip(present, columns)))


def _reject_fractional(col: pa.ChunkedArray, path: Path) -> None:
    values = col.to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(~np.isfinite(values) | (values != np.floor(values)))
    if bad.size:
        raise InvalidInputException(
            f"{_where(path, int(bad[0]))}: TIMESTAMP {values[bad[0]]!r} is not an integer; "
            "expected integer epoch seconds."
        )


def _read_csv(path: Path, head: bytes) -> pa.Table:
    if b"\x00" in head:
        raise InvalidInputException(
            f"Interactions file {str(path)!r} is neither CSV (text with a header row) nor Parquet."
        )
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # The 64 KiB cut may split a multi-byte character; only reject if the error is not at the end.
        try:
            text = head[:-4].decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInputException(
                f"Interactions file {str(path)!r} is neither UTF-8 CSV nor Parquet."
            ) from None
    header_line = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    names = [h.strip().strip('"') for h in header_line.split(",")]
    if "," not in header_line and "USER_ID" not in names:
        raise InvalidInputException(
            f"Interactions file {str(path)!r} is neither CSV with a header row nor Parquet "
            f"(first line: {header_line[:80]!r})."
        )
    present = _check_columns(names, path)
    convert = pacsv.ConvertOptions(
        column_types={name: COLUMN_TYPES[name] for name in present},
        include_columns=present,
        strings_can_be_null=False,
    )
    try:
        return pacsv.read_csv(path, read_options=pacsv.ReadOptions(use_threads=True), convert_options=convert)
    except pa.ArrowInvalid as exc:
        raise _explain_csv_error(path, present, exc) from None


def _explain_csv_error(path: Path, present: list[str], exc: Exception) -> InvalidInputException:
    """Re-read the offending column as text to point at the first bad row (slow path, errors only)."""
    message = str(exc)
    for name in ("TIMESTAMP", "EVENT_VALUE"):
        if name not in present or name not in message:
            continue
        try:
            raw = pacsv.read_csv(
                path, convert_options=pacsv.ConvertOptions(include_columns=[name], column_types={name: pa.string()})
            ).column(name)
        except pa.ArrowInvalid:
            break
        for row, value in enumerate(raw.to_pylist()):
            if not _parses(value, integer=name == "TIMESTAMP"):
                expected = "an integer (epoch seconds)" if name == "TIMESTAMP" else "a number or empty"
                return InvalidInputException(
                    f"{_where(path, row)}: column {name} is {value!r}; expected {expected}."
                )
    return InvalidInputException(f"Interactions file {str(path)!r} could not be parsed as CSV: {message}")


def _where(path: Path, row: int) -> str:
    """Name a 0-based data row the way a user finds it: data row number, and the line for CSV files."""
    where = f"Row {row + 1} of {str(path)!r}"
    with open(path, "rb") as fh:
        is_parquet = fh.read(4) == _PARQUET_MAGIC
    return where if is_parquet else f"{where} (line {row + 2})"


def _parses(value: str | None, integer: bool) -> bool:
    if value is None:
        return not integer
    text = value.strip()
    if not text:
        return not integer
    try:
        if integer:
            int(text)
        else:
            float(text)
        return True
    except ValueError:
        return False


def _check_columns(names: list[str], path: Path) -> list[str]:
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise InvalidInputException(
            f"Interactions file {str(path)!r} is missing required column(s) {', '.join(missing)}; "
            f"found {', '.join(names[:20]) or 'no columns'}. Required: {', '.join(REQUIRED_COLUMNS)}; "
            f"optional: {', '.join(OPTIONAL_COLUMNS)}."
        )
    return [c for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if c in names]


def _check_timestamps(table: pa.Table, path: Path) -> None:
    ts = table.column("TIMESTAMP")
    if ts.null_count:
        row = int(np.flatnonzero(ts.is_null().to_numpy(zero_copy_only=False))[0])
        raise InvalidInputException(f"{_where(path, row)}: TIMESTAMP is empty; expected integer epoch seconds.")
    if pc.min(ts).as_py() < 0:
        row = int(np.flatnonzero(ts.to_numpy() < 0)[0])
        raise InvalidInputException(
            f"{_where(path, row)}: TIMESTAMP {ts[row].as_py()} is negative; "
            "expected non-negative integer epoch seconds."
        )
    for name in ("USER_ID", "ITEM_ID"):
        col = table.column(name)
        if col.null_count:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise InvalidInputException(f"{_where(path, row)}: {name} is empty; expected a string id.")
