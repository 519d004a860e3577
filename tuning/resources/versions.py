"""Solutions and solution versions through the endpoint: asynchronous training, listing, stopping, deleting.

CreateSolutionVersion answers at once: it writes the new version's ``describe.json`` (``CREATE PENDING``,
the Interactions data file of the solution's dataset group) and hands the version to the job runner, whose
child runs the CLI's own synchronous path (:func:`tuning.solution_version.create_solution_version`). That
path resumes the solution's latest unfinished version whose process is gone, which is how the child picks
up exactly this version; one version per solution is therefore created at a time (a second request gets
ResourceInUseException, as from the service). A version left unfinished by a stopped server is resumed
by the next one (:func:`resume`).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from pathlib import Path

from hrnn.errors import InvalidInputException, ResourceInUseException

from .. import operations
from ..workspace import (Workspace, delete_solution as remove_solution, solution_arn,
                         version_arn, version_summary)
from . import arns
from .contract import public
from .datasets import interactions_file
from .jobs import Job, alive
from .paging import page

PENDING, IN_PROGRESS, ACTIVE, FAILED = "CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE", "CREATE FAILED"
STOPPING, STOPPED = "CREATE STOPPING", "CREATE STOPPED"
UNFINISHED = (PENDING, IN_PROGRESS, STOPPING)
KIND = "solution-version"
_CLAIM = threading.Lock()
_SOLUTION_SUMMARY = ("name", "solutionArn", "status", "creationDateTime", "lastUpdatedDateTime", "recipeArn")


# ---- solutions ------------------------------------------------------------------------------------------

def create_solution(service, request: dict) -> dict:
    from ..request import parse_create_solution

    parsed = parse_create_solution(request)  # the whole request first: nothing is looked up for a bad one
    if parsed.dataset_group_arn:
        service.store.find(arns.DATASET_GROUP, parsed.dataset_group_arn, "datasetGroupArn")
    return operations.create_solution(service.workspace, request)


def describe_solution(service, request: dict) -> dict:
    solution = operations.describe_solution(service.workspace, request["solutionArn"])["solution"]
    return {"solution": public("Solution", solution)}  # with latestSolutionVersion (Workspace.describe_solution)


def list_solutions(service, request: dict) -> dict:
    group = request.get("datasetGroupArn")
    if group:
        group = service.store.find(arns.DATASET_GROUP, group).arn
    found = []
    for name in service.workspace.solution_names():
        solution = service.workspace.describe_solution(solution_arn(name))["solution"]
        if not group or solution.get("datasetGroupArn") == group:
            found.append({k: solution[k] for k in _SOLUTION_SUMMARY if k in solution})
    found.sort(key=lambda s: s["creationDateTime"])
    return page(found, request, "solutions")


def delete_solution(service, request: dict) -> dict:
    name, _ = service.workspace.load_solution(request["solutionArn"])
    for version in service.workspace.versions(name):
        if version.read_describe()["status"] in UNFINISHED:
            raise ResourceInUseException(f"Solution version {version_arn(name, version.id)} is still being created; "
                                         "stop it (StopSolutionVersionCreation) or wait before deleting the solution.")
    prefix = solution_arn(name) + "/"
    for campaign in service.store.all(arns.CAMPAIGN):
        if campaign.public["solutionVersionArn"].startswith(prefix):
            raise ResourceInUseException(f"Campaign {campaign.arn} serves a version of this solution; delete it first.")
    remove_solution(service.workspace, name)
    return {}


# ---- versions ---------------------------------------------------------------------------------------------

def create_solution_version(service, request: dict) -> dict:
    if request.get("trainingMode", "FULL") != "FULL":
        raise InvalidInputException(
            f"trainingMode {request['trainingMode']!r} is not supported by aws-hrnn; expected FULL (or omit it).")
    workspace: Workspace = service.workspace
    name, _ = workspace.load_solution(request["solutionArn"])
    solution = workspace.describe_solution(request["solutionArn"])["solution"]
    if not solution.get("datasetGroupArn"):
        raise InvalidInputException(
            f"Solution {solution['solutionArn']} has no datasetGroupArn; the endpoint trains a solution on its "
            "dataset group's Interactions dataset (create the solution with datasetGroupArn).")
    interactions = str(Path(interactions_file(service, solution["datasetGroupArn"])).resolve())
    with _CLAIM:
        for version in workspace.versions(name):
            if version.read_describe()["status"] in UNFINISHED:
                raise ResourceInUseException(
                    f"Solution {solution['solutionArn']} already has a version being created "
                    f"({version_arn(name, version.id)}); wait for it or stop it.")
        version = workspace.version(name, secrets.token_hex(4))
        version.path.mkdir(parents=True, exist_ok=False)
        arn = version_arn(name, version.id)
        now = time.time()
        base = {k: solution[k] for k in ("recipeArn", "performHPO", "performAutoML", "solutionConfig",
                                         "datasetGroupArn", "eventType") if k in solution}
        # job.json first: the child resumes this version only when it is started the same way.
        version.write_job({"interactions": interactions, **_run_options(service).identity()})
        version.write_describe({"name": f"{name}-{version.id}", "solutionVersionArn": arn,
                                "solutionArn": solution["solutionArn"], **base, "trainingMode": "FULL",
                                "status": PENDING, "creationDateTime": now, "lastUpdatedDateTime": now})
    service.jobs.submit(_job(service, name, version.id))
    return {"solutionVersionArn": arn}


def describe_solution_version(service, request: dict) -> dict:
    described = operations.describe_solution_version(service.workspace, request["solutionVersionArn"])
    return {"solutionVersion": public("SolutionVersion", described["solutionVersion"])}


def list_solution_versions(service, request: dict) -> dict:
    workspace: Workspace = service.workspace
    if request.get("solutionArn"):
        names = [workspace.load_solution(request["solutionArn"])[0]]
    else:
        names = workspace.solution_names()
    summaries = [version_summary(v.read_describe()) for name in names for v in workspace.versions(name)]
    summaries.sort(key=lambda s: s["creationDateTime"])
    return page(summaries, request, "solutionVersions")


def get_solution_metrics(service, request: dict) -> dict:
    return operations.get_solution_metrics(service.workspace, request["solutionVersionArn"])


def stop_solution_version_creation(service, request: dict) -> dict:
    version = service.workspace.resolve_version(request["solutionVersionArn"])
    described = version.read_describe()
    if described["status"] not in (PENDING, IN_PROGRESS):
        raise ResourceInUseException(
            f"Solution version {request['solutionVersionArn']} is {described['status']!r}; only a version "
            f"that is {PENDING!r} or {IN_PROGRESS!r} can be stopped.")
    name, key = version.path.parent.parent.name, _key(version)
    if described["status"] == IN_PROGRESS:
        _write_status(version, STOPPING)
    pid = version.read_job().get("pid")
    if not service.jobs.active(KIND, key) and alive(pid):
        service.jobs.submit(_job(service, name, version.id, pid=pid))  # a process we did not start
    if not service.jobs.stop(KIND, key):
        _write_status(version, STOPPED)
    return {}


# ---- the job --------------------------------------------------------------------------------------------

def _run_options(service):
    from ..run_options import RunOptions

    return RunOptions(**service.run_options)


def _key(version) -> str:
    return f"{version.path.parent.parent.name}/{version.id}"


def _job(service, name: str, version_id: str, pid: int | None = None) -> Job:
    version = service.workspace.version(name, version_id)

    def finish(code: int | None, stopped: bool) -> None:
        status = version.read_describe()["status"]
        if status == ACTIVE or (status in (FAILED, STOPPED) and not stopped):
            return
        if stopped or status == STOPPING:
            _write_status(version, STOPPED)
        else:
            how = f"exit code {code}" if code is not None else "its process is gone"
            _write_status(version, FAILED, failureReason=f"The training process ended before the version was "
                          f"finished ({how}); see {service.store.log(KIND, _key(version))}.")

    return Job(KIND, _key(version), finish, argv=[json.dumps(service.run_options)], pid=pid)


def _write_status(version, status: str, **fields) -> None:
    described = version.read_describe()
    described.pop("failureReason", None)
    version.write_describe({**described, "status": status, "lastUpdatedDateTime": time.time(), **fields})


def resume(service) -> None:
    """After a restart: adopt versions whose process still runs, finish stopping ones, run the rest again
    (the child resumes each from its checkpoint or Ray experiment)."""
    for name in service.workspace.solution_names():
        for version in service.workspace.versions(name):
            described = version.read_describe()
            if described["status"] not in UNFINISHED:
                continue
            pid = version.read_job().get("pid")
            pid = pid if alive(pid) else None
            if described["status"] == STOPPING and pid is None:
                _write_status(version, STOPPED)
                continue
            service.jobs.submit(_job(service, name, version.id, pid=pid))
            if described["status"] == STOPPING:
                service.jobs.stop(KIND, _key(version))


def run_version_job(root: str, key: str, options: str) -> None:
    """The child: train or tune the version through the CLI's synchronous path."""
    from ..solution_version import RunOptions, create_solution_version as run

    name, version_id = key.split("/")
    workspace = Workspace(Path(root))
    interactions = workspace.version(name, version_id).read_job()["interactions"]
    arn = run(workspace, solution_arn(name), interactions, RunOptions(**json.loads(options)))
    if arn != version_arn(name, version_id):
        raise RuntimeError(f"trained {arn} instead of {version_arn(name, version_id)}")
