"""Where an operation's long work runs: now, in this process (the command line), or in a process of its own
(the endpoint). Operations only say *what* to run (:class:`Job`); the context's runner says *where*.

Who works on a job is decided by its record's lock (:mod:`tuning.locks`), the same for both runners: the
working process holds the lock for the whole work and re-reads the record under it, so a job whose record is
already final is never worked again, and a second worker waits or is refused. After a restart the endpoint
adopts a job whose lock is held (some process still works on it) and watches the lock, never a pid; it runs
again a job whose lock is free. A stop is sent only to a process proven to hold that job's lock
(``/proc/locks``), or to the endpoint's own child.

Why processes on the endpoint: training (torch, Ray Tune) and batch scoring must never hold the server's
event loop or its GIL, a crash in one must not take the server down, and a training joins a Ray cluster
exactly as the command line does (``RAY_ADDRESS`` is inherited). Children run in their own session, so
stopping the server leaves them running for the next server to adopt.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hrnn.errors import LimitExceededException, ServiceError

from ..lifecycle import FINAL
from ..locks import RecordLock, holder_pid, is_held, read_holder

DEFAULT_LIMITS = {"solution-version": 2, "dataset-import-job": 2, "batch-inference-job": 2}
MAX_WAITING = 64


@dataclass(frozen=True)
class JobKind:
    """How one kind of job runs: its work, the lock that claims it, and what its end means."""

    kind: str
    work: Callable  # (ctx, name) -> None; writes the record's statuses itself
    lock_path: Callable  # (ctx, name) -> Path
    on_exit: Callable  # (ctx, name, exit code or None, stop requested) -> None: the process ended unfinished


@dataclass(frozen=True)
class Job:
    kind: str
    name: str


def start(ctx, job: Job, response: dict) -> dict:
    """Hand a job to the context's runner and answer ``response``; when the work runs now and fails or is
    stopped, the error still carries the answer (the caller can describe what it created)."""
    try:
        ctx.runner.submit(ctx, job)
    except (ServiceError, KeyboardInterrupt) as exc:
        exc.response = response
        raise
    return response


def is_final(ctx, job: Job) -> bool:
    return ctx.store.get(job.kind, job.name).status in FINAL


def run_job(ctx, kinds: dict[str, JobKind], job: Job, wait: bool) -> None:
    """Claim the job's lock (wait for it, or ResourceInUse), then do its work unless it is already final."""
    spec = kinds[job.kind]
    lock = RecordLock(spec.lock_path(ctx, job.name), f"{job.kind} {job.name}")
    if wait:
        lock.acquire(blocking=True)
    else:
        lock.acquire_or_refuse()
    try:
        lock.record(kind=job.kind, name=job.name)
        if not is_final(ctx, job):
            spec.work(ctx, job.name)
    finally:
        lock.release()


def signal_holder(path: Path, job: Job, sig: int = signal.SIGTERM) -> bool:
    """Signal the process holding ``path`` if it is proven to work on ``job``; False when none is."""
    pid = holder_pid(path)
    holder = read_holder(path)
    if pid is None or pid == os.getpid() or (holder.get("kind"), holder.get("name")) != (job.kind, job.name) \
            or holder.get("pid") != pid:
        return False
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


class InlineRunner:
    """The command line's runner: the work runs now, in this process (SIGINT/SIGTERM stop it cleanly)."""

    def __init__(self, kinds: dict[str, JobKind]):
        self.kinds = kinds

    def submit(self, ctx, job: Job) -> None:
        run_job(ctx, self.kinds, job, wait=False)

    def active(self, ctx, job: Job) -> bool:
        return is_held(self.kinds[job.kind].lock_path(ctx, job.name))

    def stop(self, ctx, job: Job) -> bool:
        return signal_holder(self.kinds[job.kind].lock_path(ctx, job.name), job)


@dataclass
class _Running:
    job: Job
    process: subprocess.Popen | None = None  # None: adopted (another process holds the lock)
    stop_requested: bool = False
    term_sent: float | None = None


