"""A background job's process: ``python -m tuning.resources.job_main <kind> <workspace> <name> [options]``.

SIGTERM (StopSolutionVersionCreation) is turned into KeyboardInterrupt, so the job's own handlers run:
the version's status is written and Ray, if it was started here, is shut down.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    kind, root, name, *options = argv
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        from ..workspace import Workspace
        from . import arns
        from .service import Service

        service = Service(Workspace(Path(root)))
        if kind == "solution-version":
            from .versions import run_version_job

            run_version_job(root, name, *options)
        elif kind == arns.IMPORT_JOB:
            from .imports import run_import_job

            run_import_job(service, name)
        elif kind == arns.BATCH_JOB:
            from .batch_jobs import run_batch_job

            run_batch_job(service, name)
        else:
            raise SystemExit(f"unknown job kind {kind!r}")
    except KeyboardInterrupt:
        sys.stderr.write(f"{kind} {name}: stopped\n")
        return 130
    finally:
        _shutdown_ray()
    return 0


def _shutdown_ray() -> None:
    if "ray" in sys.modules:
        import ray

        if ray.is_initialized():
            ray.shutdown()


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Exception as exc:  # the job wrote its failure; say why in the log without a traceback's noise
        from hrnn.errors import ServiceError

        if not isinstance(exc, ServiceError):
            raise
        sys.stderr.write(f"{exc.type_name}: {exc.message}\n")
        sys.exit(1)
