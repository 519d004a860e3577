"""What an operation runs against: the workspace, its records, the job runner and the loaded campaigns.

One object, built once per server (or per job process), so that operations are plain functions of
``(service, request)`` and a front end (the HTTP endpoint, a job, a test) only builds a :class:`Service`.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..workspace import Workspace
from .campaigns import DEFAULT_MAX_CAMPAIGNS, CampaignModels
from .jobs import JobRunner
from .store import Store


class WorkspaceBusy(Exception):
    """Another server holds the workspace."""


@dataclass
class Service:
    workspace: Workspace
    data_roots: tuple[Path, ...] = ()  # local directories a client may read from and write to
    run_options: dict = field(default_factory=dict)  # RunOptions for trainings (device, max_epochs, ...)
    max_campaigns: int = DEFAULT_MAX_CAMPAIGNS
    job_limits: dict[str, int] | None = None

    def __post_init__(self):
        self.data_roots = tuple(Path(os.path.expanduser(str(p))).resolve() for p in self.data_roots)
        self.store = Store(self.workspace.root)
        self.jobs = JobRunner(self.workspace.root, self.store.log, self.job_limits)
        self.models = CampaignModels(self)

    def start(self) -> None:
        """Watch jobs, and take up what a previous server left: unfinished jobs and loaded campaigns.

        Only one server may run jobs for a workspace (two would both resume the same versions): the first
        holds a lock on ``<workspace>/.serve.lock`` while it runs; a second gets :class:`WorkspaceBusy`.
        """
        from . import batch_jobs, campaigns, imports, versions

        self.workspace.root.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.workspace.root / ".serve.lock", "a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            raise WorkspaceBusy(f"Another hrnn serve already runs on workspace {str(self.workspace.root)!r}.") from None
        self.jobs.start()
        for module in (imports, versions, batch_jobs, campaigns):
            module.resume(self)

    def close(self) -> None:
        self.jobs.close()
        lock = getattr(self, "_lock", None)
        if lock is not None:
            lock.close()  # releases the flock
