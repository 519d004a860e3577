"""The one store of every resource record: solutions, versions, schemas, dataset groups, datasets, import jobs,
campaigns, batch jobs, event trackers and filters.

Layout under the workspace root::

    solutions/<name>/solution.json                  a solution's record
    solutions/<name>/versions/<id>/describe.json     a solution version's record (its artifacts beside it)
    resources/<kind>/<name>.json                     every other record (a dataset's name is <group>/<TYPE>)
    locks/<kind>/<name>.lock                         held (flock) by the process working on that record
    data/<group>/<TYPE>/...   staging/<kind>/<name>/   logs/<kind>/<name>.log

A record is ``{"public": {...}, "private": {...}}``: ``public`` is what Describe returns (the service's
members only), ``private`` is bookkeeping (the request as given, data files, how a job runs). Every write is
atomic and every read-modify-write runs under one lock (a thread lock and a flock on ``.records.lock``), so
a reader never sees half a record and a job process and the server never lose each other's updates. Names
reach here only after :mod:`tuning.arns` or the model's ``Name`` pattern checked them; :meth:`Store.file`
checks again, so no path built here leaves the workspace. A damaged file is ResourceNotFound naming it, and a
full disk is LimitExceeded, never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from hrnn.atomic import atomic_write_text
from hrnn.errors import (InvalidInputException, LimitExceededException, ResourceAlreadyExistsException,
                         ResourceNotFoundException, ServiceError)

from . import arns
from .files import read_regular_file, strict_json

MAX_JSON_BYTES = 64 * 1024 * 1024
SOLUTION_RECORD, VERSION_RECORD = "solution.json", "describe.json"
_PART = re.compile(rf"{arns.NAME}|{'|'.join(arns.DATASET_TYPES)}")
_THREAD_LOCK = threading.RLock()
_HELD = threading.local()


def storage_error(exc: OSError, action: str) -> ServiceError:
    """An operating-system error while reading or writing, in the service's shape."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return LimitExceededException(f"Cannot {action}: {reason} (the disk or quota is full).")
    return InvalidInputException(f"Cannot {action}: {reason}.")


def damaged(path: Path, detail: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"The workspace file {str(path)!r} is damaged ({detail}); it cannot be used.")


