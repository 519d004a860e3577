"""Batch recommendations (CreateBatchInferenceJob): JSON lines ``{"userId": ...}`` in, one output line per
input line, each ``{"input": ..., "output": {"recommendedItems": [...], "scores": [...]}, "error": null}``.

A bad line (malformed or non-standard JSON such as ``NaN``, a number too long to read, nesting too deep, no
usable userId) gets its own ``error`` instead of failing the whole file. The output appears atomically, and
only as a new regular file or, with ``overwrite``, in place of an existing regular file: a device, FIFO,
symlink or directory entry named as the output is refused, never replaced.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

from hrnn.artifact import LoadedModel, check_num_results
from hrnn.atomic import atomic_write_text
from hrnn.errors import InvalidInputException, ResourceAlreadyExistsException

from .files import nesting_depth, read_regular_file, strict_json
from .workspace import storage_error

CHUNK = 1024
MAX_INPUT_BYTES = 1 << 30
MAX_LINE_DEPTH = 32


def _parse_line(line: str) -> tuple[object, str | None, str | None]:
    """(input object, user id, error message)."""
    if line.count("[") + line.count("{") > MAX_LINE_DEPTH and nesting_depth(line) > MAX_LINE_DEPTH:
        return line[:200], None, f"Invalid JSON: nested more than {MAX_LINE_DEPTH} levels deep."
    try:
        obj = strict_json(line)
    except json.JSONDecodeError as exc:
        return line[:1000], None, f"Invalid JSON: {exc.msg} at column {exc.colno}."
    except (ValueError, RecursionError) as exc:  # NaN/Infinity, an integer too long to read
        return line[:1000], None, f"Invalid JSON: {str(exc)[:200]}."
    if not isinstance(obj, dict):
        return obj, None, "Each line must be a JSON object like {\"userId\": \"123\"}."
    user = obj.get("userId")
    if isinstance(user, bool) or not isinstance(user, (str, int)) or str(user) == "" or len(str(user)) > 256:
        return obj, None, "userId is required: a non-empty string of at most 256 characters."
    return obj, str(user), None


def check_output(source: Path, job_output: str, overwrite: bool) -> Path:
    """The output file: ``job_output``, or ``<input name>.out`` inside it when it is a directory. Refused
    (before any work): a target that is not a regular file, or an existing one without ``overwrite``, or
    one whose directory does not exist."""
    target = Path(job_output)
    try:
        if target.is_dir() and not target.is_symlink():
            target = target / f"{source.name}.out"
        info = os.lstat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise storage_error(exc, f"use jobOutput {job_output!r}") from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
        raise InvalidInputException(f"jobOutput {str(target)!r} is {kind}; name a new file (or an existing "
                                    "regular file with --overwrite).")
    if info is not None and not overwrite:
        raise ResourceAlreadyExistsException(
            f"jobOutput {str(target)!r} already exists; pass --overwrite to replace it, or name a new file.")
    if not target.parent.is_dir():
        raise InvalidInputException(f"jobOutput {str(target)!r}: the directory {str(target.parent)!r} does not exist.")
    return target


def _read_lines(source: Path) -> list[str]:
    try:
        data = read_regular_file(source, MAX_INPUT_BYTES)
    except FileNotFoundError:
        raise InvalidInputException(f"jobInput {str(source)!r} does not exist.") from None
    except OSError as exc:
        raise storage_error(exc, f"read jobInput {str(source)!r}") from None
    if data is None:
        raise InvalidInputException(f"jobInput {str(source)!r} is not a regular file.")
    if len(data) > MAX_INPUT_BYTES:
        raise InvalidInputException(f"jobInput {str(source)!r} is larger than {MAX_INPUT_BYTES >> 20} MiB.")
    return [ln for ln in data.decode("utf-8", errors="replace").splitlines() if ln.strip()]


def run_batch(model: LoadedModel, job_input: str | os.PathLike, job_output: str | os.PathLike,
              num_results: int = 25, overwrite: bool = False) -> dict:
    source = Path(job_input)
    check_num_results(num_results)
    target = check_output(source, str(job_output), overwrite)
    lines = _read_lines(source)
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
            out.append({"input": obj, "output": None, "error": err})
    _publish(target, "".join(json.dumps(o, allow_nan=False) + "\n" for o in out), overwrite)
    return {"jobOutput": str(target), "records": len(out), "errors": len(out) - len(good)}


def _publish(target: Path, text: str, overwrite: bool) -> None:
    """Write atomically; without ``overwrite`` never over a file that appeared meanwhile (a hard link
    publishes it), and with it only over a regular file (checked again just before)."""
    try:
        if overwrite:
            info = os.lstat(target) if os.path.lexists(target) else None
            if info is not None and not stat.S_ISREG(info.st_mode):
                raise InvalidInputException(f"jobOutput {str(target)!r} is not a regular file; nothing was written.")
        atomic_write_text(target, text, overwrite=overwrite)
    except FileExistsError:
        raise ResourceAlreadyExistsException(
            f"jobOutput {str(target)!r} appeared while the job ran; nothing was written over it.") from None
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            raise InvalidInputException(f"jobOutput {str(target)!r} cannot be written: {exc.strerror}.") from None
        raise storage_error(exc, f"write jobOutput {str(target)!r}") from None
