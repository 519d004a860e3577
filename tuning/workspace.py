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

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from hrnn.atomic import atomic_write_json
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


@dataclass
class Workspace:
    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike | None) -> "Workspace":
        return cls(Path(root or os.environ.get("HRNN_WORKSPACE", DEFAULT_WORKSPACE)).resolve())

    def solution_dir(self, name: str) -> Path:
        return self.root / "solutions" / name

    def version_dir(self, name: str, version_id: str) -> Path:
        return self.solution_dir(name) / "versions" / version_id

    # ---- solutions ----------------------------------------------------------------------------------
    def create_solution(self, raw_request: dict, request) -> str:
        """Register a validated request. The same request twice is idempotent; a different one under an
        existing name is refused, as the service refuses it."""
        directory = self.solution_dir(request.name)
        arn = solution_arn(request.name)
        if (directory / "request.json").exists():
            if read_json(directory / "request.json") == raw_request:
                return arn
            raise ResourceAlreadyExistsException(
                f"A solution named {request.name!r} already exists in {str(self.root)!r} with a different "
                "configuration; choose another name (a solution is immutable)."
            )
        now = time.time()
        atomic_write_json(directory / "request.json", raw_request)
        atomic_write_json(directory / "solution.json", {"solution": {
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
        path = self.solution_dir(name) / "request.json"
        if not path.exists():
            raise ResourceNotFoundException(f"Solution {arn} does not exist in workspace {str(self.root)!r}.")
        return name, read_json(path)

    def describe_solution(self, arn: str) -> dict:
        name = parse_solution_arn(arn)
        path = self.solution_dir(name) / "solution.json"
        if not path.exists():
            raise ResourceNotFoundException(f"Solution {arn} does not exist in workspace {str(self.root)!r}.")
        return read_json(path)

    # ---- versions -----------------------------------------------------------------------------------
    def resolve_version(self, arn: str) -> Path:
        name, version_id = parse_version_arn(arn)
        directory = self.version_dir(name, version_id)
        if not (directory / "describe.json").exists():
            raise ResourceNotFoundException(f"Solution version {arn} does not exist in workspace {str(self.root)!r}.")
        return directory

    def describe_version(self, arn: str) -> dict:
        return read_json(self.resolve_version(arn) / "describe.json")

    def versions(self, name: str) -> list[Path]:
        base = self.solution_dir(name) / "versions"
        if not base.exists():
            return []
        return sorted((p for p in base.iterdir() if (p / "describe.json").exists()),
                      key=lambda p: read_json(p / "describe.json")["solutionVersion"]["creationDateTime"])
