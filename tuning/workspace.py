"""A local workspace that plays the service's control plane: solutions and solution versions on disk.

Layout::

    <workspace>/solutions/<name>/solution.json                DescribeSolution ("solution": {...})
    <workspace>/solutions/<name>/request.json                 the CreateSolution request as given
    <workspace>/solutions/<name>/versions/<id>/describe.json  DescribeSolutionVersion
    <workspace>/solutions/<name>/versions/<id>/metrics.json   GetSolutionMetrics
    <workspace>/solutions/<name>/versions/<id>/trials.json    every trial (and trials.csv)
    <workspace>/solutions/<name>/versions/<id>/model/         the trained model (hrnn.artifact)

ARNs follow the service's formats with region ``local`` and account ``000000000000``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from hrnn.atomic import atomic_write_json, atomic_write_text
from hrnn.errors import InvalidInputException, ResourceAlreadyExistsException, ResourceNotFoundException

REGION = "local"
ACCOUNT = "000000000000"
ARN_PREFIX = f"arn:aws:personalize:{REGION}:{ACCOUNT}:solution/"
DEFAULT_WORKSPACE = "hrnn-workspace"
_VERSION_ARN = re.compile(r"^arn:aws:personalize:[^:]*:[^:]*:solution/([a-zA-Z0-9][a-zA-Z0-9\-_]*)/([0-9a-f]{8})$")
_SOLUTION_ARN = re.compile(r"^arn:aws:personalize:[^:]*:[^:]*:solution/([a-zA-Z0-9][a-zA-Z0-9\-_]*)$")


def solution_arn(name: str) -> str:
    return ARN_PREFIX + name


def version_arn(name: str, version_id: str) -> str:
    return f"{ARN_PREFIX}{name}/{version_id}"


def parse_solution_arn(arn: object) -> str:
    match = _SOLUTION_ARN.match(arn) if isinstance(arn, str) else None
    if not match:
        raise InvalidInputException(
            f"solutionArn {arn!r} is not a solution ARN; expected {ARN_PREFIX}<name> as returned by create-solution."
        )
    return match.group(1)


def parse_version_arn(arn: object) -> tuple[str, str]:
    match = _VERSION_ARN.match(arn) if isinstance(arn, str) else None
    if not match:
        raise InvalidInputException(
            f"solutionVersionArn {arn!r} is not a solution version ARN; expected {ARN_PREFIX}<name>/<8 hex digits> "
            "as returned by create-solution-version."
        )
    return match.group(1), match.group(2)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


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
    def checkpoint(self) -> Path:  # a single model's training checkpoints while it trains
        return self.path / "checkpoint"

    @property
    def tune_storage(self) -> Path:  # Ray Tune's experiments when no --storage is given
        return self.path / "ray"

    def exists(self) -> bool:
        return self.describe.exists()

    def read_describe(self) -> dict:
        return read_json(self.describe)["solutionVersion"]

    def write_describe(self, version: dict) -> None:
        atomic_write_json(self.describe, {"solutionVersion": version})

    def read_metrics(self) -> dict:
        return read_json(self.metrics)

    def write_metrics(self, arn: str, metrics: dict) -> None:
        atomic_write_json(self.metrics, {"solutionVersionArn": arn, "metrics": metrics})

    def read_trials(self) -> list[dict]:
        return read_json(self.trials_json).get("trials") or [] if self.trials_json.exists() else []

    def write_trials(self, trials: list[dict]) -> None:
        """trials.json (every field) and trials.csv (one row per trial, without the per-epoch history)."""
        atomic_write_json(self.trials_json, {"trials": trials})
        columns = [k for k in trials[0] if k != "history"] if trials else []
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(trials)
        atomic_write_text(self.trials_csv, buffer.getvalue())


@dataclass
class Workspace:
    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike | None) -> "Workspace":
        return cls(Path(root or os.environ.get("HRNN_WORKSPACE", DEFAULT_WORKSPACE)).resolve())

    def solution_dir(self, name: str) -> Path:
        return self.root / "solutions" / name

    def version(self, name: str, version_id: str) -> VersionFiles:
        return VersionFiles(self.solution_dir(name) / "versions" / version_id)

    def _request_file(self, name: str) -> Path:
        return self.solution_dir(name) / "request.json"

    def _solution_file(self, name: str) -> Path:
        return self.solution_dir(name) / "solution.json"

    # ---- solutions ----------------------------------------------------------------------------------
    def create_solution(self, raw_request: dict, request) -> str:
        """Register a validated request. The same request twice is idempotent; a different one under an
        existing name is refused, as the service refuses it."""
        request_file = self._request_file(request.name)
        arn = solution_arn(request.name)
        if request_file.exists():
            if read_json(request_file) == raw_request:
                return arn
            raise ResourceAlreadyExistsException(
                f"A solution named {request.name!r} already exists in {str(self.root)!r} with a different "
                "configuration; choose another name (a solution is immutable)."
            )
        now = time.time()
        atomic_write_json(request_file, raw_request)
        atomic_write_json(self._solution_file(request.name), {"solution": {
            "name": request.name,
            "solutionArn": arn,
            "performHPO": request.perform_hpo,
            "performAutoML": request.perform_automl,
            "recipeArn": request.recipe.recipe_arn,
            **({"datasetGroupArn": request.dataset_group_arn} if request.dataset_group_arn else {}),
            **({"eventType": request.event_type} if request.event_type else {}),
            "solutionConfig": request.solution_config,
            "status": "ACTIVE",
            "creationDateTime": now,
            "lastUpdatedDateTime": now,
        }})
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
        if not path.exists():
            raise ResourceNotFoundException(f"Solution {arn} does not exist in workspace {str(self.root)!r}.")
        return read_json(path)

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
        """The solution's versions, oldest first."""
        base = self.solution_dir(name) / "versions"
        if not base.exists():
            return []
        found = [VersionFiles(p) for p in base.iterdir()]
        return sorted((v for v in found if v.exists()), key=lambda v: v.read_describe()["creationDateTime"])


# ---- listing and deleting solutions (the endpoint's ListSolutions and DeleteSolution) ---------------------

def solution_names(workspace: Workspace) -> list[str]:
    """The name of every solution in the workspace, sorted."""
    base = workspace.root / "solutions"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if workspace._solution_file(p.name).exists())


def delete_solution(workspace: Workspace, name: str) -> None:
    """Remove a solution with its versions: its record first, so a half-removed one is never listed."""
    import shutil

    workspace._solution_file(name).unlink(missing_ok=True)
    shutil.rmtree(workspace.solution_dir(name), ignore_errors=True)
