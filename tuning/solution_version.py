"""CreateSolutionVersion's lifecycle: claim a version, train or tune it (:mod:`.version_training`), and say
what happened in ``describe.json`` whatever happens.

Statuses: ``CREATE PENDING`` -> ``CREATE IN_PROGRESS`` -> ``ACTIVE``, or ``CREATE FAILED`` with a
``failureReason``, or ``CREATE STOPPED`` when SIGINT or SIGTERM stopped it (:mod:`.interrupts`; the reason
says so). Every file is written atomically, so a reader never sees a half-written one.

One version of a solution trains at a time (:mod:`.locks`). The solution's latest version is **resumed**
(same version, same checkpoints) when it is unfinished (``CREATE STOPPED``, or left ``CREATE PENDING`` /
``IN_PROGRESS`` / ``STOPPING`` by a process that died) and the command is the same: same interactions file,
same ``--max-epochs``, ``--storage``, early stopping and refit (``job.json`` records them; a record without
an option ran as before that option existed). A different command does not touch an unfinished version:
one that died is refused (so its resumable state survives a careless rerun), one that was stopped on
purpose stays stopped and a new version starts.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import socket
import sys
import time
import traceback

from hrnn.errors import InvalidInputException, ResourceInUseException, ServiceError

from . import interrupts
from .locks import SolutionLock
from .request import SolutionRequest, parse_create_solution
from .run_options import LEGACY_IDENTITY, RunOptions, local_input_path
from .version_training import train_or_tune
from .workspace import VersionFiles, Workspace, solution_arn, storage_error, version_arn

PENDING, IN_PROGRESS, ACTIVE, FAILED = "CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE", "CREATE FAILED"
STOPPING, STOPPED = "CREATE STOPPING", "CREATE STOPPED"
UNFINISHED = (PENDING, IN_PROGRESS, STOPPING, STOPPED)


def create_solution_version(workspace: Workspace, solution_arn_: str, interactions: str | os.PathLike,
                            options: RunOptions = RunOptions()) -> str:
    """Run a whole solution version synchronously and return its ARN.

    A failure or a stop after the version exists raises with ``solution_version_arn`` set on the exception,
    so a caller can still name the version (``describe-solution-version`` then says what happened).
    """
    options.check()
    name, raw_request = workspace.load_solution(solution_arn_)
    request = parse_create_solution(raw_request)
    interactions = local_input_path(interactions, "--interactions")
    if not os.path.isfile(interactions):  # refused before a version exists (a missing file is not a version)
        what = "does not exist" if not os.path.lexists(interactions) else "is not a regular file"
        raise InvalidInputException(f"Interactions file {interactions!r} {what}.")
    job = {"interactions": interactions, **options.identity()}
    workspace.ensure()
    lock = SolutionLock(workspace.lock_file(name), solution_arn(name))
    try:
        lock.acquire()
    except OSError as exc:
        raise storage_error(exc, f"lock solution {name!r}") from None
    try:
        version, resumed = _claim_version(workspace, name, job)
        arn = version_arn(name, version.id)
        lock.record(arn)
        return _run(version, arn, request, raw_request, name, interactions, job, options, resumed)
    finally:
        lock.release()


def _run(version: VersionFiles, arn: str, request: SolutionRequest, raw_request: dict, name: str,
         interactions: str, job: dict, options: RunOptions, resumed: bool) -> str:
    status = _StatusFile(version, _describe_base(request, name, arn))
    try:
        version.write_job({**job, "pid": os.getpid(), "host": socket.gethostname()})  # before any status
        if not resumed:
            status.write(PENDING)
        status.write(IN_PROGRESS)
        outcome = train_or_tune(request, interactions, version, arn, options)
        status.write(ACTIVE, trainingHours=round(outcome["seconds"] / 3600.0, 6), tunedHPOParams=outcome.get("tuned"))
    except KeyboardInterrupt as exc:  # interrupts.Stopped (SIGINT, SIGTERM) or a plain Ctrl-C
        stop = exc if isinstance(exc, interrupts.Stopped) else interrupts.Stopped(2)
        _best_effort(status, STOPPED, f"Stopped by {stop.name}; run the same create-solution-version command "
                                      "to resume it from its checkpoints.")
        stop.solution_version_arn = arn
        raise stop from None
    except ServiceError as exc:
        _best_effort(status, FAILED, exc.message)
        exc.solution_version_arn = arn
        raise
    except OSError as exc:  # the workspace's disk: full, read-only, removed
        error = storage_error(exc, f"write solution version {arn}")
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            shutil.rmtree(version.checkpoint, ignore_errors=True)  # room for the status; a failed version is final
        _best_effort(status, FAILED, error.message)
        error.solution_version_arn = arn
        raise error from None
    except Exception as exc:  # an unexpected failure still leaves a described, failed version
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        _best_effort(status, FAILED, f"Internal error: {detail}"[:2000])
        exc.solution_version_arn = arn
        raise
    try:
        from .report import write_report

        write_report(version)
    except Exception as exc:  # noqa: BLE001 - a report problem must not fail an ACTIVE version
        sys.stderr.write(f"warning: the HTML report of {arn} could not be written: {exc}\n")
    return arn


def _best_effort(status: "_StatusFile", value: str, reason: str) -> None:
    """Write a final status; if even that fails (a full disk), the version is left as it was."""
    try:
        status.write(value, failureReason=reason)
    except OSError:
        pass


def _claim_version(workspace: Workspace, name: str, job: dict) -> tuple[VersionFiles, bool]:
    """The version to work on (under the solution's lock): the latest one if it is unfinished and this is
    its command, else a new one; see the module docstring."""
    versions = workspace.versions(name)
    if versions:
        latest = versions[-1]
        described = latest.read_describe()
        if described["status"] in UNFINISHED:
            # An older release kept the interactions file in describe.json and had no job.json.
            recorded = latest.read_job() or {"interactions": described.get("interactions"), "maxEpochs": None,
                                             "storage": None}
            previous = {k: recorded.get(k, LEGACY_IDENTITY.get(k)) for k in job}
            if previous == job:
                return latest, True
            if described["status"] != STOPPED:
                raise ResourceInUseException(_unfinished_message(latest, described, previous, job, name))
    version = workspace.version(name, secrets.token_hex(4))
    try:
        version.path.mkdir(parents=True, exist_ok=False)
    except OSError as exc:
        raise storage_error(exc, f"create a solution version in {str(version.path.parent)!r}") from None
    return version, False


def _unfinished_message(version: VersionFiles, described: dict, previous: dict, job: dict, name: str) -> str:
    arn = version_arn(name, version.id)
    differences = ", ".join(f"{k} {previous.get(k)!r} (now {job[k]!r})" for k in job if previous.get(k) != job[k])
    return (f"Solution version {arn} is unfinished ({described['status']}, its process has ended) and was started "
            f"with {differences or 'other options'}. Run create-solution-version with the same options to "
            f"resume it; nothing was changed. To give it up, remove {str(version.path)!r}.")


def _describe_base(request: SolutionRequest, name: str, arn: str) -> dict:
    base = {
        "name": version_name(arn),
        "solutionVersionArn": arn,
        "solutionArn": solution_arn(name),
        "recipeArn": request.recipe.recipe_arn,
        "performHPO": request.perform_hpo,
        "performAutoML": request.perform_automl,
        "trainingMode": "FULL",
        "solutionConfig": request.solution_config,
    }
    if request.event_type:
        base["eventType"] = request.event_type
    if request.dataset_group_arn:
        base["datasetGroupArn"] = request.dataset_group_arn
    return base


def version_name(arn: str) -> str:
    return arn.rsplit("/", 2)[-2] + "-" + arn.rsplit("/", 1)[-1]


class _StatusFile:
    def __init__(self, version: VersionFiles, base: dict):
        self.version = version
        self.base = base
        previous = version.read_describe() if version.exists() else {}
        self.created = previous.get("creationDateTime", time.time())

    def write(self, status: str, **fields) -> None:
        described = {**self.base, "status": status, "creationDateTime": self.created,
                     "lastUpdatedDateTime": time.time()}
        described.update({k: v for k, v in fields.items() if v is not None})
        self.version.write_describe(described)

