"""Keeping the experiment's JSON record during a Tune run: the searcher that hands out trials, the callback
that records their results and checkpoints, and the stopper that ends the run on SIGINT/SIGTERM.

Why together: the three see the same :class:`~.state.ExperimentState` and write it after every change, so
a driver killed at any moment leaves a record that a resume can trust (see :mod:`.state`).
"""

from __future__ import annotations

import logging
import time

from .. import interrupts
from ..request import OFFLINE_METRICS, HPOConfig
from .progress import Progress
from .search import ready, suggest
from .state import CHECKPOINT_PATH, ERROR, FINISHED, RUNNING, TERMINATED, ExperimentState, StateFile, TrialState
from .stopping import EarlyStopping, decide

INDEX, RESUME, STOP_AT = "hrnn_index", "hrnn_resume", "hrnn_stop_at"  # private keys of a trial's config
HISTORY_KEYS = ("epoch", "loss", "epoch_seconds", "trial_seconds", "pid", "restored_from", "ended_at")
RESULT_KEYS = ("epoch", "loss", "events_per_second", "epoch_seconds", "trial_seconds", "device", "torch_device",
               "cuda_visible_devices", "node", "node_ip", "pid", "restored_from", "started_at", "ended_at")


class Book:
    def __init__(self, state: ExperimentState, file: StateFile, hpo: HPOConfig, seed: int, epochs: int,
                 progress: Progress, early_stopping: EarlyStopping | None = None):
        self.state, self.file, self.hpo, self.seed, self.epochs = state, file, hpo, seed, epochs
        self.progress, self.early_stopping = progress, early_stopping
        self.queue = [t for t in state.trials if not t.finished]  # unfinished trials of an earlier run first
        self.started = time.monotonic()

    def save(self) -> None:
        self.file.write(self.state)

    # ---- the searcher's side ---------------------------------------------------------------------
    def next_config(self) -> dict | None | str:
        """A trial's config, None (not yet: an earlier trial must finish first) or "FINISHED"."""
        if self.queue:
            trial = self.queue.pop(0)
        else:
            index = len(self.state.trials)
            if index >= self.hpo.max_number_of_training_jobs:
                return "FINISHED"
            if not ready(self.state, index, self.hpo.max_parallel_training_jobs):
                return None
            trial = TrialState(index=index, params=suggest(self.hpo, self.seed, self.state.trials, index))
            self.state.trials.append(trial)
        trial.status = RUNNING
        self.save()
        # A trial stopped before the driver could mark it finished trains no further epoch when it resumes.
        stop_at = trial.stopped["epoch"] if trial.stopped else None
        return {**trial.params, INDEX: trial.index, RESUME: trial.checkpoint, STOP_AT: stop_at}

    # ---- the scheduler's side --------------------------------------------------------------------
    def should_stop(self, tune_trial, result: dict) -> bool:
        """Early stopping's decision for a trial's result (:mod:`.stopping`), recorded when it stops it."""
        trial = self.trial(tune_trial)
        if trial is None or self.early_stopping is None:
            return False
        epoch = result.get("epoch")
        if trial.stopped is not None:  # decided before (a resumed trial reports its last epoch again)
            return isinstance(epoch, int) and epoch >= trial.stopped["epoch"]
        value = result.get(self.hpo.objective_metric)
        stop = decide(self.early_stopping, [t.history for t in self.state.trials], trial.index,
                      self.hpo.max_parallel_training_jobs, self.epochs, epoch,
                      float(value) if isinstance(value, (int, float)) else None, self.hpo.mode == "max")
        if stop is None:
            return False
        trial.stopped = stop
        self.save()
        return True

    # ---- the callback's side ---------------------------------------------------------------------
    def trial(self, tune_trial) -> TrialState | None:
        index = (tune_trial.config or {}).get(INDEX)
        return self.state.trials[index] if isinstance(index, int) and 0 <= index < len(self.state.trials) else None

    def on_result(self, tune_trial, result: dict) -> None:
        trial = self.trial(tune_trial)
        if trial is None:
            return
        objective = self.hpo.objective_metric
        metrics = {k: float(result[k]) for k in OFFLINE_METRICS if isinstance(result.get(k), (int, float))}
        trial.last = {**metrics, **{k: result[k] for k in RESULT_KEYS if result.get(k) is not None}}
        entry = {"objective": metrics.get(objective)}
        entry.update({k: result[k] for k in HISTORY_KEYS if result.get(k) is not None})
        entry["metrics"] = metrics  # every offline metric by epoch: another objective's curve can be read back
        trial.history.append(entry)
        self.save()
        self.progress.result(trial, objective)

    def on_checkpoint(self, tune_trial, checkpoint) -> None:
        trial = self.trial(tune_trial)
        path = str(getattr(checkpoint, "path", "")).rstrip("/")
        relative = path[len(self.file.dir) + 1:] if path.startswith(self.file.dir + "/") else ""
        if trial is not None and CHECKPOINT_PATH.fullmatch(relative):
            trial.checkpoint = relative
            self.save()

    def on_complete(self, tune_trial) -> None:
        trial = self.trial(tune_trial)
        if trial is None:
            return
        # A trial Tune stopped because of a signal is unfinished (resumable), unless it had trained all
        # its epochs anyway or early stopping had stopped it at the epoch it reported last.
        epoch = int(trial.last.get("epoch", 0))
        if (interrupts.requested() is None or epoch >= self.epochs
                or (trial.stopped is not None and epoch >= trial.stopped["epoch"])):
            trial.status = TERMINATED
            self.save()
            self.progress.finished(trial, self.state, self.hpo, self.started)

    def on_error(self, tune_trial) -> None:
        trial = self.trial(tune_trial)
        tune_trial.run_metadata.pickled_error_filename = None  # never unpickle a trial's error.pkl
        if trial is None:
            return
        trial.status = ERROR
        trial.error = _error_text(tune_trial)
        self.save()
        self.progress.finished(trial, self.state, self.hpo, self.started)

    def done(self) -> bool:
        return len(self.state.trials) == self.hpo.max_number_of_training_jobs and all(
            t.status in FINISHED for t in self.state.trials)


