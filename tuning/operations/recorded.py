"""The jobs that keep their status in their own record (dataset imports, batch inference): one scaffold.

The work runs under the record's lock (:mod:`.jobs`): ``CREATE IN_PROGRESS``, the work, then ``ACTIVE``, or
``CREATE FAILED`` with the service error's message (any other error: "Internal error", its traceback in the
job's log). The staging folder is emptied before and removed after. A process that ended without a final
status has failed, and says so.
"""

from __future__ import annotations

import shutil
import traceback
from typing import Callable

from hrnn.errors import ServiceError

from ..lifecycle import ACTIVE, FAILED, FINAL, IN_PROGRESS, UNFINISHED
from ..store import Record
from .jobs import Job, JobKind


def run_recorded(ctx, kind: str, name: str, work: Callable[[Record, object], None]) -> None:
    store = ctx.store
    record = store.update(store.get(kind, name), {"status": IN_PROGRESS}, drop=("failureReason",))
    staging = store.staging(kind, name)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        work(record, staging)
        store.update(record, {"status": ACTIVE})
    except ServiceError as exc:
        store.update(record, {"status": FAILED, "failureReason": exc.message})
        raise
    except Exception as exc:  # noqa: BLE001 - an unexpected failure still leaves a described, failed job
        traceback.print_exc()
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        store.update(record, {"status": FAILED, "failureReason": f"Internal error: {detail}"[:2000]})
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def recorded_kind(kind: str, work: Callable, what: str) -> JobKind:
    def on_exit(ctx, name: str, code: int | None, stop_requested: bool) -> None:
        store = ctx.store
        record = store.get(kind, name)
        if record.status not in FINAL:
            how = f"exit code {code}" if code is not None else "its process is gone"
            store.update(record, {"status": FAILED, "failureReason":
                                  f"The {what} process ended before the job finished ({how}); "
                                  f"see {store.log(kind, name)}."})

    return JobKind(kind, work=work, lock_path=lambda ctx, name: ctx.store.lock_file(kind, name), on_exit=on_exit)


def resume_recorded(ctx, kind: str) -> None:
    """After a restart: adopt a job whose lock is held; run again one whose lock is free."""
    for record in ctx.store.all(kind):
        if record.status in UNFINISHED:
            ctx.runner.submit(ctx, Job(kind, record.name))
