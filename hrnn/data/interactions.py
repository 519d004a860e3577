"""Reading a user's Interactions file (CSV with a header row, or Parquet) into a checked Arrow table.

Every problem with the file becomes an :class:`InvalidInputException` that names the file, the column or
row, and what was expected, so the CLI never shows a traceback for bad data.

Rules: the service's Interactions schema and file format
(https://docs.aws.amazon.com/personalize/latest/dg/interactions-dataset-requirements.html,
https://docs.aws.amazon.com/personalize/latest/dg/data-prep-formatting.html), plus this project's decisions where the
service is silent.

* The format is sniffed from the content, not the name: Parquet starts with ``PAR1``; anything else must be
  UTF-8 text whose first non-empty line is a CSV header. A gzip-compressed CSV (``.csv.gz``) is read too.
  Binary files (NUL bytes, PNG, ZIP, ...) and JSON documents are rejected up front.
* Columns may come in any order; extra columns are ignored. Header names are matched exactly after
  stripping surrounding whitespace and quotes (a name that differs only in case is reported as such).
* ``USER_ID``/``ITEM_ID`` are strings even when they look numeric (``"007"`` stays ``"007"``); an empty id
  and an id longer than 256 characters are rejected. ``TIMESTAMP`` must be a non-negative integer (epoch
  seconds); in Parquet it must be an integer column. ``EVENT_VALUE`` must be a number or empty (empty is
  null). ``EVENT_TYPE`` is any string. In CSV only an empty field is null (``"NULL"`` or ``"NA"`` are not),
  quoted or not (``""``, as ``csv.QUOTE_ALL`` writes it, is empty).
* Row numbers in messages are 1-based data rows (the header is not a row); for CSV the physical line
  number is given too (blank lines are skipped by the reader but counted as lines).

The returned table has the columns present among ``USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, EVENT_VALUE``
in that order: ``USER_ID``/``ITEM_ID`` string, ``TIMESTAMP`` int64, ``EVENT_TYPE`` dictionary-encoded string
(``dictionary<int32, string>``, one dictionary per chunk: a handful of distinct values, cheap to encode while
parsing and cheap to filter on) and ``EVENT_VALUE`` float64.
"""

from __future__ import annotations

import csv
import gzip
import os
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..errors import InvalidInputException

REQUIRED_COLUMNS = ("USER_ID", "ITEM_ID", "TIMESTAMP")
OPTIONAL_COLUMNS = ("EVENT_TYPE", "EVENT_VALUE")
ID_COLUMNS = ("USER_ID", "ITEM_ID")
MAX_ID_LENGTH = 256
_DICT = pa.dictionary(pa.int32(), pa.string())
COLUMN_TYPES = {
    "USER_ID": pa.string(),
    "ITEM_ID": pa.string(),
    "TIMESTAMP": pa.int64(),
    "EVENT_TYPE": _DICT,
    "EVENT_VALUE": pa.float64(),
}
EXPECTED = {
    "USER_ID": "a non-empty string id",
    "ITEM_ID": "a non-empty string id",
    "TIMESTAMP": "a non-negative integer (Unix epoch seconds)",
    "EVENT_TYPE": "a string",
    "EVENT_VALUE": "a number, or empty for no value",
}
_PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"
_SNIFF_BYTES = 65536
_CSV_BLOCK_SIZE = 8 << 20
_BINARY_SIGNATURES = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive (e.g. .xlsx)",
    b"ORC": "an ORC file",
    b"Obj\x01": "an Avro container file",
    b"ARROW1": "an Arrow IPC file",
    b"BZh": "a bzip2 archive",
    b"\xfd7zXZ": "an xz archive",
    b"\x28\xb5\x2f\xfd": "a zstd archive",
    b"\xff\xfe": "UTF-16 text (expected UTF-8)",
    b"\xfe\xff": "UTF-16 text (expected UTF-8)",
}