class BackgroundRunner:
    """The endpoint's runner: each job in its own process, at most ``limits[kind]`` at once (the rest wait)."""

    def __init__(self, kinds: dict[str, JobKind], settings: dict, limits: dict[str, int] | None = None,
                 poll_seconds: float = 0.2, stop_grace: float = 60.0):
        self.kinds = kinds
        self.settings = settings  # what a child needs to build its context (JSON)
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self.poll_seconds, self.stop_grace = poll_seconds, stop_grace
        self._waiting: list[Job] = []
        self._running: dict[Job, _Running] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._ctx = None
        self._thread = threading.Thread(target=self._loop, name="hrnn-jobs", daemon=True)

    def start(self, ctx) -> None:
        self._ctx = ctx
        self._thread.start()

    def close(self) -> None:
        """Stop watching; running children carry on (a later server adopts them)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def submit(self, ctx, job: Job) -> None:
        with self._cond:
            if job in self._running or job in self._waiting:
                return
            if is_held(self.kinds[job.kind].lock_path(ctx, job.name)):
                self._running[job] = _Running(job)  # another process works on it: watch its lock
            elif len(self._waiting) >= MAX_WAITING:
                raise LimitExceededException(
                    f"{len(self._waiting)} jobs are already waiting to run; try again when some have finished.")
            else:
                self._waiting.append(job)
            self._cond.notify_all()

    def active(self, ctx, job: Job) -> bool:
        with self._cond:
            return job in self._running or job in self._waiting

    def stop(self, ctx, job: Job) -> bool:
        """Stop a waiting or running job; False when it is neither."""
        with self._cond:
            waiting = job in self._waiting
            if waiting:
                self._waiting.remove(job)
            running = self._running.get(job)
            if running is not None:
                running.stop_requested = True
                self._terminate(ctx, running, signal.SIGTERM)
        if waiting:
            self.kinds[job.kind].on_exit(ctx, job.name, None, True)
        return waiting or running is not None

    # ---- the watcher thread ---------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                ended = self._reap()
                self._escalate()
                ended += [(_Running(job), None) for job in self._start_waiting()]
            for running, code in ended:
                try:
                    if not is_final(self._ctx, running.job):
                        self.kinds[running.job.kind].on_exit(self._ctx, running.job.name, code,
                                                             running.stop_requested)
                except Exception as exc:  # noqa: BLE001 - a broken record must not stop the watcher
                    sys.stderr.write(f"hrnn serve: finishing {running.job.kind} {running.job.name} failed: {exc!r}\n")
            with self._cond:
                if not self._closed:
                    self._cond.wait(self.poll_seconds)

    def _reap(self) -> list[tuple[_Running, int | None]]:
        ended = []
        for job, running in list(self._running.items()):
            if running.process is not None:
                code = running.process.poll()
                done = code is not None
            else:
                code, done = None, not is_held(self.kinds[job.kind].lock_path(self._ctx, job.name))
            if done:
                del self._running[job]
                ended.append((running, code))
        return ended

    def _escalate(self) -> None:
        now = time.monotonic()
        for running in self._running.values():
            if running.term_sent is not None and now - running.term_sent > self.stop_grace:
                self._terminate(self._ctx, running, signal.SIGKILL)

    def _start_waiting(self) -> list[Job]:
        """Start what the limits allow; return the jobs whose process could not start."""
        failed = []
        for job in list(self._waiting):
            busy = sum(1 for j in self._running if j.kind == job.kind)
            if busy >= self.limits.get(job.kind, 1):
                continue
            self._waiting.remove(job)
            try:
                self._running[job] = _Running(job, self._spawn(job))
            except OSError as exc:
                sys.stderr.write(f"hrnn serve: cannot start {job.kind} {job.name}: {exc}\n")
                failed.append(job)
        return failed

    def _spawn(self, job: Job) -> subprocess.Popen:
        log = self._ctx.store.log(job.kind, job.name)
        log.parent.mkdir(parents=True, exist_ok=True)
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        env.setdefault("PYTHONUNBUFFERED", "1")
        with open(log, "ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "tuning.operations.job_main", job.kind, job.name, json.dumps(self.settings)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                cwd=str(self._ctx.workspace.root), start_new_session=True)

    def _terminate(self, ctx, running: _Running, sig: int) -> None:
        """SIGTERM (then SIGKILL to its group) our own child, or the proven holder of an adopted job's lock."""
        if running.process is not None:
            try:
                os.killpg(running.process.pid, sig) if sig == signal.SIGKILL else running.process.send_signal(sig)
            except (ProcessLookupError, PermissionError):
                pass
        else:
            signal_holder(self.kinds[running.job.kind].lock_path(ctx, running.job.name), running.job, sig)
        running.term_sent = time.monotonic()
