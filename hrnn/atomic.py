"""Atomic file writes: write beside the target, then rename over it, so a reader (or a crash) never sees a
half-written file and what was there before survives a failure. No torch import: the CLI's quick
commands use this too.

The file gets the mode an ordinary ``open(path, "w")`` would give it (``0o666`` less the umask), not
``mkstemp``'s private ``0o600``: a workspace shared by a group (or read by other nodes of a cluster) must
stay readable to them when the umask says so.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def current_umask() -> int:
    """The process's umask, read without changing it (``/proc``), else by setting and restoring it."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[str]:
    """Yield a temporary path in the target's directory; on success it replaces ``path``.

    ``overwrite=False`` publishes with a hard link instead of a rename, so an existing ``path`` (created
    in the meantime, by anyone) is never replaced: ``FileExistsError`` is raised and the temporary file
    is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    finally:
        os.close(fd)
    try:
        yield tmp
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | os.PathLike, text: str, *, overwrite: bool = True) -> None:
    with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")
