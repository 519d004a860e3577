"""One solution version trains at a time per solution: an advisory lock on ``<solution>/lock``.

Why ``flock``: the lock is released by the kernel when its holder dies, even by SIGKILL, so a killed run
can be resumed at once without guessing from a pid whether it is still alive, and a pid names a process on
one host only. On Linux ``flock`` on NFS is carried as a POSIX lock to the server (NFSv4, or v3 with lockd),
so two hosts sharing a workspace exclude each other too; a filesystem without locking support is refused
with a clear error rather than run unprotected. The file's content (pid, host, version) only serves the
message a refused second run prints.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
from pathlib import Path

from hrnn.errors import InvalidInputException, ResourceInUseException


class SolutionLock:
    def __init__(self, path: Path, solution_arn: str):
        self.path, self.solution_arn = path, solution_arn
        self.fd: int | None = None

    def acquire(self) -> "SolutionLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _holder(fd)
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise ResourceInUseException(
                    f"Solution {self.solution_arn} has a solution version in progress{holder}; wait for it to "
                    "finish or stop it before creating another.") from None
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise InvalidInputException(
                    f"The workspace filesystem does not support file locks ({exc.strerror}) at {str(self.path)!r}; "
                    "use a local directory or a shared filesystem with locking (NFSv4).") from None
            raise
        self.fd = fd
        return self

    def record(self, version_arn: str) -> None:
        """Say in the file who holds the lock (for the message of a refused run)."""
        if self.fd is None:
            return
        data = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "solutionVersionArn": version_arn})
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data.encode(), 0)

    def release(self) -> None:
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
            except OSError:
                pass
            os.close(self.fd)  # closing the descriptor releases the lock
            self.fd = None

    def __enter__(self) -> "SolutionLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return ""
    if not isinstance(info, dict) or not info.get("solutionVersionArn"):
        return ""
    return f" ({info['solutionVersionArn']}, pid {info.get('pid')} on {info.get('host')})"
