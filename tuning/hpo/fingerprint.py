"""The experiment's fingerprint: a resumed experiment must be the same request, seed and epoch cap."""

from __future__ import annotations

import hashlib
import json
import os

from hrnn.errors import InvalidInputException

from ..request import SolutionRequest

FINGERPRINT_NAME = "hrnn_hpo_request.json"  # in the experiment directory: what this experiment was started with


def storage_path(storage: str) -> tuple[str, bool]:
    """(path or URI for Tune, is_local)."""
    if not isinstance(storage, str) or not storage:
        raise InvalidInputException("HPO storage must be a local path or a URI such as s3://bucket/prefix.")
    if "://" in storage and not storage.startswith("file://"):
        return storage.rstrip("/"), False
    path = storage[len("file://"):] if storage.startswith("file://") else storage
    return os.path.abspath(os.path.expanduser(path)), True


def fingerprint(request: SolutionRequest, seed: int, max_epochs: int | None) -> dict:
    hpo = request.hpo
    body = {
        "ranges": [{"name": r.hp.name, "type": r.type, "min": r.min_value, "max": r.max_value,
                    "values": list(r.wire_values)} for r in hpo.ranges],
        "objective": [hpo.objective_metric, hpo.mode],
        "jobs": [hpo.max_number_of_training_jobs, hpo.max_parallel_training_jobs],
        "hyperparameters": request.hyperparameters.to_wire(),
        "seed": seed, "max_epochs": max_epochs,
    }
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    return {"sha256": digest, "request": body}


def filesystem(path: str, storage_filesystem):
    import pyarrow.fs as pafs

    if storage_filesystem is not None:
        return storage_filesystem, path
    return pafs.FileSystem.from_uri(path)


def write_fingerprint(experiment_path: str, storage_filesystem, fingerprint: dict) -> None:
    fs, path = filesystem(experiment_path, storage_filesystem)
    fs.create_dir(path, recursive=True)
    with fs.open_output_stream(f"{path}/{FINGERPRINT_NAME}") as out:
        out.write(json.dumps(fingerprint, indent=1, default=str).encode())


def check_fingerprint(experiment_path: str, storage_filesystem, fingerprint: dict) -> None:
    import pyarrow.fs as pafs

    fs, path = filesystem(experiment_path, storage_filesystem)
    target = f"{path}/{FINGERPRINT_NAME}"
    if fs.get_file_info(target).type == pafs.FileType.NotFound:
        return  # started by something else; trust the caller
    with fs.open_input_stream(target) as f:
        stored = json.loads(f.read().decode())
    if stored.get("sha256") != fingerprint["sha256"]:
        raise InvalidInputException(
            f"The HPO experiment {experiment_path} was started with a different request or seed; it can only be "
            "resumed by the same request. Use another name (or remove that directory) to start a new one.")
