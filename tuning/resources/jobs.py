"""Background jobs, each in its own process: solution versions, dataset imports, batch inference.

Why processes: training (torch, Ray Tune) and batch scoring must never hold the server's event loop or its
GIL, a crash in one must not take the server down, and a training joins a Ray cluster exactly as the CLI does
(``RAY_ADDRESS`` is inherited). A child runs ``python -m tuning.resources.job_main <kind> <workspace> <name>``
and writes its own statuses; the runner only starts children within per-kind limits (the rest wait, still
``CREATE PENDING``), reaps them and, when one ended without a final status, writes one (:attr:`Job.finish`).

Children run in their own session: stopping or restarting the server leaves them running, and a server
started later adopts them by process id. StopSolutionVersionCreation sends SIGTERM to the child (and SIGKILL
to its process group if it has not ended after :attr:`JobRunner.stop_grace` seconds).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hrnn.errors import LimitExceededException, ServiceError

DEFAULT_LIMITS = {"solution-version": 2, "dataset-import-job": 2, "batch-inference-job": 2}
MAX_WAITING = 64


@dataclass
class Job:
    kind: str
    name: str
    finish: Callable[[int | None, bool], None]  # (exit code, or None if unknown; stop requested)
    argv: list[str] = field(default_factory=list)
    pid: int | None = None  # a process already running this job (adopted after a restart)
    process: subprocess.Popen | None = None
    stop_requested: bool = False
    term_sent: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.kind, self.name


def alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobRunner:
    def __init__(self, workspace_root: Path, log_file: Callable[[str, str], Path],
                 limits: dict[str, int] | None = None, poll_seconds: float = 0.2, stop_grace: float = 60.0):
        self.root = workspace_root
        self.log_file = log_file
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self.poll_seconds = poll_seconds
        self.stop_grace = stop_grace
        self._waiting: list[Job] = []
        self._running: dict[tuple[str, str], Job] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="hrnn-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop watching; running children carry on (a later server adopts them)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def submit(self, job: Job) -> None:
        with self._cond:
            if job.key in self._running or any(j.key == job.key for j in self._waiting):
                return
            if alive(job.pid):
                self._running[job.key] = job
            elif len(self._waiting) >= MAX_WAITING:
                raise LimitExceededException(
                    f"{len(self._waiting)} jobs are already waiting to run; try again when some have finished.")
            else:
                job.pid = None
                self._waiting.append(job)
            self._cond.notify_all()

    def stop(self, kind: str, name: str) -> bool:
        """Stop a waiting or running job; False when it is neither."""
        with self._cond:
            waiting = next((j for j in self._waiting if j.key == (kind, name)), None)
            if waiting is not None:
                self._waiting.remove(waiting)
            running = self._running.get((kind, name))
            if running is not None:
                running.stop_requested = True
                self._signal(running, signal.SIGTERM)
                running.term_sent = time.monotonic()
        if waiting is not None:
            waiting.finish(None, True)
        return waiting is not None or running is not None

    def active(self, kind: str, name: str) -> bool:
        with self._cond:
            return (kind, name) in self._running or any(j.key == (kind, name) for j in self._waiting)

    # ---- the watcher thread -----------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                ended = self._reap()
                self._escalate()
                ended += [(job, None) for job in self._start_waiting()]
            for job, code in ended:
                try:
                    job.finish(code, job.stop_requested)
                except Exception as exc:  # a broken record must not stop the watcher
                    sys.stderr.write(f"hrnn serve: finishing {job.kind} {job.name} failed: {exc!r}\n")
            with self._cond:
                if not self._closed:
                    self._cond.wait(self.poll_seconds)

    def _reap(self) -> list[tuple[Job, int | None]]:
        ended = []
        for key, job in list(self._running.items()):
            code = job.process.poll() if job.process is not None else (None if alive(job.pid) else -1)
            if code is not None:
                del self._running[key]
                ended.append((job, code if job.process is not None else None))
        return ended

    def _escalate(self) -> None:
        now = time.monotonic()
        for job in self._running.values():
            if job.term_sent is not None and now - job.term_sent > self.stop_grace:
                self._signal(job, signal.SIGKILL, group=True)
                job.term_sent = now

    def _start_waiting(self) -> list[Job]:
        """Start what the limits allow; return the jobs whose process could not start."""
        failed = []
        for job in list(self._waiting):
            busy = sum(1 for j in self._running.values() if j.kind == job.kind)
            if busy >= self.limits.get(job.kind, 1):
                continue
            self._waiting.remove(job)
            try:
                job.process = self._spawn(job)
            except OSError as exc:
                sys.stderr.write(f"hrnn serve: cannot start {job.kind} {job.name}: {exc}\n")
                failed.append(job)
                continue
            job.pid = job.process.pid
            self._running[job.key] = job
        return failed

    def _spawn(self, job: Job) -> subprocess.Popen:
        log = self.log_file(job.kind, job.name)
        log.parent.mkdir(parents=True, exist_ok=True)
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        env.setdefault("PYTHONUNBUFFERED", "1")
        with open(log, "ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "tuning.resources.job_main", job.kind, str(self.root), job.name, *job.argv],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=str(self.root),
                start_new_session=True)

    @staticmethod
    def _signal(job: Job, sig: int, group: bool = False) -> None:
        pid = job.process.pid if job.process is not None else job.pid
        if not pid:
            return
        try:
            os.killpg(pid, sig) if group else os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


# ---- jobs that keep their status in a store record (dataset imports, batch inference) ---------------------

PENDING, IN_PROGRESS, ACTIVE, FAILED = "CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE", "CREATE FAILED"
FINAL = (ACTIVE, FAILED)


def recorded_job(service, kind: str, name: str, what: str, pid: int | None = None) -> Job:
    """The runner's job for a record; a child that ended without writing a final status has failed."""
    store = service.store

    def finish(code: int | None, stopped: bool) -> None:
        record = store.get(kind, name)
        if record.public["status"] not in FINAL:
            how = f"exit code {code}" if code is not None else "its process is gone"
            store.update(record, {"status": FAILED, "failureReason":
                                  f"The {what} process ended before the job finished ({how}); "
                                  f"see {store.log(kind, name)}."})
    return Job(kind, name, finish, pid=pid)


def resume_recorded(service, kind: str, what: str) -> None:
    """After a restart: adopt a job whose process still runs; run again one whose process is gone."""
    for record in service.store.all(kind):
        if record.public["status"] not in FINAL:
            service.jobs.submit(recorded_job(service, kind, record.name, what, record.private.get("pid")))


def run_recorded(store, kind: str, name: str, work: Callable) -> None:
    """A recorded job's process: ``CREATE IN_PROGRESS`` with its pid, ``work(record, staging)``, then
    ``ACTIVE``, or ``CREATE FAILED`` with the service error's message (any other error: "Internal error",
    its traceback on stderr, the job's log). The staging folder is emptied before and removed after."""
    record = store.update(store.get(kind, name), {"status": IN_PROGRESS}, {"pid": os.getpid()},
                          drop=("failureReason",))
    staging = store.staging(kind, name)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        work(record, staging)
        store.update(record, {"status": ACTIVE})
    except ServiceError as exc:
        store.update(record, {"status": FAILED, "failureReason": exc.message})
    except Exception as exc:  # an unexpected failure still leaves a described, failed job
        traceback.print_exc()
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        store.update(record, {"status": FAILED, "failureReason": f"Internal error: {detail}"})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
