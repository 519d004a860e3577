"""Reading what a user, or anyone who can write to a workspace, controls: a regular file only (a FIFO or a
device never blocks or floods the reader), never more than a cap, and strict JSON (no ``NaN``/``Infinity``,
which Python's parser accepts and its writer echoes, but no other JSON reader does)."""

from __future__ import annotations

import json
import os
import re
import stat

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')


def read_regular_file(path: str | os.PathLike, limit: int) -> bytes | None:
    """Up to ``limit + 1`` bytes of a regular file; None for anything else (a FIFO, a device, a directory).
    Opened without blocking and checked on the open descriptor, so a FIFO never hangs the reader."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number (JSON has no NaN or Infinity)")


def strict_json(text: str | bytes):
    """``json.loads`` that refuses NaN and Infinity (ValueError, like any malformed JSON)."""
    return json.loads(text, parse_constant=refuse_constant)


def nesting_depth(text: str) -> int:
    """How deeply JSON brackets nest in ``text``, outside strings (a linear scan, no recursion): checked
    before parsing, since Python's parser recurses and hits its limit near 1000 levels."""
    deepest = depth = 0
    for token in re.finditer(r"[\[\]{}]", _STRINGS.sub("", text)):
        depth += 1 if token.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest
