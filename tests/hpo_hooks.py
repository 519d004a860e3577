"""Test hooks for HPO trials (``run_hpo(epoch_hook=...)``): they live here, not in the production trial.

Ray pickles them into the trial workers by value (:func:`register`), so the workers need not import tests/.
"""

from __future__ import annotations

import os
import random
import sys
import time
from dataclasses import dataclass


def register() -> None:
    """Pickle this module's hooks by value: Ray's workers cannot import the tests directory."""
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])


@dataclass(frozen=True)
class SleepEachEpoch:
    """Makes each epoch last at least ``seconds`` longer (a driver can then be killed mid-trial)."""

    seconds: float

    def __call__(self, epoch: int, trial_id: str) -> None:
        time.sleep(self.seconds)


@dataclass(frozen=True)
class JitterEachEpoch:
    """Makes each epoch last a random extra 0 to ``seconds`` (unseeded): trials finish in a different order
    from one run to the next, as on machines of different speeds."""

    seconds: float

    def __call__(self, epoch: int, trial_id: str) -> None:
        time.sleep(random.uniform(0.0, self.seconds))


@dataclass(frozen=True)
class FailOnceAt:
    """Raises in each trial once, at ``epoch``; a marker file per trial in ``marker_dir`` records it."""

    epoch: int
    marker_dir: str
    sleep: float = 0.0  # seconds per epoch, so that trials running side by side overlap in time

    def __call__(self, epoch: int, trial_id: str) -> None:
        time.sleep(self.sleep)
        if epoch != self.epoch:
            return
        marker = os.path.join(self.marker_dir, f"{trial_id}.failed")
        if not os.path.exists(marker):
            open(marker, "w").close()
            raise RuntimeError(f"injected failure of trial {trial_id} at epoch {epoch}")


@dataclass(frozen=True)
class FailAt:
    """Raises in every trial at ``epoch``, every time (the trial ends in ERROR)."""

    epoch: int

    def __call__(self, epoch: int, trial_id: str) -> None:
        if epoch == self.epoch:
            raise RuntimeError(f"injected failure of trial {trial_id} at epoch {epoch}")
