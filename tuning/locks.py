"""Who works on a record: an advisory lock on ``locks/<kind>/<name>.lock``, held for the whole work.

Why ``flock``: the kernel releases the lock when its holder dies, even by SIGKILL, so "is anyone still
training this version?" is answered by trying the lock, never by guessing from a pid (pids are reused, and
name a process on one host only). On Linux ``/proc/locks`` names the process that holds a lock on a given
inode, so a stop request signals only a process proven to hold this record's lock. On NFS ``flock`` is
carried to the server as a POSIX lock (NFSv4, or v3 with lockd), so two hosts sharing a workspace exclude
each other too; a filesystem without locking is refused with a clear error rather than run unprotected. The
file's content (pid, host, what is worked on) serves the message a refused second worker prints.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
from pathlib import Path

from hrnn.errors import InvalidInputException, ResourceInUseException


class Busy(Exception):
    """Another process holds the lock."""


class RecordLock:
    def __init__(self, path: Path, what: str):
        self.path, self.what = path, what
        self.fd: int | None = None

    def acquire(self, blocking: bool = False) -> "RecordLock":
        """Take the lock; :class:`Busy` when another holds it (or wait for it with ``blocking``)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except OSError as exc:
            holder = describe_holder(fd)
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise Busy(holder) from None
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise InvalidInputException(
                    f"The workspace filesystem does not support file locks ({exc.strerror}) at {str(self.path)!r}; "
                    "use a local directory or a shared filesystem with locking (NFSv4).") from None
            raise
        self.fd = fd
        return self

    def acquire_or_refuse(self) -> "RecordLock":
        """Take the lock, or ResourceInUse saying who holds it."""
        try:
            return self.acquire()
        except Busy as busy:
            raise ResourceInUseException(f"{self.what} is being worked on{busy.args[0]}; wait for it to finish "
                                         "or stop it first.") from None

    def record(self, **info) -> None:
        """Say in the file who holds the lock (for messages, and to match a holder to its work)."""
        if self.fd is None:
            return
        data = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), **info})
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

    def __enter__(self) -> "RecordLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def is_held(path: Path) -> bool:
    """Whether a process holds the lock now (tried without waiting, and released at once)."""
    if not path.exists():
        return False
    try:
        RecordLock(path, "").acquire().release()
    except Busy:
        return True
    return False


def holder_pid(path: Path) -> int | None:
    """The process holding the flock on ``path``, as ``/proc/locks`` says (Linux; None elsewhere, or when
    the holder is on another host or in another pid namespace)."""
    try:
        info = os.stat(path)
        with open("/proc/locks", encoding="ascii") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    inode = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    for line in lines:
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == inode and fields[4].isdigit():
            return int(fields[4])
    return None


def read_holder(path: Path) -> dict:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def describe_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return ""
    if not isinstance(info, dict) or not info.get("pid"):
        return ""
    return f" (pid {info.get('pid')} on {info.get('host')})"
