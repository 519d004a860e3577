"""Batch recommendations (CreateBatchInferenceJob): JSON lines ``{"userId": ...}`` in, one output line per
input line, each ``{"input": ..., "output": {"recommendedItems": [...], "scores": [...]}, "error": null}``.

A bad line (malformed or non-standard JSON such as ``NaN``, a number too long to read, nesting too deep, no
usable userId) gets its own ``error`` instead of failing the whole file; its ``input`` then echoes at most a
short prefix of the line, with control characters escaped, so a batch job cannot copy a file it was pointed
at into its output. Where the output goes, and that it appears atomically, is :mod:`tuning.locations`' job.
"""

from __future__ import annotations

import json
from pathlib import Path

from .files import nesting_depth, strict_json

CHUNK = 1024
MAX_INPUT_BYTES = 1 << 30
MAX_LINE_DEPTH = 32
ECHO_CHARACTERS = 24  # of a line that is not a usable request


def echo(line: str) -> str:
    """A bounded, printable prefix of a bad line."""
    head = "".join(c if c.isprintable() else f"\\x{ord(c) & 0xff:02x}" for c in line[:ECHO_CHARACTERS])
    return head + (f"... ({len(line) - ECHO_CHARACTERS:,} more characters)" if len(line) > ECHO_CHARACTERS else "")


def _parse_line(line: str) -> tuple[object, str | None, str | None]:
    """(input object, user id, error message)."""
    if line.count("[") + line.count("{") > MAX_LINE_DEPTH and nesting_depth(line) > MAX_LINE_DEPTH:
        return echo(line), None, f"Invalid JSON: nested more than {MAX_LINE_DEPTH} levels deep."
    try:
        obj = strict_json(line)
    except json.JSONDecodeError as exc:
        return echo(line), None, f"Invalid JSON: {exc.msg} at column {exc.colno}."
    except (ValueError, RecursionError) as exc:  # NaN/Infinity, an integer too long to read
        return echo(line), None, f"Invalid JSON: {str(exc)[:200]}."
    if not isinstance(obj, dict):
        return echo(line), None, "Each line must be a JSON object like {\"userId\": \"123\"}."
    user = obj.get("userId")
    if isinstance(user, bool) or not isinstance(user, (str, int)) or str(user) == "" or len(str(user)) > 256:
        return echo(line), None, "userId is required: a non-empty string of at most 256 characters."
    return obj, str(user), None


def score_file(model, source: Path, target: Path, num_results: int = 25, masks_for=None) -> dict:
    """Score every line of ``source`` (a local copy) into ``target``; return the counts. ``masks_for``
    (optional): the lines' input objects -> [lines, items] allowed items (a filter; a line may carry its own
    ``filterValues``)."""
    from hrnn.artifact import check_num_results

    check_num_results(num_results)
    data = source.read_bytes()
    lines = [ln for ln in data.decode("utf-8", errors="replace").splitlines() if ln.strip()]
    parsed = [_parse_line(ln) for ln in lines]
    good = [i for i, (_, user, err) in enumerate(parsed) if err is None]
    results: dict[int, dict] = {}
    for lo in range(0, len(good), CHUNK):
        rows = good[lo:lo + CHUNK]
        masks = None if masks_for is None else masks_for([parsed[i][0] for i in rows])
        recs = model.recommend([parsed[i][1] for i in rows], num_results, masks=masks)
        results.update(zip(rows, recs))
    with open(target, "w", encoding="utf-8") as out:
        for i, (obj, _, err) in enumerate(parsed):
            if err is None:
                items = results[i]["itemList"]
                output = {"recommendedItems": [x["itemId"] for x in items], "scores": [x["score"] for x in items]}
                out.write(json.dumps({"input": obj, "output": output, "error": None}, allow_nan=False) + "\n")
            else:
                out.write(json.dumps({"input": obj, "output": None, "error": err}) + "\n")
    return {"records": len(parsed), "errors": len(parsed) - len(good)}
