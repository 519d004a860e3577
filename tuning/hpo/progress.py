"""Progress of an experiment: one line per trial result, completion or error."""

from __future__ import annotations

from typing import Any

PROGRESS: dict[str, Any] = {"stream": None}  # set by run_hpo for the duration of Tuner.fit


def progress_callback(objective: str):
    from ray.tune import Callback

    class ProgressTable(Callback):
        """One line per trial result/completion/error to run_hpo's progress_stream (none when quiet).

        The stream lives in a module global, not on the callback: Tune pickles the callbacks with the
        experiment (for restore) and a stream cannot be pickled.
        """

        def __init__(self, objective: str):
            self.objective = objective

        def _line(self, trial, status: str, result: dict | None = None) -> None:
            stream = PROGRESS.get("stream")
            if stream is None:
                return
            result = result if result is not None else (trial.last_result or {})
            params = " ".join(f"{k}={v}" for k, v in sorted((trial.config or {}).items()))
            value = result.get(self.objective)
            score = f"{self.objective} {value:.4f}" if isinstance(value, (int, float)) else f"{self.objective} -"
            epoch = result.get("epoch", "-")
            where = f"{result.get('device', '?')} @ {result.get('node_ip', '?')}/{str(result.get('node', '?'))[:8]}"
            stream.write(f"[hpo] {trial.trial_id:<14} {params:<48} epoch {epoch:>3}  {score}  "
                         f"{status:<10} {where}\n")
            stream.flush()

        def on_trial_result(self, iteration, trials, trial, result, **info):
            self._line(trial, "RUNNING", result)

        def on_trial_complete(self, iteration, trials, trial, **info):
            self._line(trial, "TERMINATED")

        def on_trial_error(self, iteration, trials, trial, **info):
            self._line(trial, "ERROR")

    return ProgressTable(objective)


def trial_dirname(trial) -> str:
    return trial.trial_id
