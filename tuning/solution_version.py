"""A solution version's lifecycle, the same for every front end: claim a version, train or tune it
(:mod:`.version_training`), and say what happened in its record whatever happens.

Statuses (:mod:`.lifecycle`): ``CREATE PENDING`` -> ``CREATE IN_PROGRESS`` -> ``ACTIVE``, or ``CREATE FAILED``
with a ``failureReason``, or ``CREATE STOPPED`` when SIGINT or SIGTERM stopped it (:mod:`.interrupts`).

The claim protocol:

* **Claiming** a version (:func:`claim_version`) happens under the store's record lock, so two front ends
  never both create one: a solution whose latest version is unfinished, or whose lock is held (a version
  trains), gets no second one (ResourceInUseException), with one exception below.
* **Training** a version (:func:`train_version`) happens only while holding the solution's lock
  (:mod:`.locks`, taken by the job runner), and trains exactly that version: a version already final is
  never trained again, and no other version is created on the way.
* **Resuming.** Where the context says so (the command line), the latest version is resumed (same version,
  same checkpoints) when it is unfinished (or ``CREATE STOPPED``), its lock is free (its process died or
  stopped) and it was started the same way: same data, ``--max-epochs``, ``--storage``, early stopping and
  refit, by the same kind of front end. A version the endpoint queued is never taken over by the command line; after a restart the
  endpoint runs its own again.
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

from hrnn.errors import ResourceInUseException, ServiceError

from . import arns, interrupts
from .lifecycle import ACTIVE, FAILED, IN_PROGRESS, PENDING, STOPPED, STOPPING, UNFINISHED
from .locks import is_held
from .request import typed_request
from .store import Record, storage_error

_DESCRIBED = ("recipeArn", "performHPO", "performAutoML", "solutionConfig", "datasetGroupArn", "eventType")
RESUMABLE = UNFINISHED + (STOPPED,)


def identity(job: dict) -> list[str]:
    """What a resumed run must share with the run it resumes: the data, the run options the results depend
    on and the front end (``eventsThrough`` follows from the data)."""
    return [k for k in job if k not in ("eventsThrough", "pid", "host")]


def lock_path(ctx, solution: str):
    """The lock held while a version of ``solution`` trains."""
    return ctx.store.lock_file(arns.SOLUTION, solution)


def claim_version(ctx, solution: Record, job: dict, tags: list | None = None) -> tuple[Record, bool]:
    """The version to work on: the resumable one of this command, or a new ``CREATE PENDING`` one."""
    store = ctx.store
    with store.updating():
        versions = store.all(arns.SOLUTION_VERSION, under=solution.name)
        latest = versions[-1] if versions else None
        if is_held(lock_path(ctx, solution.name)):
            raise ResourceInUseException(
                f"Solution {solution.arn} has a solution version in progress"
                f"{f' ({latest.arn})' if latest else ''}; wait for it to finish or stop it before creating another.")
        if latest is not None and latest.status in RESUMABLE:
            previous = latest.private.get("job", {})
            if ctx.resume_same_command and all(previous.get(k) == job.get(k) for k in identity(job)):
                if latest.status == STOPPED:  # to be trained again: no longer final
                    latest = store.update(latest, {"status": PENDING}, drop=("failureReason",))
                return latest, True
            if latest.status in UNFINISHED:
                raise ResourceInUseException(_unfinished_message(latest, previous, job, ctx.resume_same_command))
        version_id = secrets.token_hex(4)
        name = f"{solution.name}/{version_id}"
        public = {"name": f"{solution.name}-{version_id}", "solutionVersionArn": store.arn(arns.SOLUTION_VERSION, name),
                  "solutionArn": solution.arn, **{k: solution.public[k] for k in _DESCRIBED if k in solution.public},
                  "trainingMode": "FULL", "status": PENDING}
        record, _ = store.create(arns.SOLUTION_VERSION, name, public, job=job, tags=tags or [])
        return record, False


def _unfinished_message(version: Record, previous: dict, job: dict, resumes: bool) -> str:
    if not resumes:
        return (f"Solution {version.public['solutionArn']} already has a version being created ({version.arn}, "
                f"{version.status}); wait for it or stop it (StopSolutionVersionCreation).")
    if previous.get("origin") != job.get("origin"):
        return (f"Solution version {version.arn} is {version.status}, created through the "
                f"{'endpoint (hrnn serve)' if previous.get('origin') == 'endpoint' else 'hrnn command'}; it is "
                "left to that front end. Wait for it, or stop it with stop-solution-version-creation.")
    differences = ", ".join(f"{k} {previous.get(k)!r} (now {job.get(k)!r})" for k in identity(job)
                            if previous.get(k) != job.get(k))
    return (f"Solution version {version.arn} is unfinished ({version.status}, its process has ended) and was "
            f"started with {differences or 'other options'}. Run create-solution-version with the same options to "
            "resume it; nothing was changed. To give it up, delete the solution or remove the version's folder.")


def train_version(ctx, name: str) -> None:
    """Train or tune the version ``<solution>/<id>`` (its solution's lock is held). A failure or a stop
    raises with ``solution_version_arn`` set on the exception, after the record says what happened."""
    from .version_training import train_or_tune

    store = ctx.store
    record = store.get(arns.SOLUTION_VERSION, name)
    if record.status == STOPPING:  # a stop was asked for while its process was gone
        store.update(record, {"status": STOPPED})
        return
    files = ctx.workspace.version_files(name)
    job = record.private.get("job", {})
    try:
        request = typed_request(store.get(arns.SOLUTION, files.solution).private["request"])
        record = store.update(record, {"status": IN_PROGRESS}, {"job": {**job, "pid": os.getpid(),
                                                                         "host": socket.gethostname()}},
                              drop=("failureReason",))
        outcome = train_or_tune(request, job["interactions"], files, record.arn, ctx.run_options)
        store.update(record, {"status": ACTIVE, "trainingHours": round(outcome["seconds"] / 3600.0, 6),
                              **({"tunedHPOParams": outcome["tuned"]} if outcome.get("tuned") else {})})
    except KeyboardInterrupt as exc:  # interrupts.Stopped (SIGINT, SIGTERM) or a plain Ctrl-C
        stop = exc if isinstance(exc, interrupts.Stopped) else interrupts.Stopped(2)
        _final(store, record, STOPPED, f"Stopped by {stop.name}; run the same create-solution-version command "
                                       "to resume it from its checkpoints.")
        stop.solution_version_arn = record.arn
        raise stop from None
    except ServiceError as exc:
        _final(store, record, FAILED, exc.message)
        exc.solution_version_arn = record.arn
        raise
    except OSError as exc:  # the workspace's disk: full, read-only, removed
        error = storage_error(exc, f"write solution version {record.arn}")
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            shutil.rmtree(files.checkpoint, ignore_errors=True)  # room for the status; a failed version is final
        _final(store, record, FAILED, error.message)
        error.solution_version_arn = record.arn
        raise error from None
    except Exception as exc:  # an unexpected failure still leaves a described, failed version
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        _final(store, record, FAILED, f"Internal error: {detail}"[:2000])
        exc.solution_version_arn = record.arn
        raise
    _write_report(files, record.arn)


def _final(store, record: Record, status: str, reason: str) -> None:
    """Write a final status; if even that fails (a full disk), the version is left as it was."""
    try:
        store.update(record, {"status": status, "failureReason": reason})
    except (OSError, ServiceError):
        pass


def _write_report(files, arn: str) -> None:
    try:
        from .report import write_report

        write_report(files)
    except Exception as exc:  # noqa: BLE001 - a report problem must not fail an ACTIVE version
        sys.stderr.write(f"warning: the HTML report of {arn} could not be written: {exc}\n")


def end_unfinished(ctx, name: str, code: int | None, stop_requested: bool) -> None:
    """The process working on a version ended and the record is not final: say so."""
    store = ctx.store
    record = store.get(arns.SOLUTION_VERSION, name)
    if record.status in (ACTIVE, FAILED, STOPPED):
        return
    if stop_requested or record.status == STOPPING:
        store.update(record, {"status": STOPPED, "failureReason": "Stopped by StopSolutionVersionCreation."})
        return
    how = f"exit code {code}" if code is not None else "its process is gone"
    store.update(record, {"status": FAILED, "failureReason": f"The training process ended before the version was "
                          f"finished ({how}); see {store.log(arns.SOLUTION_VERSION, name)}.",
                          "lastUpdatedDateTime": time.time()})
