"""A background job's process: ``python -m tuning.operations.job_main <kind> <name> <settings JSON>``.

It builds the endpoint's context from the settings (the same workspace, allowed directories, S3 endpoint and
run options), waits for the job's lock and does the work unless the record is already final
(:func:`tuning.operations.jobs.run_job`). SIGTERM (StopSolutionVersionCreation) is turned into
:class:`tuning.interrupts.Stopped`, so the work's own handlers run: the version says ``CREATE STOPPED`` and
Ray, if it was started here, is shut down.
"""

from __future__ import annotations

import json
import signal
import sys

from hrnn.errors import ServiceError

from .. import interrupts
from . import JOB_KINDS, inline_runner
from .context import Context
from .jobs import Job, run_job


def _stop(signum, frame):
    raise interrupts.Stopped(signum)


def main(argv: list[str]) -> int:
    kind, name, settings = argv
    signal.signal(signal.SIGTERM, _stop)
    try:
        run_job(Context.from_settings(json.loads(settings), inline_runner()), JOB_KINDS, Job(kind, name), wait=True)
    except KeyboardInterrupt:
        sys.stderr.write(f"{kind} {name}: stopped\n")
        return 130
    except ServiceError as exc:  # the work wrote its failure; say why in the log without a traceback's noise
        sys.stderr.write(f"{kind} {name}: {exc.type_name}: {exc.message}\n")
        return 1
    finally:
        _shutdown_ray()
    return 0


def _shutdown_ray() -> None:
    if "ray" in sys.modules:
        import ray

        if ray.is_initialized():
            ray.shutdown()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
