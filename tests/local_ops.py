"""The operations as the ``hrnn`` command runs them (work inline), called in-process by tests."""

from __future__ import annotations

from pathlib import Path

from tuning.locations import Access
from tuning.operations import Context, call, inline_runner
from tuning.run_options import RunOptions
from tuning.workspace import Workspace


class Local:
    def __init__(self, root: str | Path, device: str = "cpu", quiet: bool = True, data_dirs=None, **options):
        self.workspace = Workspace.at(root)
        self.options = RunOptions(device=device, quiet=quiet, **options)
        self.access = Access.confined(data_dirs, self.workspace.root) if data_dirs else Access(None, self.workspace.root)
        self.notes: list[str] = []

    def context(self, local: dict | None = None, options: RunOptions | None = None) -> Context:
        return Context(self.workspace, inline_runner(), self.access, options or self.options, local=dict(local or {}),
                       note=self.notes.append)

    def __call__(self, operation: str, local: dict | None = None, options: RunOptions | None = None,
                 service: str = "personalize", **request):
        return call(self.context(local, options), operation, request, service)
