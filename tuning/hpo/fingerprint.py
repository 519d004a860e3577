"""Where an experiment lives, and its fingerprint: a resumed experiment must be the same request, seed, epoch
cap and early-stopping rule."""

from __future__ import annotations

import hashlib
import json
import os

from hrnn.errors import InvalidInputException

from ..request import SolutionRequest

STORAGE_SCHEMES = ("s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss", "file")


def storage_path(storage: str) -> tuple[str, bool]:
    """(path or URI for Tune, is_local). A scheme pyarrow does not know is refused here, before anything
    starts, rather than deep inside Tune."""
    if not isinstance(storage, str) or not storage.strip():
        raise InvalidInputException("HPO storage must be a local path or a URI such as s3://bucket/prefix.")
    if "://" in storage and not storage.startswith("file://"):
        scheme = storage.split("://", 1)[0].lower()
        if scheme not in STORAGE_SCHEMES:
            raise InvalidInputException(
                f"--storage {storage!r}: unknown scheme {scheme!r}; expected a local directory or a URI with one "
                f"of {', '.join(s + '://' for s in STORAGE_SCHEMES)}.")
        return storage.rstrip("/"), False
    path = storage[len("file://"):] if storage.startswith("file://") else storage
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.exists(path) and not os.path.isdir(path):
        raise InvalidInputException(f"--storage {storage!r} is not a directory.")
    return path, True


def fingerprint(request: SolutionRequest, seed: int, max_epochs: int | None, early_stopping=None) -> str:
    """A digest of what the trials' results depend on. Without early stopping it is the digest experiments
    had before early stopping existed, so those still resume."""
    hpo = request.hpo
    body = {
        "ranges": [{"name": r.hp.name, "type": r.type, "min": r.min_value, "max": r.max_value,
                    "values": list(r.wire_values)} for r in hpo.ranges],
        "objective": [hpo.objective_metric, hpo.mode],
        "jobs": [hpo.max_number_of_training_jobs, hpo.max_parallel_training_jobs],
        "hyperparameters": request.hyperparameters.to_wire(),
        "seed": seed, "max_epochs": max_epochs,
    }
    if early_stopping is not None:
        body["early_stopping"] = early_stopping.to_dict()
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def filesystem(path: str, storage_filesystem):
    """(pyarrow filesystem, path on it) of a local path or URI."""
    import pyarrow.fs as pafs

    if storage_filesystem is not None:
        return storage_filesystem, path
    if "://" not in path:
        return pafs.LocalFileSystem(), path
    return pafs.FileSystem.from_uri(path)
