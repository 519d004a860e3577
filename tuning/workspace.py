"""A local workspace that plays the service's control plane: every record in one store, and the files a
solution version makes beside its record.

Layout::

    <workspace>/workspace.json                               the region and account of its ARNs
    <workspace>/solutions/<name>/solution.json                the solution's record (tuning.store)
    <workspace>/solutions/<name>/versions/<id>/describe.json  the version's record (DescribeSolutionVersion)
    <workspace>/solutions/<name>/versions/<id>/metrics.json   GetSolutionMetrics
    <workspace>/solutions/<name>/versions/<id>/trials.json    every trial (and trials.csv)
    <workspace>/solutions/<name>/versions/<id>/model/         the trained model (hrnn.artifact)
    <workspace>/resources/, locks/, data/, staging/, logs/     see tuning.store

Every file is JSON read with checks (a damaged file is reported as such, never as a traceback) and written
atomically with the umask's permissions.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

from hrnn.atomic import atomic_write_json, atomic_write_text
from hrnn.errors import InvalidInputException

from . import arns
from .store import VERSION_RECORD, Store, damaged, read_json, storage_error

DEFAULT_WORKSPACE = "hrnn-workspace"
SOLUTION_VERSION_MEMBERS = (  # botocore's SolutionVersion; tests/test_faults_cli.py checks it against the model
    "name", "solutionVersionArn", "solutionArn", "performHPO", "performAutoML", "performIncrementalUpdate",
    "recipeArn", "eventType", "datasetGroupArn", "solutionConfig", "trainingHours", "trainingMode",
    "tunedHPOParams", "status", "failureReason", "creationDateTime", "lastUpdatedDateTime", "trainingType")
SUMMARY_MEMBERS = ("solutionVersionArn", "status", "trainingMode", "trainingType", "creationDateTime",
                   "lastUpdatedDateTime", "failureReason")


@dataclass(frozen=True)
class VersionFiles:
    """The files a solution version makes beside its record. Only this class spells their names."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def solution(self) -> str:
        return self.path.parent.parent.name

    @property
    def key(self) -> str:  # the version's record name
        return f"{self.solution}/{self.id}"

    @property
    def describe(self) -> Path:  # the record (tuning.store writes it)
        return self.path / VERSION_RECORD

    @property
    def metrics(self) -> Path:  # GetSolutionMetrics
        return self.path / "metrics.json"

    @property
    def trials_json(self) -> Path:
        return self.path / "trials.json"

    @property
    def trials_csv(self) -> Path:
        return self.path / "trials.csv"

    @property
    def report(self) -> Path:
        return self.path / "report.html"

    @property
    def model(self) -> Path:  # the trained model directory (hrnn.artifact)
        return self.path / "model"

    @property
    def best_trial_model(self) -> Path:  # an HPO's best trial's own model, when the refit's model is served
        return self.path / "best_trial_model"

    @property
    def checkpoint(self) -> Path:  # a single model's (or the HPO's refit's) training checkpoints while it trains
        return self.path / "checkpoint"

    @property
    def tune_storage(self) -> Path:  # the HPO experiments when no --storage is given
        return self.path / "ray"

    def exists(self) -> bool:
        return self.describe.exists()

    def read_describe(self) -> dict:
        """DescribeSolutionVersion's members (the record's public part)."""
        described = read_json(self.describe).get("public")
        if not isinstance(described, dict) or not isinstance(described.get("status"), str) or not isinstance(
                described.get("creationDateTime"), (int, float)):
            raise damaged(self.describe, "no solution version with a status and a creationDateTime")
        return described

    def read_metrics(self) -> dict:
        return read_json(self.metrics)

    def write_metrics(self, arn: str, metrics: dict) -> None:
        atomic_write_json(self.metrics, {"solutionVersionArn": arn, "metrics": metrics})

    def read_trials(self) -> list[dict]:
        trials = read_json(self.trials_json).get("trials") if self.trials_json.exists() else None
        return [t for t in trials if isinstance(t, dict)] if isinstance(trials, list) else []

    def write_trials(self, trials: list[dict]) -> None:
        """trials.json (every field) and trials.csv (one row per trial, without the per-epoch history)."""
        atomic_write_json(self.trials_json, {"trials": trials})
        columns = [k for k in trials[0] if k != "history"] if trials else []
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(trials)
        atomic_write_text(self.trials_csv, buffer.getvalue())