def read_json(path: Path) -> dict:
    """A JSON object from a workspace file; missing, oversized, non-JSON or non-object files are reported."""
    try:
        data = read_regular_file(path, MAX_JSON_BYTES)
    except FileNotFoundError:
        raise ResourceNotFoundException(f"{str(path)!r} does not exist.") from None
    except OSError as exc:
        raise storage_error(exc, f"read {str(path)!r}") from None
    if data is None:
        raise damaged(path, "not a regular file")
    if len(data) > MAX_JSON_BYTES:
        raise damaged(path, "larger than any file this program writes")
    try:
        value = strict_json(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise damaged(path, f"not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(value, dict):
        raise damaged(path, "not a JSON object")
    return value


@dataclass
class Record:
    kind: str
    name: str
    arn: str
    public: dict
    private: dict = field(default_factory=dict)

    @property
    def status(self) -> str | None:
        return self.public.get("status")


def comparable(value):
    """A request with its null members dropped (null means absent), to compare resubmissions."""
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


class Store:
    def __init__(self, root: Path, identity: arns.Identity, identity_file: Path | None = None):
        self.root = root
        self.identity = identity
        self.identity_file = identity_file  # written with the first record: the ARNs' region and account

    # ---- where things are --------------------------------------------------------------------------
    def file(self, kind: str, name: str) -> Path:
        parts = name.split("/")
        if kind not in arns.KINDS or not all(_PART.fullmatch(p) for p in parts) or len(parts) > 2:
            raise ValueError(f"not a record name: {kind} {name!r}")  # a bug: names are checked before this
        if kind == arns.SOLUTION:
            return self.root / "solutions" / name / SOLUTION_RECORD
        if kind == arns.SOLUTION_VERSION:
            return self.root / "solutions" / parts[0] / "versions" / parts[1] / VERSION_RECORD
        return self.root / "resources" / kind / f"{name}.json"

    def lock_file(self, kind: str, name: str) -> Path:
        self.file(kind, name)  # checks the name
        return self.root / "locks" / kind / f"{name}.lock"

    def data_dir(self, dataset: str) -> Path:
        return self.root / "data" / dataset

    def staging(self, kind: str, name: str) -> Path:
        return self.root / "staging" / kind / name

    def log(self, kind: str, name: str) -> Path:
        return self.root / "logs" / kind / f"{name}.log"

    def arn(self, kind: str, name: str) -> str:
        return self.identity.arn(kind, name)

    # ---- records -----------------------------------------------------------------------------------
    def create(self, kind: str, name: str, public: dict, request: dict | None = None,
               **private) -> tuple[Record, bool]:
        """A new record, or the existing one when the same request made it (a retried call); another
        request under the same name is refused, as the service refuses it. Returns (record, created)."""
        with self.updating():
            if self.file(kind, name).exists():
                existing = self.get(kind, name)
                if request is not None and comparable(existing.private.get("request")) == comparable(request):
                    return existing, False
                raise ResourceAlreadyExistsException(
                    f"{arns.TITLES[kind]} {self.arn(kind, name)} already exists"
                    f"{' with a different configuration' if request is not None else ''}.")
            now = time.time()
            record = Record(kind, name, self.arn(kind, name),
                            {**public, "creationDateTime": now, "lastUpdatedDateTime": now},
                            {**({"request": request} if request is not None else {}), **private})
            self._write(record)
            return record, True

    def exists(self, kind: str, name: str) -> bool:
        return self.file(kind, name).exists()

    def get(self, kind: str, name: str) -> Record:
        path = self.file(kind, name)
        if not path.exists():
            raise ResourceNotFoundException(f"{arns.TITLES[kind]} {self.arn(kind, name)} does not exist.")
        stored = read_json(path)
        public, private = stored.get("public"), stored.get("private", {})
        if not isinstance(public, dict) or not isinstance(private, dict) or not isinstance(
                public.get("creationDateTime"), (int, float)):
            raise damaged(path, "not a resource record")
        return Record(kind, name, self.arn(kind, name), public, private)

    def find(self, kind: str, arn: object, member: str | None = None) -> Record:
        """The record an ARN names: InvalidInput for a malformed ARN, ResourceNotFound for a missing one."""
        return self.get(kind, self.identity.parse(kind, arn, member))

    def update(self, record: Record, public: dict | None = None, private: dict | None = None,
               drop: tuple[str, ...] = ()) -> Record:
        """Merge changes into the stored record (re-read under the lock, so concurrent updates compose)."""
        with self.updating():
            current = self.get(record.kind, record.name)
            current.public.update(public or {})
            current.private.update(private or {})
            for key in drop:
                current.public.pop(key, None)
            current.public["lastUpdatedDateTime"] = time.time()
            self._write(current)
            return current

    def all(self, kind: str, under: str | None = None) -> list[Record]:
        """Every readable record of a kind (``under``: of one solution's versions), oldest first."""
        if kind == arns.SOLUTION:
            files = self.root.glob(f"solutions/*/{SOLUTION_RECORD}")
        elif kind == arns.SOLUTION_VERSION:
            files = self.root.glob(f"solutions/{under or '*'}/versions/*/{VERSION_RECORD}")
        else:
            base = self.root / "resources" / kind
            files = base.rglob("*.json") if base.is_dir() else ()
        records = []
        for path in files:
            name = self._name_of(kind, path)
            try:
                records.append(self.get(kind, name))
            except (ResourceNotFoundException, ValueError):
                continue  # removed meanwhile, damaged, or not a record
        return sorted(records, key=lambda r: (r.public["creationDateTime"], r.name))

    def _name_of(self, kind: str, path: Path) -> str:
        if kind == arns.SOLUTION:
            return path.parent.name
        if kind == arns.SOLUTION_VERSION:
            return f"{path.parents[2].name}/{path.parent.name}"
        return path.relative_to(self.root / "resources" / kind).with_suffix("").as_posix()

    def delete(self, record: Record) -> None:
        with self.updating():
            self.file(record.kind, record.name).unlink(missing_ok=True)
            shutil.rmtree(self.staging(record.kind, record.name), ignore_errors=True)

    @contextlib.contextmanager
    def updating(self) -> Iterator[None]:
        """Read-modify-write exclusion across threads and processes (short sections only)."""
        with _THREAD_LOCK:
            if getattr(_HELD, "depth", 0):  # already inside: the flock is ours (a second one would block)
                _HELD.depth += 1
                try:
                    yield
                finally:
                    _HELD.depth -= 1
                return
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.root / ".records.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
                if self.identity_file is not None and not self.identity_file.exists():
                    atomic_write_text(self.identity_file, json.dumps(
                        {"region": self.identity.region, "account": self.identity.account}) + "\n")
            except OSError as exc:
                raise storage_error(exc, f"use the workspace {str(self.root)!r}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                _HELD.depth = 1
                yield
            finally:
                _HELD.depth = 0
                os.close(fd)

    def _write(self, record: Record) -> None:
        text = json.dumps({"public": record.public, "private": record.private}, indent=2, allow_nan=False) + "\n"
        path = self.file(record.kind, record.name)
        try:
            atomic_write_text(path, text)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT) and path.exists():
                _write_in_place(path, json.dumps({"public": record.public, "private": record.private}))
                return
            raise storage_error(exc, f"write {arns.TITLES[record.kind].lower()} {record.arn}") from None


def _write_in_place(path: Path, text: str) -> None:
    """Rewrite an existing file's bytes in place: the last resort when a full disk refuses a new file (the
    file's own blocks are reused), so a status can still say what happened."""
    try:
        with open(path, "r+", encoding="utf-8") as fh:
            fh.write(text)
            fh.truncate()
    except OSError as exc:
        raise storage_error(exc, f"write {str(path)!r}") from None
