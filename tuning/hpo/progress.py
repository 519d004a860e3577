"""Progress of an experiment on stderr: a line per trial result, and after each finished trial
``k/N trials``, the best objective so far, the elapsed time and an estimate of the time left."""

from __future__ import annotations

import time
from typing import TextIO


def clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Writes to ``stream`` (None: silent). A resumed experiment counts the trials it already had."""

    def __init__(self, stream: TextIO | None, total: int, already_done: int = 0):
        self.stream, self.total = stream, total
        self.already_done = already_done

    def _write(self, line: str) -> None:
        if self.stream is not None:
            self.stream.write(line + "\n")
            self.stream.flush()

    def result(self, trial, objective: str) -> None:
        last = trial.last
        params = " ".join(f"{k}={v}" for k, v in sorted(trial.params.items()))
        value = last.get(objective)
        score = f"{objective} {value:.4f}" if isinstance(value, (int, float)) else f"{objective} -"
        where = f"{last.get('device', '?')} @ {last.get('node_ip', '?')}/{str(last.get('node', '?'))[:8]}"
        self._write(f"[hpo] {trial.trial_id:<10} {params:<48} epoch {last.get('epoch', '-'):>3}  {score}  "
                    f"RUNNING    {where}")

    def finished(self, trial, state, hpo, started: float) -> None:
        done = [t for t in state.trials if t.finished]
        scored = [t for t in done if t.status == "TERMINATED" and isinstance(t.last.get(hpo.objective_metric), (int, float))]
        sign = 1.0 if hpo.mode == "max" else -1.0
        best = max(scored, key=lambda t: (sign * t.last[hpo.objective_metric], -t.index), default=None)
        best_text = (f"best {hpo.objective_metric} {best.last[hpo.objective_metric]:.4f} ({best.trial_id})"
                     if best else "no result yet")
        elapsed = time.monotonic() - started
        new = max(1, len(done) - self.already_done)
        left = elapsed / new * (self.total - len(done))
        value = trial.last.get(hpo.objective_metric)
        score = f"{value:.4f}" if isinstance(value, (int, float)) else "-"
        status = f"STOPPED@{trial.stopped['epoch']}" if trial.stopped else trial.status  # by early stopping
        self._write(f"[hpo] {trial.trial_id:<10} {status:<10} {hpo.objective_metric} {score}   "
                    f"{len(done)}/{self.total} trials, {best_text}, elapsed {clock(elapsed)}, "
                    f"ETA {clock(left)}" + (f"  ({trial.error})" if trial.error else ""))
