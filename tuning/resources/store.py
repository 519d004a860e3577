"""The workspace's records of schemas, dataset groups, datasets, import jobs, campaigns and batch jobs.

Layout (beside ``solutions/``, which :mod:`tuning.workspace` owns)::

    <workspace>/resources/<kind>/<name>.json      one record: {"public": {...}, "private": {...}}
    <workspace>/data/<group>/<TYPE>/<job>.parquet  a dataset's data after import job <job> (immutable)
    <workspace>/staging/<kind>/<name>/             what a job copies in before it reads it
    <workspace>/logs/<kind>/<name>.log             a background job's output

``public`` is what Describe returns (the service's members only); ``private`` is bookkeeping (the request as
given, the data file, a job's process id). Every write is atomic and read-modify-write runs under one lock
per process, so a reader never sees half a record. Names reach here only after :mod:`.arns` or the model's
``Name`` pattern checked them, so no path built here leaves the workspace.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from hrnn.atomic import atomic_write_json
from hrnn.errors import ResourceAlreadyExistsException, ResourceNotFoundException

from ..workspace import damaged, read_json
from . import arns

_LOCK = threading.RLock()
_TITLES = {arns.SCHEMA: "Schema", arns.DATASET_GROUP: "Dataset group", arns.DATASET: "Dataset",
           arns.IMPORT_JOB: "Dataset import job", arns.CAMPAIGN: "Campaign", arns.BATCH_JOB: "Batch inference job"}


@dataclass
class Record:
    kind: str
    name: str
    public: dict
    private: dict = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return arns.arn(self.kind, self.name)


@dataclass(frozen=True)
class Store:
    root: Path  # the workspace root

    def file(self, kind: str, name: str) -> Path:
        return self.root / "resources" / kind / f"{name}.json"

    def data_dir(self, dataset: str) -> Path:
        return self.root / "data" / dataset

    def staging(self, kind: str, name: str) -> Path:
        return self.root / "staging" / kind / name

    def log(self, kind: str, name: str) -> Path:
        return self.root / "logs" / kind / f"{name}.log"

    # ---- records ----------------------------------------------------------------------------------
    def create(self, kind: str, name: str, public: dict, request: dict, **private) -> tuple[Record, bool]:
        """A new record, or the existing one when the same request made it (a retried call); another
        request under the same name is refused, as the service refuses it. Returns (record, created)."""
        with _LOCK:
            path = self.file(kind, name)
            if path.exists():
                existing = self.get(kind, name)
                if existing.private.get("request") == request:
                    return existing, False
                raise ResourceAlreadyExistsException(
                    f"{_TITLES[kind]} {arns.arn(kind, name)} already exists with a different configuration.")
            now = time.time()
            record = Record(kind, name, {**public, "creationDateTime": now, "lastUpdatedDateTime": now},
                            {"request": request, **private})
            self._write(record)
            return record, True

    def get(self, kind: str, name: str) -> Record:
        """The stored record, read as every workspace file is (:func:`tuning.workspace.read_json`): a damaged
        one is ResourceNotFound naming the file, never a traceback."""
        path = self.file(kind, name)
        if not path.exists():
            raise ResourceNotFoundException(f"{_TITLES[kind]} {arns.arn(kind, name)} does not exist.")
        stored = read_json(path)
        if not isinstance(stored.get("public"), dict) or not isinstance(stored.get("private", {}), dict):
            raise damaged(path, "not a resource record")
        return Record(kind, name, stored["public"], stored.get("private", {}))

    def find(self, kind: str, arn: object, member: str | None = None) -> Record:
        """The record an ARN names: InvalidInput for a malformed ARN, ResourceNotFound for a missing one."""
        return self.get(kind, arns.parse(kind, arn, member))

    def update(self, record: Record, public: dict | None = None, private: dict | None = None,
               drop: tuple[str, ...] = ()) -> Record:
        """Merge changes into the stored record (re-read under the lock, so concurrent updates compose)."""
        with _LOCK:
            current = self.get(record.kind, record.name)
            current.public.update(public or {})
            current.private.update(private or {})
            for key in drop:
                current.public.pop(key, None)
            current.public["lastUpdatedDateTime"] = time.time()
            self._write(current)
            return current

    def all(self, kind: str) -> list[Record]:
        """Every record of a kind, oldest first."""
        base = self.root / "resources" / kind
        files = base.rglob("*.json") if base.exists() else ()
        records = []
        for path in files:
            name = path.relative_to(base).with_suffix("").as_posix()
            try:
                records.append(self.get(kind, name))
            except ResourceNotFoundException:
                continue  # removed meanwhile, or not a record
        return sorted(records, key=lambda r: (r.public.get("creationDateTime", 0), r.name))

    def delete(self, record: Record) -> None:
        with _LOCK:
            self.file(record.kind, record.name).unlink(missing_ok=True)
            shutil.rmtree(self.staging(record.kind, record.name), ignore_errors=True)

    def _write(self, record: Record) -> None:
        atomic_write_json(self.file(record.kind, record.name), {"public": record.public, "private": record.private})
