"""What an operation runs against: the workspace (and its one store), what the caller may reach, where long
work runs, how versions train, and the loaded models.

One object per front end: the command line builds one per invocation (work runs inline, any local path is
reachable unless ``--data-dir`` narrows it), the endpoint one per server (work runs in processes of their
own, local paths only under ``--data-dir``). Every rule lives in the operations and the modules they call;
the context only carries the settings that differ.
"""

from __future__ import annotations

import sys
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable

from ..locations import Access
from ..run_options import RunOptions
from ..workspace import Workspace

DEFAULT_MAX_CAMPAIGNS = 16


def _stderr(text: str) -> None:
    sys.stderr.write(text.rstrip("\n") + "\n")


@dataclass
class Context:
    workspace: Workspace
    runner: Any  # jobs.InlineRunner or jobs.BackgroundRunner
    access: Access = field(default_factory=Access)
    run_options: RunOptions = field(default_factory=RunOptions)
    origin: str = "cli"  # "cli" or "endpoint": recorded with each version (who made it)
    resume_same_command: bool = True  # CreateSolutionVersion resumes this origin's unfinished version
    max_campaigns: int = DEFAULT_MAX_CAMPAIGNS
    note: Callable[[str], None] = _stderr  # what the caller should know (progress, ignored members)
    local: dict = field(default_factory=dict)  # this call's command-line options outside the service's shape
    models: Any = None  # campaigns.ModelCache
    live: Any = None  # tuning.live.registry.LiveRegistry: event logs, live models, trackers
    recommend: Callable | None = None  # (model, user id, numResults) -> row; None: score this call alone

    def __post_init__(self):
        if self.models is None:
            from .campaigns import ModelCache

            self.models = ModelCache()
        if self.live is None:
            from ..live.registry import LiveRegistry

            self.live = LiveRegistry()

    @property
    def store(self):
        return self.workspace.store

    @classmethod
    def from_settings(cls, settings: dict, runner) -> "Context":
        """The context :meth:`settings` describes (a job process's)."""
        roots = settings["roots"]
        workspace = Workspace.at(settings["workspace"], settings["region"], settings["account"])
        access = Access(None if roots is None else tuple(Path(r) for r in roots), workspace.root,
                        settings["s3_endpoint"])
        return cls(workspace, runner, access, RunOptions(**settings["run_options"]), origin=settings["origin"])

    def settings(self) -> dict:
        """What a job process needs to build the same context (JSON)."""
        return {"workspace": str(self.workspace.root), "region": self.workspace.identity.region,
                "account": self.workspace.identity.account,
                "roots": None if self.access.roots is None else [str(r) for r in self.access.roots],
                "s3_endpoint": self.access.s3_endpoint, "run_options": self.run_options.to_dict(),
                "origin": self.origin}
