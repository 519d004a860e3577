"""Progress output of training: a bar per epoch on an interactive stderr, and a line per epoch."""

from __future__ import annotations

import sys

from .trainer import EpochStats


def print_progress(stats: EpochStats, total_epochs: int, extra: str = "", stream=sys.stderr) -> None:
    stream.write(
        f"epoch {stats.epoch}/{total_epochs}  loss {stats.loss:.4f}  "
        f"{stats.events_per_second:,.0f} events/s  {stats.seconds:.1f}s{('  ' + extra) if extra else ''}\n"
    )
    stream.flush()



class EpochBar:
    """A one-line progress bar for an epoch on an interactive stderr (nothing when stderr is a file)."""

    WIDTH = 30

    def __init__(self, epoch: int, total: int, stream=None):
        self.epoch, self.total = epoch, total
        self.stream = stream or sys.stderr
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.shown = -1

    def __call__(self, done: int, windows: int) -> None:
        if not self.enabled:
            return
        filled = self.WIDTH * done // max(windows, 1)
        if filled == self.shown and done < windows:
            return
        self.shown = filled
        self.stream.write(f"\repoch {self.epoch}/{self.total} [{'#' * filled}{'.' * (self.WIDTH - filled)}] "
                          f"{100 * done // max(windows, 1):3d}%")
        if done >= windows:
            self.stream.write("\r\033[K")
        self.stream.flush()
