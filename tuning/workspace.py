"""A local workspace that plays the service's control plane: solutions and solution versions on disk.

Layout::

    <workspace>/solutions/<name>/solution.json                DescribeSolution ("solution": {...})
    <workspace>/solutions/<name>/request.json                 the CreateSolution request as given
    <workspace>/solutions/<name>/lock                         held while a version of the solution trains
    <workspace>/solutions/<name>/versions/<id>/describe.json  DescribeSolutionVersion
    <workspace>/solutions/<name>/versions/<id>/job.json       how the version is being made (for a resume)
    <workspace>/solutions/<name>/versions/<id>/metrics.json   GetSolutionMetrics
    <workspace>/solutions/<name>/versions/<id>/trials.json    every trial (and trials.csv)
    <workspace>/solutions/<name>/versions/<id>/model/         the trained model (hrnn.artifact)

ARNs follow the service's formats with region ``local`` and account ``000000000000``; an ARN of any other
region or account names nothing here. Every file is JSON read with checks (a damaged file is reported as
such, never as a traceback) and written atomically with the umask's permissions.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from hrnn.atomic import atomic_write_json, atomic_write_text
from hrnn.errors import (InvalidInputException, LimitExceededException, ResourceAlreadyExistsException,
                         ResourceNotFoundException, ServiceError)

from .files import read_regular_file, strict_json

REGION = "local"
ACCOUNT = "000000000000"
ARN_PREFIX = f"arn:aws:personalize:{REGION}:{ACCOUNT}:solution/"
DEFAULT_WORKSPACE = "hrnn-workspace"
_NAME = r"[a-zA-Z0-9][a-zA-Z0-9\-_]{0,62}"
_VERSION_ARN = re.compile(rf"arn:aws:personalize:([^:]*):([^:]*):solution/({_NAME})/([0-9a-f]{{8}})")
_SOLUTION_ARN = re.compile(rf"arn:aws:personalize:([^:]*):([^:]*):solution/({_NAME})")
MAX_JSON_BYTES = 64 * 1024 * 1024
SOLUTION_VERSION_MEMBERS = (  # botocore's SolutionVersion; tests/test_faults_cli.py checks it against the model
    "name", "solutionVersionArn", "solutionArn", "performHPO", "performAutoML", "performIncrementalUpdate",
    "recipeArn", "eventType", "datasetGroupArn", "solutionConfig", "trainingHours", "trainingMode",
    "tunedHPOParams", "status", "failureReason", "creationDateTime", "lastUpdatedDateTime", "trainingType")
SUMMARY_MEMBERS = ("solutionVersionArn", "status", "trainingMode", "trainingType", "creationDateTime",
                   "lastUpdatedDateTime", "failureReason")


def solution_arn(name: str) -> str:
    return ARN_PREFIX + name


def version_arn(name: str, version_id: str) -> str:
    return f"{ARN_PREFIX}{name}/{version_id}"


def _match(pattern: re.Pattern, arn: object, member: str, expected: str) -> tuple:
    match = pattern.fullmatch(arn) if isinstance(arn, str) else None
    if not match:
        raise InvalidInputException(f"{member} {str(arn)[:300]!r} is not a {expected} ARN; expected "
                                    f"{ARN_PREFIX}<name>{'/<8 hex digits>' if 'version' in expected else ''}.")
    region, account = match.group(1), match.group(2)
    if (region, account) != (REGION, ACCOUNT):
        raise ResourceNotFoundException(
            f"{member} {arn!r} names region {region!r}, account {account!r}; this workspace holds only "
            f"arn:aws:personalize:{REGION}:{ACCOUNT}: resources.")
    return match.groups()[2:]


def parse_solution_arn(arn: object) -> str:
    return _match(_SOLUTION_ARN, arn, "solutionArn", "solution")[0]


def parse_version_arn(arn: object) -> tuple[str, str]:
    return _match(_VERSION_ARN, arn, "solutionVersionArn", "solution version")


def storage_error(exc: OSError, action: str) -> ServiceError:
    """An operating-system error while reading or writing the workspace, in the service's shape."""
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


def comparable_request(request: dict) -> dict:
    """A request with its null members dropped (null means absent), to compare resubmissions."""
    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value
    return clean(request)


def write_in_place(path: Path, text: str) -> None:
    """Rewrite an existing file's bytes in place: the last resort when a full disk refuses a new file (the
    file's own blocks are reused), so a status can still say what happened."""
    with open(path, "r+", encoding="utf-8") as fh:
        fh.write(text)
        fh.truncate()