def _error_text(tune_trial) -> str:
    """The last line of Tune's text error file (error.txt, just written by this driver), never its pickle."""
    try:
        with open(tune_trial.error_file, encoding="utf-8", errors="replace") as fh:
            text = fh.read()[-20000:]
    except (OSError, TypeError):  # no file: no detail
        text = ""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip() and not ln.startswith("Failure #")]
    return (lines[-1] if lines else "the trial failed")[:1000]


def tune_plugins(book: Book):
    """(searcher, callback, stopper, scheduler) for ``tune.Tuner``, bound to ``book``."""
    from ray import tune
    from ray.tune.schedulers import FIFOScheduler, TrialScheduler
    from ray.tune.search import Searcher

    class BookSearcher(Searcher):
        def __init__(self):
            super().__init__(metric=book.hpo.objective_metric, mode=book.hpo.mode)

        def set_search_properties(self, metric, mode, config, **spec):
            return True

        def suggest(self, trial_id):
            config = book.next_config()
            return Searcher.FINISHED if config == "FINISHED" else config

        def on_trial_complete(self, trial_id, result=None, error=False):
            pass  # the callback records it, with the checkpoint

        def save(self, checkpoint_path):
            pass  # the record is the state; Tune's pickle of a searcher is never written nor read

        def restore(self, checkpoint_path):
            pass

    class BookCallback(tune.Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            book.on_result(trial, result)

        def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
            book.on_checkpoint(trial, checkpoint)

        def on_trial_complete(self, iteration, trials, trial, **info):
            book.on_complete(trial)

        def on_trial_error(self, iteration, trials, trial, **info):
            book.on_error(trial)

        def on_experiment_end(self, trials, **info):
            for t in trials:  # Tune's result grid would otherwise unpickle error.pkl from storage
                t.run_metadata.pickled_error_filename = None

    class SignalStopper(tune.Stopper):
        def __call__(self, trial_id, result):
            return interrupts.requested() is not None

        def stop_all(self):
            return interrupts.requested() is not None

    class RungScheduler(FIFOScheduler):
        """Trials in the searcher's order; early stopping's rungs (:mod:`.stopping`) decide from the record."""

        def on_trial_result(self, tune_controller, trial, result):
            return TrialScheduler.STOP if book.should_stop(trial, result) else TrialScheduler.CONTINUE

    logging.getLogger("ray.tune.search").setLevel(logging.WARNING)
    return BookSearcher(), BookCallback(), SignalStopper(), RungScheduler()
