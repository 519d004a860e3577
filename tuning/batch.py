"""Batch recommendations (CreateBatchInferenceJob): JSON lines ``{"userId": ...}`` in, one output line per
input line, each ``{"input": ..., "output": {"recommendedItems": [...], "scores": [...]}, "error": null}``.

A bad line gets its own ``error`` instead of failing the whole file; the output file appears atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from hrnn.artifact import LoadedModel, check_num_results
from hrnn.atomic import atomic_write_text
from hrnn.errors import InvalidInputException

CHUNK = 1024


def _parse_line(line: str) -> tuple[dict | None, str | None, str | None]:
    """(input object, user id, error message)."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, None, f"Invalid JSON: {exc.msg} at column {exc.colno}."
    if not isinstance(obj, dict):
        return obj, None, "Each line must be a JSON object like {\"userId\": \"123\"}."
    user = obj.get("userId")
    if isinstance(user, bool) or not isinstance(user, (str, int)) or str(user) == "" or len(str(user)) > 256:
        return obj, None, "userId is required: a non-empty string of at most 256 characters."
    return obj, str(user), None


def run_batch(model: LoadedModel, job_input: str | os.PathLike, job_output: str | os.PathLike,
              num_results: int = 25) -> dict:
    source = Path(job_input)
    if not source.is_file():
        raise InvalidInputException(f"jobInput {str(source)!r} does not exist or is not a file.")
    check_num_results(num_results)
    target = Path(job_output)
    if target.is_dir():
        target = target / f"{source.name}.out"
    lines = [ln for ln in source.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    parsed = [_parse_line(ln) for ln in lines]
    good = [i for i, (_, user, err) in enumerate(parsed) if err is None]
    results: dict[int, dict] = {}
    for lo in range(0, len(good), CHUNK):
        rows = good[lo:lo + CHUNK]
        recs = model.recommend([parsed[i][1] for i in rows], num_results)
        results.update(zip(rows, recs))
    out = []
    for i, (obj, _, err) in enumerate(parsed):
        if err is None:
            items = results[i]["itemList"]
            output = {"recommendedItems": [x["itemId"] for x in items], "scores": [x["score"] for x in items]}
            out.append({"input": obj, "output": output, "error": None})
        else:
            out.append({"input": obj if obj is not None else lines[i], "output": None, "error": err})
    atomic_write_text(target, "".join(json.dumps(o) + "\n" for o in out))
    return {"jobOutput": str(target), "records": len(out), "errors": len(out) - len(good)}
