"""What an operation runs against: the workspace, its records, the job runner and the loaded campaigns.

One object, built once per server (or per job process), so that operations are plain functions of
``(service, request)`` and a front end (the HTTP endpoint, a job, a test) only builds a :class:`Service`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..workspace import Workspace
from .campaigns import DEFAULT_MAX_CAMPAIGNS, CampaignModels
from .jobs import JobRunner
from .store import Store


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
        """Watch jobs, and take up what a previous server left: unfinished jobs and loaded campaigns."""
        from . import batch_jobs, campaigns, imports, versions

        self.workspace.root.mkdir(parents=True, exist_ok=True)
        self.jobs.start()
        for module in (imports, versions, batch_jobs, campaigns):
            module.resume(self)

    def close(self) -> None:
        self.jobs.close()
