"""Progress of a single model's training on stderr: per epoch its loss, the training rate and an estimate of
the time left. An interactive terminal gets a tqdm bar (tqdm comes with Optuna); a file or pipe gets one
line per epoch, which logs read better than carriage returns."""

from __future__ import annotations

import sys
import time

from .hpo.progress import clock


class EpochProgress:
    def __init__(self, total: int, quiet: bool = False, stream=None):
        self.total, self.quiet = total, quiet
        self.stream = stream or sys.stderr
        self.first: int | None = None
        self.started = time.monotonic()
        self.bar = None
        if not quiet and hasattr(self.stream, "isatty") and self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="epoch", file=self.stream, dynamic_ncols=True, leave=True)

    def epoch(self, record: dict, trainer=None) -> None:
        if self.quiet:
            return
        epoch = int(record["epoch"])
        if self.first is None:
            self.first = epoch
            if epoch > 1:
                self._write(f"resuming after epoch {epoch - 1} (from the checkpoint)")
                if self.bar is not None:
                    self.bar.update(epoch - 1)
        rate = float(record.get("events_per_second", 0.0))
        if self.bar is not None:
            self.bar.set_postfix_str(f"loss {float(record['loss']):.4f}, {rate:,.0f} events/s")
            self.bar.update(1)
            return
        done = epoch - self.first + 1
        elapsed = time.monotonic() - self.started
        left = elapsed / done * (self.total - epoch)
        self._write(f"epoch {epoch}/{self.total}  loss {float(record['loss']):.4f}  {rate:,.0f} events/s  "
                    f"{float(record.get('seconds', 0.0)):.1f}s  elapsed {clock(elapsed)}  ETA {clock(left)}")

    def _write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