def read_interactions(path: str | os.PathLike) -> pa.Table:
    """Read USER_ID, ITEM_ID, TIMESTAMP[, EVENT_TYPE, EVENT_VALUE]; columns in any order, extras ignored.

    Ids stay strings even when they look numeric. TIMESTAMP must be a non-negative integer (epoch seconds).
    Raises :class:`InvalidInputException` for every problem with the file.
    """
    path = Path(path)
    name = repr(str(path))
    if not path.exists():
        raise InvalidInputException(f"Interactions file {name} does not exist.")
    if not path.is_file():
        raise InvalidInputException(f"Interactions path {name} is not a file.")
    if path.stat().st_size == 0:
        raise InvalidInputException(
            f"Interactions file {name} is empty (0 bytes); expected a CSV file with a header row "
            f"({', '.join(REQUIRED_COLUMNS)}) and data rows, or a Parquet file."
        )
    try:
        with open(path, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError as exc:
        raise InvalidInputException(f"Interactions file {name} cannot be read: {exc.strerror or exc}.") from None
    if head.startswith(_PARQUET_MAGIC):
        reader = _ParquetReader(path)
    else:
        compressed = head.startswith(_GZIP_MAGIC)
        if compressed:
            head = _gunzip_head(path)
        reader = _CsvReader(path, head, compressed)
    table = reader.read()
    if table.num_rows == 0:
        what = "has a header but no data rows" if isinstance(reader, _CsvReader) else "has no rows"
        raise InvalidInputException(f"Interactions file {name} {what}; expected at least one interaction.")
    _check_values(table, reader)
    return table


# ---- CSV ---------------------------------------------------------------------------------------------

def _gunzip_head(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read(_SNIFF_BYTES)
    except (OSError, EOFError) as exc:
        raise InvalidInputException(f"Interactions file {str(path)!r} is not a readable gzip file: {exc}.") from None


def _describe_binary(head: bytes) -> str | None:
    for magic, what in _BINARY_SIGNATURES.items():
        if head.startswith(magic):
            return what
    if b"\x00" in head:
        return "binary data (it contains NUL bytes)"
    return None


class _CsvReader:
    kind = "CSV"

    def __init__(self, path: Path, head: bytes, compressed: bool):
        self.path = path
        self.compressed = compressed
        self.name = repr(str(path))
        self._line_map = None
        what = _describe_binary(head)
        if what is not None:
            raise InvalidInputException(
                f"Interactions file {self.name} is neither CSV nor Parquet: it looks like {what}. "
                "Expected a UTF-8 CSV file with a header row, or a Parquet file."
            )
        text = _decode_head(head, self.name, truncated=len(head) == _SNIFF_BYTES)
        text = text.lstrip("\ufeff")
        stripped = text.lstrip()
        if stripped[:1] in ("{", "["):
            raise InvalidInputException(
                f"Interactions file {self.name} is neither CSV nor Parquet: it looks like JSON. "
                f"Expected a CSV file with a header row ({', '.join(REQUIRED_COLUMNS)}, ...), or a Parquet file."
            )
        lines = re.split(r"\r\n|\n|\r", text)
        if len(head) == _SNIFF_BYTES:
            lines = lines[:-1]  # the last one may be cut
        header_index = next((i for i, line in enumerate(lines) if line.strip()), None)
        if header_index is None:
            raise InvalidInputException(
                f"Interactions file {self.name} has no header row in its first {len(head)} bytes; "
                f"expected a CSV header row ({', '.join(REQUIRED_COLUMNS)}, ...)."
            )
        self.header_line = header_index + 1  # 1-based physical line of the header
        header = lines[header_index]
        try:
            names = next(csv.reader([header]))
        except csv.Error:
            names = header.split(",")
        self.names = [n.strip().strip('"').strip() for n in names]
        if len(self.names) == 1 and not any(c in self.names for c in REQUIRED_COLUMNS):
            for delimiter, called in (("\t", "tab"), (";", "semicolon"), ("|", "pipe")):
                if delimiter in header and "USER_ID" in header:
                    raise InvalidInputException(
                        f"Interactions file {self.name} looks {called}-separated (first line: {header[:80]!r}); "
                        "expected a comma-separated CSV file with a header row."
                    )
            raise InvalidInputException(
                f"Interactions file {self.name} is neither a CSV file with a header row nor Parquet "
                f"(first line: {header[:80]!r}); expected a comma-separated header such as "
                f"{','.join(REQUIRED_COLUMNS)}."
            )
        self.present = _check_columns(self.names, self.name)

    def _source(self):
        if self.compressed:
            return pa.CompressedInputStream(pa.OSFile(str(self.path)), "gzip")
        return str(self.path)

    def read(self, use_threads: bool = True) -> pa.Table:
        # Our own column names (unique placeholders for the columns we ignore), so whitespace or quotes
        # around header names and duplicate extra columns do not matter.
        column_names = [n if n in self.present else f"__ignored_{i}" for i, n in enumerate(self.names)]
        read = pacsv.ReadOptions(
            use_threads=use_threads, block_size=_CSV_BLOCK_SIZE, column_names=column_names,
            skip_rows=self.header_line,
        )
        convert = pacsv.ConvertOptions(
            column_types={name: COLUMN_TYPES[name] for name in self.present},
            include_columns=self.present,
            null_values=[""],
            strings_can_be_null=False,
            quoted_strings_can_be_null=True,  # "" (csv.QUOTE_ALL) is empty too; string columns stay non-null
        )
        try:
            return pacsv.read_csv(self._source(), read_options=read, convert_options=convert)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            if use_threads:
                # The threaded reader does not say which row failed; the single-threaded one does.
                return self.read(use_threads=False)
            raise self._explain(exc) from None
        except OSError as exc:
            raise InvalidInputException(f"Interactions file {self.name} cannot be read: {exc}.") from None

    def _explain(self, exc: Exception) -> InvalidInputException:
        message = str(exc)
        row = None
        found = re.search(r"Row #(\d+)", message)
        if found:
            row = int(found.group(1)) - self.header_line - 1  # 0-based data row
        column = None
        found = re.search(r"column #(\d+)", message)
        if found and int(found.group(1)) < len(self.names):
            column = self.names[int(found.group(1))]
        value = re.search(r"invalid value '(.*)'$", message, re.S)
        if "Expected" in message and "columns" in message:
            counts = re.search(r"Expected (\d+) columns, got (\d+)", message)
            detail = (f"has {counts.group(2)} fields; expected {counts.group(1)} like the header"
                      if counts else "has the wrong number of fields")
            return InvalidInputException(f"{self.where(row)}: the row {detail}.")
        if column is not None and value is not None:
            text = value.group(1)
            if column == "TIMESTAMP":
                what = ("written with a '+' sign" if re.fullmatch(r"\s*\+\d+\s*", text) else "out of range "
                        "(larger than a 64-bit integer)" if re.fullmatch(r"\s*-?\d+\s*", text) else "not an integer")
            else:
                what = "not a number" if column == "EVENT_VALUE" else "not valid"
            return InvalidInputException(
                f"{self.where(row)}, column {column}: {text!r} is {what}; expected {EXPECTED[column]}."
            )
        if "Could not skip initial" in message:
            return InvalidInputException(
                f"Interactions file {self.name} has a header but no data rows; expected at least one interaction."
            )
        if "UTF8" in message or "utf8" in message.lower():
            where = self.where(row) if row is not None else f"Interactions file {self.name}"
            col = f", column {column}" if column else ""
            return InvalidInputException(f"{where}{col}: invalid UTF-8 text; expected a UTF-8 encoded CSV file.")
        return InvalidInputException(f"Interactions file {self.name} could not be parsed as CSV: {message}")

    def where(self, row: int | None) -> str:
        """Name a 0-based data row the way a user finds it: the data row number and the file's line."""
        if row is None:
            return f"Interactions file {self.name}"
        line = self._line_of(row)
        line_text = f" (line {line})" if line is not None else ""
        return f"Interactions file {self.name}, row {row + 1}{line_text}"

    def _line_of(self, row: int) -> int | None:
        """Physical 1-based line of a data row, counting blank lines the reader skipped (errors only)."""
        if self._line_map is None:
            try:
                if self.compressed:
                    with gzip.open(self.path, "rb") as fh:
                        buf = np.frombuffer(fh.read(), dtype=np.uint8)
                else:
                    buf = np.memmap(self.path, dtype=np.uint8, mode="r")
            except (OSError, EOFError):
                return None
            newlines = np.flatnonzero(buf == 10)
            starts = np.concatenate([[0], newlines + 1])
            ends = np.concatenate([newlines, [len(buf)]])
            lengths = ends - starts
            cr = np.zeros(len(ends), dtype=bool)
            nonempty_end = lengths > 0
            cr[nonempty_end] = buf[ends[nonempty_end] - 1] == 13
            content = lengths - cr
            # Data rows are the non-empty lines after the header line (which is self.header_line).
            lines = np.flatnonzero(content > 0) + 1
            self._line_map = lines[lines > self.header_line]
        if 0 <= row < len(self._line_map):
            return int(self._line_map[row])
        return None


def _decode_head(head: bytes, name: str, truncated: bool) -> str:
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The sniffed prefix may end inside a multi-byte character.
        if truncated and exc.start >= len(head) - 3:
            return head[: exc.start].decode("utf-8")
        raise InvalidInputException(
            f"Interactions file {name} is neither UTF-8 CSV nor Parquet (byte {exc.start} is not valid UTF-8); "
            "expected a UTF-8 encoded CSV file with a header row, or a Parquet file."
        ) from None


# ---- Parquet -----------------------------------------------------------------------------------------

class _ParquetReader:
    kind = "Parquet"

    def __init__(self, path: Path):
        self.path = path
        self.name = repr(str(path))

    def where(self, row: int | None) -> str:
        if row is None:
            return f"Interactions file {self.name}"
        return f"Interactions file {self.name}, row {row + 1}"

    def read(self) -> pa.Table:
        try:
            schema = pq.read_schema(self.path)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise InvalidInputException(
                f"Interactions file {self.name} starts like Parquet but is not a readable Parquet file: {exc}"
            ) from None
        present = _check_columns(schema.names, self.name)
        for name in present:
            _check_parquet_type(name, schema.field(name).type, self.name)
        try:
            dictionary_columns = [n for n in present if n == "EVENT_TYPE" and _is_stringlike(schema.field(n).type)]
            table = pq.read_table(self.path, columns=present, read_dictionary=dictionary_columns)
        except Exception as exc:
            raise InvalidInputException(f"Interactions file {self.name} could not be read as Parquet: {exc}") from None
        columns = []
        for name in present:
            col = table.column(name)
            try:
                columns.append(_cast_parquet_column(name, col))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise InvalidInputException(
                    f"Interactions file {self.name}, column {name}: values cannot be converted to "
                    f"{COLUMN_TYPES[name]} ({exc}); expected {EXPECTED[name]}."
                ) from None
        return pa.table(dict(zip(present, columns)))


def _is_stringlike(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or getattr(pa.types, "is_string_view", lambda _: False)(t)


def _check_parquet_type(name: str, t: pa.DataType, file: str) -> None:
    value_type = t.value_type if pa.types.is_dictionary(t) else t
    if name in ("USER_ID", "ITEM_ID", "EVENT_TYPE"):
        ok = _is_stringlike(value_type) or pa.types.is_integer(value_type)
    elif name == "TIMESTAMP":
        ok = pa.types.is_integer(t)
    else:  # EVENT_VALUE
        ok = pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t)
    if not ok:
        raise InvalidInputException(
            f"Interactions file {file}, column {name} has Parquet type {t}; expected "
            + {
                "TIMESTAMP": "an integer (long) column of Unix epoch seconds",
                "EVENT_VALUE": "a numeric (float, double or integer) column",
            }.get(name, "a string column")
            + "."
        )


def _cast_parquet_column(name: str, col: pa.ChunkedArray) -> pa.ChunkedArray:
    target = COLUMN_TYPES[name]
    if col.type == target:
        return col
    if pa.types.is_dictionary(col.type) and not pa.types.is_string(col.type.value_type):
        col = pa.chunked_array([c.dictionary_decode() for c in col.chunks], type=col.type.value_type)
    if pa.types.is_dictionary(target):  # EVENT_TYPE
        if pa.types.is_dictionary(col.type) and pa.types.is_string(col.type.value_type):
            return col.cast(target)
        return pc.dictionary_encode(col.cast(pa.string()))
    return col.cast(target)  # dictionary<string> or integer ids -> string; integer types -> int64; ...


# ---- shared checks ------------------------------------------------------------------------------------

def _check_columns(names: list[str], file: str) -> list[str]:
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        hints = []
        for m in missing:
            near = [n for n in names if n.strip().upper() == m and n != m]
            if near:
                hints.append(f"{near[0]!r} differs from {m} (names are case-sensitive)")
        shown = ", ".join(repr(n) for n in names[:20]) or "no columns"
        raise InvalidInputException(
            f"Interactions file {file} is missing required column(s) {', '.join(missing)}; "
            f"found {shown}{'' if len(names) <= 20 else ', ...'}"
            f"{'; ' + '; '.join(hints) if hints else ''}. "
            f"Required: {', '.join(REQUIRED_COLUMNS)}; optional: {', '.join(OPTIONAL_COLUMNS)}."
        )
    for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
        if names.count(c) > 1:
            raise InvalidInputException(
                f"Interactions file {file} has column {c} {names.count(c)} times; expected it once."
            )
    return [c for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if c in names]


def _first_true(mask: pa.ChunkedArray | pa.Array) -> int:
    """Index of the first true value of a boolean (chunked) array (nulls count as false)."""
    offset = 0
    chunks = mask.chunks if isinstance(mask, pa.ChunkedArray) else [mask]
    for chunk in chunks:
        if pc.any(chunk).as_py():
            values = chunk.fill_null(False).to_numpy(zero_copy_only=False)
            return offset + int(np.flatnonzero(values)[0])
        offset += len(chunk)
    raise ValueError("no true value")


def _check_values(table: pa.Table, reader) -> None:
    """Vectorised checks of required values; the slow parts (finding the row) run only on failure."""
    ts = table.column("TIMESTAMP")
    if ts.null_count:
        row = _first_true(ts.is_null())
        raise InvalidInputException(f"{reader.where(row)}, column TIMESTAMP: the value is empty; expected {EXPECTED['TIMESTAMP']}.")
    if pc.min(ts).as_py() < 0:
        row = _first_true(pc.less(ts, 0))
        raise InvalidInputException(
            f"{reader.where(row)}, column TIMESTAMP: {ts[row].as_py()} is negative; expected {EXPECTED['TIMESTAMP']}."
        )
    for name in ID_COLUMNS:
        col = table.column(name)
        if col.null_count:
            row = _first_true(col.is_null())
            raise InvalidInputException(f"{reader.where(row)}, column {name}: the id is missing (null); expected {EXPECTED[name]}.")
        # Byte lengths come straight from the offsets; the character count is needed only past 256 bytes.
        lengths = pc.binary_length(col)
        lo, hi = pc.min_max(lengths).values()
        if lo.as_py() == 0:
            row = _first_true(pc.equal(lengths, 0))
            raise InvalidInputException(f"{reader.where(row)}, column {name}: the id is empty; expected {EXPECTED[name]}.")
        if hi.as_py() > MAX_ID_LENGTH:
            chars = pc.utf8_length(col)
            if pc.max(chars).as_py() > MAX_ID_LENGTH:
                row = _first_true(pc.greater(chars, MAX_ID_LENGTH))
                raise InvalidInputException(
                    f"{reader.where(row)}, column {name}: the id is {chars[row].as_py()} characters long; "
                    f"expected at most {MAX_ID_LENGTH}."
                )