def _workspace_root(root: str | os.PathLike | None) -> Path:
    given = str(root) if root is not None else os.environ.get("HRNN_WORKSPACE") or DEFAULT_WORKSPACE
    where = "--workspace" if root is not None else ("HRNN_WORKSPACE" if os.environ.get("HRNN_WORKSPACE") else
                                                   "the default workspace")
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", given) and not given.startswith("file://"):
        raise InvalidInputException(
            f"{where} {given!r} is a URI; the workspace must be a directory (a shared filesystem mounted "
            "locally works, with its locks). Ray Tune's storage can be a URI: --storage.")
    path = Path(given[len("file://"):] if given.startswith("file://") else given).expanduser()
    try:
        path = Path(os.path.realpath(path, strict=False))
    except (OSError, RuntimeError, ValueError) as exc:
        raise InvalidInputException(f"{where} {given!r} cannot be resolved: {exc}.") from None
    if path.exists() and not path.is_dir():
        raise InvalidInputException(f"{where} {given!r} is not a directory.")
    return path


IDENTITY_FILE = "workspace.json"


def default_identity(region: str | None = None, account: str | None = None, environ=os.environ) -> arns.Identity:
    """The region (``--region``, ``AWS_REGION``, ``AWS_DEFAULT_REGION``, else us-east-1) and account
    (``--account-id``, ``HRNN_ACCOUNT_ID``, else 000000000000) of a new workspace's ARNs."""
    return arns.Identity.checked(
        region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or arns.DEFAULT_REGION,
        account or environ.get("HRNN_ACCOUNT_ID") or arns.DEFAULT_ACCOUNT)


def _identity(root: Path, region: str | None, account: str | None) -> arns.Identity:
    """A workspace's identity: the one it was created with (settings that disagree are refused: its records'
    ARNs name it), else the settings' (written with the first record)."""
    path = root / IDENTITY_FILE
    if not path.exists():
        return default_identity(region, account)
    stored = read_json(path)
    try:
        identity = arns.Identity.checked(stored.get("region"), stored.get("account"))
    except InvalidInputException:
        raise damaged(path, "no region and account") from None
    for given, have, option in ((region, identity.region, "--region"), (account, identity.account, "--account-id")):
        if given is not None and given != have:
            raise InvalidInputException(
                f"{option} {given!r} differs from the workspace's {have!r} ({str(path)!r}): its resources' ARNs "
                f"name {have!r}. Use another workspace for another region or account.")
    return identity


@dataclass
class Workspace:
    root: Path
    identity: arns.Identity = arns.Identity()

    def __post_init__(self):
        self.store = Store(self.root, self.identity, self.root / IDENTITY_FILE)

    @classmethod
    def at(cls, root: str | os.PathLike | None, region: str | None = None,
           account: str | None = None) -> "Workspace":
        path = _workspace_root(root)
        return cls(path, _identity(path, region, account))

    def ensure(self) -> None:
        """Create the workspace's directories (before the first write), with a service error on failure."""
        try:
            (self.root / "solutions").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(exc, f"create the workspace {str(self.root)!r}") from None

    def version(self, solution: str, version_id: str) -> VersionFiles:
        return VersionFiles(self.root / "solutions" / solution / "versions" / version_id)

    def version_files(self, key: str) -> VersionFiles:
        """The files of the version whose record name is ``<solution>/<id>``."""
        return self.version(*key.split("/"))

    def resolve_version(self, arn: str) -> VersionFiles:
        """The files of an existing version (ResourceNotFound otherwise)."""
        return self.version_files(self.store.find(arns.SOLUTION_VERSION, arn).name)

    def versions(self, solution: str) -> list[VersionFiles]:
        """The solution's readable versions, oldest first (a damaged one is left out)."""
        return [self.version_files(r.name) for r in self.store.all(arns.SOLUTION_VERSION, under=solution)]

    def solution_names(self) -> list[str]:
        return sorted(r.name for r in self.store.all(arns.SOLUTION))


def version_summary(described: dict) -> dict:
    """A SolutionVersionSummary of a DescribeSolutionVersion."""
    return {k: described[k] for k in SUMMARY_MEMBERS if described.get(k) is not None}


def describe_members(described: dict) -> dict:
    """DescribeSolutionVersion's members only."""
    return {k: v for k, v in described.items() if k in SOLUTION_VERSION_MEMBERS}