@dataclass(frozen=True)
class VersionFiles:
    """The files of one solution version. Only this class spells their names."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def describe(self) -> Path:  # DescribeSolutionVersion
        return self.path / "describe.json"

    @property
    def job(self) -> Path:  # how the version is made: interactions, options, process (not part of describe)
        return self.path / "job.json"

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
        described = read_json(self.describe).get("solutionVersion")
        if not isinstance(described, dict) or not isinstance(described.get("status"), str) or not isinstance(
                described.get("creationDateTime"), (int, float)):
            raise damaged(self.describe, "no solutionVersion with a status and a creationDateTime")
        return described

    def write_describe(self, version: dict) -> None:
        text = json.dumps({"solutionVersion": version}, indent=2) + "\n"
        try:
            atomic_write_text(self.describe, text)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or not self.describe.exists():
                raise
            write_in_place(self.describe, json.dumps({"solutionVersion": version}, separators=(",", ":")))

    def read_job(self) -> dict:
        return read_json(self.job) if self.job.exists() else {}

    def write_job(self, job: dict) -> None:
        atomic_write_json(self.job, job)

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


@dataclass
class Workspace:
    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike | None) -> "Workspace":
        return cls(_workspace_root(root))

    def ensure(self) -> None:
        """Create the workspace's directories (before the first write), with a service error on failure."""
        try:
            (self.root / "solutions").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(exc, f"create the workspace {str(self.root)!r}") from None

    def solution_dir(self, name: str) -> Path:
        return self.root / "solutions" / name

    def version(self, name: str, version_id: str) -> VersionFiles:
        return VersionFiles(self.solution_dir(name) / "versions" / version_id)

    def lock_file(self, name: str) -> Path:
        return self.solution_dir(name) / "lock"

    def _request_file(self, name: str) -> Path:
        return self.solution_dir(name) / "request.json"

    def _solution_file(self, name: str) -> Path:
        return self.solution_dir(name) / "solution.json"

    # ---- solutions ----------------------------------------------------------------------------------
    def create_solution(self, raw_request: dict, request) -> str:
        """Register a validated request. The same request twice is idempotent (null members count as
        absent); a different one under an existing name is refused, as the service refuses it.
        ``request.json`` is written last: it marks a complete solution."""
        request_file = self._request_file(request.name)
        arn = solution_arn(request.name)
        if request_file.exists():
            if comparable_request(read_json(request_file)) == comparable_request(raw_request):
                return arn
            raise ResourceAlreadyExistsException(
                f"A solution named {request.name!r} already exists in {str(self.root)!r} with a different "
                "configuration; choose another name (a solution is immutable)."
            )
        self.ensure()
        now = time.time()
        solution = {
            "name": request.name, "solutionArn": arn, "performHPO": request.perform_hpo,
            "performAutoML": request.perform_automl, "recipeArn": request.recipe.recipe_arn,
            **({"datasetGroupArn": request.dataset_group_arn} if request.dataset_group_arn else {}),
            **({"eventType": request.event_type} if request.event_type else {}),
            "solutionConfig": request.solution_config, "status": "ACTIVE",
            "creationDateTime": now, "lastUpdatedDateTime": now,
        }
        try:
            atomic_write_json(self._solution_file(request.name), {"solution": solution})
            atomic_write_json(request_file, raw_request)
        except OSError as exc:
            self._solution_file(request.name).unlink(missing_ok=True)
            raise storage_error(exc, f"write solution {request.name!r} in {str(self.root)!r}") from None
        return arn

    def load_solution(self, arn: str) -> tuple[str, dict]:
        name = parse_solution_arn(arn)
        path = self._request_file(name)
        if not path.exists():
            raise ResourceNotFoundException(f"Solution {arn} does not exist in workspace {str(self.root)!r}.")
        return name, read_json(path)

    def describe_solution(self, arn: str) -> dict:
        name = parse_solution_arn(arn)
        path = self._solution_file(name)
        if not path.exists() or not self._request_file(name).exists():
            raise ResourceNotFoundException(f"Solution {arn} does not exist in workspace {str(self.root)!r}.")
        solution = read_json(path).get("solution")
        if not isinstance(solution, dict):
            raise damaged(path, "no solution object")
        versions = self.versions(name)
        if versions:
            solution = {**solution, "latestSolutionVersion": version_summary(versions[-1].read_describe())}
        return {"solution": solution}

    def solution_names(self) -> list[str]:
        """Every complete solution, sorted: both of its files there, as :meth:`describe_solution` requires
        (created record first and request last; deleted record first)."""
        base = self.root / "solutions"
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir()
                      if self._solution_file(p.name).exists() and self._request_file(p.name).exists())

    # ---- versions -----------------------------------------------------------------------------------
    def resolve_version(self, arn: str) -> VersionFiles:
        name, version_id = parse_version_arn(arn)
        version = self.version(name, version_id)
        if not version.exists():
            raise ResourceNotFoundException(f"Solution version {arn} does not exist in workspace {str(self.root)!r}.")
        return version

    def describe_version(self, arn: str) -> dict:
        return {"solutionVersion": self.resolve_version(arn).read_describe()}

    def versions(self, name: str) -> list[VersionFiles]:
        """The solution's readable versions, oldest first (a damaged one is left out)."""
        base = self.solution_dir(name) / "versions"
        if not base.is_dir():
            return []
        dated = []
        for path in base.iterdir():
            version = VersionFiles(path)
            if re.fullmatch(r"[0-9a-f]{8}", version.id) and version.exists():
                try:
                    dated.append((float(version.read_describe()["creationDateTime"]), version.id, version))
                except ServiceError:
                    continue
        return [v for _, _, v in sorted(dated)]


def version_summary(described: dict) -> dict:
    """A SolutionVersionSummary of a DescribeSolutionVersion."""
    return {k: described[k] for k in SUMMARY_MEMBERS if described.get(k) is not None}


def describe_members(described: dict) -> dict:
    """DescribeSolutionVersion's members only (a version written by an older release carried bookkeeping)."""
    return {k: v for k, v in described.items() if k in SOLUTION_VERSION_MEMBERS}


# ---- listing and deleting solutions (the endpoint's ListSolutions and DeleteSolution) ---------------------

def delete_solution(workspace: Workspace, name: str) -> None:
    """Remove a solution with its versions: its record first, so a half-removed one is never listed."""
    import shutil

    workspace._solution_file(name).unlink(missing_ok=True)
    shutil.rmtree(workspace.solution_dir(name), ignore_errors=True)
