"""Reading Interactions files: formats, column handling, and one clear InvalidInputException per bad input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import hrnn.data.interactions as hio
from hrnn.data import DataConfig, load_interactions
from hrnn.errors import InvalidInputException
from hrnn.data.interactions import read_interactions

HEADER = "USER_ID,ITEM_ID,TIMESTAMP\n"


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def strings(table: pa.Table, name: str) -> list:
    return table.column(name).cast(pa.string()).to_pylist()


def rejected(path: Path, *fragments: str) -> str:
    """Read ``path`` expecting an InvalidInputException whose message names the file and the fragments."""
    with pytest.raises(InvalidInputException) as info:
        read_interactions(path)
    message = info.value.message
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert info.value.to_dict()["__type"] == "InvalidInputException"
    return message


# ---- good input -------------------------------------------------------------------------------------

def test_csv_columns_any_order_extras_ignored_ids_stay_strings(tmp_path):
    path = write(
        tmp_path, "a.csv",
        'EVENT_VALUE,extra,TIMESTAMP,"ITEM_ID", USER_ID ,EVENT_TYPE,extra\n'
        "1.5,x,100,007,0042,click,y\n"
        ",z,101,7,42,purchase,w\n"
        "3,q,102,1e5,00,click,v\n",
    )
    table = read_interactions(path)
    assert table.column_names == ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"]
    assert strings(table, "USER_ID") == ["0042", "42", "00"]
    assert strings(table, "ITEM_ID") == ["007", "7", "1e5"]
    assert table.column("TIMESTAMP").to_pylist() == [100, 101, 102]
    assert table.column("TIMESTAMP").type == pa.int64()
    assert strings(table, "EVENT_TYPE") == ["click", "purchase", "click"]
    assert table.column("EVENT_VALUE").to_pylist() == [1.5, None, 3.0]


def test_csv_without_optional_columns_and_with_quotes_bom_crlf(tmp_path):
    path = write(tmp_path, "b.csv", b'\xef\xbb\xbf"TIMESTAMP","USER_ID","ITEM_ID"\r\n5,"u,1","i 1"\r\n6,u2,i2\r\n')
    table = read_interactions(path)
    assert table.column_names == ["USER_ID", "ITEM_ID", "TIMESTAMP"]
    assert strings(table, "USER_ID") == ["u,1", "u2"]
    assert strings(table, "ITEM_ID") == ["i 1", "i2"]


def test_parquet_any_order_extras_and_numeric_ids(tmp_path):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({
        "extra": [1, 2],
        "TIMESTAMP": pa.array([10, 11], pa.int32()),
        "ITEM_ID": ["007", "i2"],
        "USER_ID": pa.array([42, 7], pa.int64()),
        "EVENT_VALUE": pa.array([1, None], pa.int64()),
    }), path)
    table = read_interactions(path)
    assert table.column_names == ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_VALUE"]
    assert strings(table, "USER_ID") == ["42", "7"]
    assert strings(table, "ITEM_ID") == ["007", "i2"]
    assert table.column("TIMESTAMP").to_pylist() == [10, 11]
    assert table.column("EVENT_VALUE").to_pylist() == [1.0, None]


def test_format_sniffed_from_content_and_gzip_csv(tmp_path):
    parquet_named_csv = tmp_path / "really_parquet.csv"
    pq.write_table(pa.table({"USER_ID": ["u"], "ITEM_ID": ["i"], "TIMESTAMP": [1]}), parquet_named_csv)
    assert strings(read_interactions(parquet_named_csv), "USER_ID") == ["u"]
    gz = tmp_path / "a.csv.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write(HEADER + "u1,007,5\n")
    table = read_interactions(gz)
    assert strings(table, "ITEM_ID") == ["007"] and table.column("TIMESTAMP").to_pylist() == [5]


# ---- bad input --------------------------------------------------------------------------------------

def test_missing_required_column(tmp_path):
    message = rejected(write(tmp_path, "m.csv", "USER_ID,TIMESTAMP,EVENT_TYPE\nu,1,click\n"), "ITEM_ID", "missing")
    assert "USER_ID, ITEM_ID, TIMESTAMP" in message  # says what is required
    rejected(write(tmp_path, "case.csv", "user_id,ITEM_ID,TIMESTAMP\nu,i,1\n"), "USER_ID", "'user_id'", "case")
    path = tmp_path / "m.parquet"
    pq.write_table(pa.table({"USER_ID": ["u"], "ITEM_ID": ["i"]}), path)
    rejected(path, "TIMESTAMP", "missing")


def test_duplicate_required_column(tmp_path):
    rejected(write(tmp_path, "d.csv", "USER_ID,ITEM_ID,TIMESTAMP,USER_ID\nu,i,1,v\n"), "USER_ID", "2 times")


@pytest.mark.parametrize("value, what", [("abc", "not an integer"), ("1.5", "not an integer"),
                                         ("NULL", "not an integer"), ("99999999999999999999", "out of range")])
def test_non_integer_timestamp_in_csv_names_row_and_line(tmp_path, value, what):
    path = write(tmp_path, "t.csv", HEADER + "u1,i1,100\nu1,i2,101\n" + f"u1,i3,{value}\n" + "u1,i4,103\n")
    message = rejected(path, "row 3 (line 4)", "TIMESTAMP", repr(value), what, "epoch seconds")
    assert "Traceback" not in message


def test_row_and_line_numbers_count_blank_lines_and_blocks(tmp_path, monkeypatch):
    # Small blocks force the reader to work through many chunks; blank lines are skipped as rows but
    # still count as lines.
    monkeypatch.setattr(hio, "_CSV_BLOCK_SIZE", 256)
    lines = [HEADER.strip()]
    for k in range(200):
        lines.append(f"user{k % 7},item{k % 13},{1000 + k}")
        if k % 10 == 9:
            lines.append("")
    bad_row = 150  # 1-based data row
    seen = 0
    for line_no, text in enumerate(lines[1:], start=2):
        if text:
            seen += 1
            if seen == bad_row:
                lines[line_no - 1] = text.rsplit(",", 1)[0] + ",12x"
                bad_line = line_no
                break
    path = write(tmp_path, "blocks.csv", "\n".join(lines) + "\n")
    rejected(path, f"row {bad_row} (line {bad_line})", "'12x'", "TIMESTAMP")


def test_float_timestamp_column_in_parquet(tmp_path):
    path = tmp_path / "f.parquet"
    pq.write_table(pa.table({"USER_ID": ["u", "v"], "ITEM_ID": ["i", "j"], "TIMESTAMP": [1.0, 2.5]}), path)
    rejected(path, "TIMESTAMP", "double", "integer")


def test_negative_and_empty_timestamp(tmp_path):
    rejected(write(tmp_path, "n.csv", HEADER + "u1,i1,100\nu2,i1,-5\n"), "row 2 (line 3)", "TIMESTAMP", "-5",
             "negative")
    rejected(write(tmp_path, "e.csv", HEADER + "u1,i1,100\nu1,i1,101\nu2,i1,\n"), "row 3 (line 4)", "TIMESTAMP",
             "empty")
    path = tmp_path / "n.parquet"
    pq.write_table(pa.table({"USER_ID": ["u", "v"], "ITEM_ID": ["i", "j"], "TIMESTAMP": [1, -2]}), path)
    message = rejected(path, "row 2", "TIMESTAMP", "negative")
    assert "line" not in message  # Parquet has no lines


def test_empty_and_header_only_files(tmp_path):
    rejected(write(tmp_path, "zero.csv", b""), "empty", "0 bytes")
    rejected(write(tmp_path, "header.csv", HEADER), "header but no data rows")
    rejected(write(tmp_path, "header_no_newline.csv", HEADER.strip()), "header but no data rows")
    rejected(write(tmp_path, "blank.csv", "\n\n  \n"), "no header row")
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"USER_ID": pa.array([], pa.string()), "ITEM_ID": pa.array([], pa.string()),
                             "TIMESTAMP": pa.array([], pa.int64())}), path)
    rejected(path, "has no rows")


def test_files_that_are_neither_csv_nor_parquet(tmp_path):
    rng = np.random.default_rng(0)
    noise = bytes(rng.integers(0, 256, 500, dtype=np.uint8)) + b"\x00"
    rejected(write(tmp_path, "noise.csv", noise), "neither CSV nor Parquet")
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(20)
    rejected(write(tmp_path, "image.csv", png), "neither CSV nor Parquet", "PNG")
    rejected(write(tmp_path, "png_head.csv", b"\x89PNG\r\n\x1a\n"), "neither")
    doc = json.dumps([{"USER_ID": "u", "ITEM_ID": "i", "TIMESTAMP": 1}])
    rejected(write(tmp_path, "doc.json", doc), "neither CSV nor Parquet", "JSON")
    rejected(write(tmp_path, "lines.jsonl", '{"USER_ID": "u", "ITEM_ID": "i", "TIMESTAMP": 1}\n'), "JSON")
    rejected(write(tmp_path, "prose.txt", "hello world\nthis is text\n"), "neither", "header")
    rejected(write(tmp_path, "tabs.csv", "USER_ID\tITEM_ID\tTIMESTAMP\nu\ti\t1\n"), "tab-separated", "comma")
    rejected(write(tmp_path, "utf16.csv", (HEADER + "u,i,1\n").encode("utf-16")), "UTF-16")
    rejected(write(tmp_path, "latin1.csv", (HEADER + "u\xe9,i,1\n").encode("latin-1")), "UTF-8")
    rejected(write(tmp_path, "bad.parquet", b"PAR1 this is not really parquet"), "Parquet")


def test_invalid_utf8_after_the_sniffed_prefix(tmp_path):
    good = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n" + "".join(f"u{k},i{k},{k},click\n" for k in range(10_000))
    data = good.encode() + "u1,caf\xe9,5,click\n".encode("latin-1") + b"u2,i2,6,click\n"
    rejected(write(tmp_path, "late.csv", data), "row 10001 (line 10002)", "ITEM_ID", "UTF-8")


def test_missing_path_and_directory(tmp_path):
    rejected(tmp_path / "nope.csv", "does not exist")
    with pytest.raises(InvalidInputException, match="not a file"):
        read_interactions(tmp_path)


@pytest.mark.parametrize("row, column", [(",i1,101\n", "USER_ID"), ('u1,"",101\n', "ITEM_ID")])
def test_empty_ids_rejected_with_row(tmp_path, row, column):
    path = write(tmp_path, "ids.csv", HEADER + "u1,i1,100\n" + row + "u2,i2,102\n")
    rejected(path, "row 2 (line 3)", column, "empty")


def test_empty_and_null_ids_in_parquet(tmp_path):
    path = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"USER_ID": ["u", "v", "w"], "ITEM_ID": ["i", "j", ""], "TIMESTAMP": [1, 2, 3]}), path)
    rejected(path, "row 3", "ITEM_ID", "empty")
    pq.write_table(pa.table({"USER_ID": ["u", None], "ITEM_ID": ["i", "j"], "TIMESTAMP": [1, 2]}), path)
    rejected(path, "row 2", "USER_ID", "missing")


def test_overlong_id_rejected(tmp_path):
    rejected(write(tmp_path, "long.csv", HEADER + "u1,i1,1\nu1," + "x" * 257 + ",2\n"), "row 2", "ITEM_ID",
             "257 characters", "256")


def test_non_numeric_event_value(tmp_path):
    path = write(tmp_path, "v.csv", "USER_ID,ITEM_ID,TIMESTAMP,EVENT_VALUE\nu,i,1,2.5\nu,i,2,\nu,i,3,high\n")
    rejected(path, "row 3 (line 4)", "EVENT_VALUE", "'high'", "not a number")
    path = tmp_path / "v.parquet"
    pq.write_table(pa.table({"USER_ID": ["u"], "ITEM_ID": ["i"], "TIMESTAMP": [1], "EVENT_VALUE": ["high"]}), path)
    rejected(path, "EVENT_VALUE", "string", "numeric")


def test_wrong_number_of_fields(tmp_path):
    rejected(write(tmp_path, "f.csv", HEADER + "u1,i1,1\nu1,i1\n"), "row 2 (line 3)", "2 fields", "expected 3")


def test_errors_write_nothing(tmp_path):
    path = write(tmp_path, "bad.csv", HEADER + "u1,i1,abc\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(InvalidInputException):
        load_interactions(path, DataConfig())
    assert sorted(p.name for p in tmp_path.iterdir()) == before
