"""What a finished (or resumed) experiment produced: one record per trial, the best trial, its checkpoint,
all read from the experiment's JSON record (:mod:`.state`)."""

from __future__ import annotations

import logging
import math
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field

from hrnn.errors import ServiceError
from hrnn.hyperparameters import HyperParameterValues
from hrnn.recipe import ALGORITHM

from ..request import OFFLINE_METRICS, SolutionRequest
from .state import ExperimentState, TrialState
from .trial import copy_checkpoint

BEST_CHECKPOINT_DIRNAME = "best_checkpoint"


class HPOError(ServiceError):
    """The HPO run produced no usable trial (every trial failed); ``message`` says why."""

    type_name = "HPOFailedException"


@dataclass
class TrialRecord:
    trial_id: str
    params: dict[str, str]  # the recipe's algorithm hyperparameters of this trial, as wire strings
    objective: float | None  # the objective metric after the trial's last epoch
    metrics: dict[str, float]  # every offline metric after the last epoch (validation users)
    epochs: int
    seconds: float  # wall time inside the trial, summed over retries
    device: str  # "cpu", "cuda:0 (CUDA_VISIBLE_DEVICES=1)", "cpu (CUDA_VISIBLE_DEVICES=0)" (GPU id, no CUDA)
    node: str  # Ray node id
    status: str  # "TERMINATED" | "ERROR"
    history: list[dict] = field(default_factory=list)  # one entry per report, in order (see _history)
    node_ip: str = ""
    cuda_visible_devices: str | None = None  # as Ray set it in the trial's process (None: not set)
    error: str | None = None
    started_at: float | None = None  # unix time the trial (its last attempt) started
    ended_at: float | None = None  # unix time of its last report
    stopped_at: int | None = None  # the epoch early stopping stopped it after (None: not stopped)
    stop_reason: str | None = None
    peak_epoch: int | None = None  # the (first) epoch of its best objective

    @property
    def stopped(self) -> bool:
        return self.stopped_at is not None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class HPOResult:
    best: TrialRecord
    best_hyperparameters: HyperParameterValues  # every recipe hyperparameter of the best trial, typed
    best_checkpoint: str  # local directory holding the best trial's checkpoint.pt
    trials: list[TrialRecord]
    experiment_path: str

    @property
    def training_seconds(self) -> float:
        return float(sum(t.seconds for t in self.trials))

    @property
    def training_hours(self) -> float:
        return self.training_seconds / 3600.0

    @property
    def num_errors(self) -> int:
        return sum(t.status == "ERROR" for t in self.trials)

    def tuned_hpo_params(self) -> dict:
        """``tunedHPOParams`` of DescribeSolutionVersion: the best trial's algorithm hyperparameters."""
        return {"algorithmHyperParameters": dict(self.best.params)}


def collect_results(state: ExperimentState, request: SolutionRequest, base: HyperParameterValues,
                    experiment: tuple[str, object], is_local: bool, best_checkpoint_dir: str | None) -> HPOResult:
    """The trial records, the best trial and a local copy of its checkpoint, from the experiment's record."""
    hpo = request.hpo
    records = [_record(t, request, base.replace(**t.params)) for t in state.trials]
    scored = [r for r in records if r.status == "TERMINATED" and r.objective is not None and math.isfinite(r.objective)]
    if not scored:
        reasons = "; ".join(f"{r.trial_id}: {r.error}" for r in records if r.error) or "no trial reported"
        raise HPOError(f"HPO failed: none of the {len(records)} trials produced an objective ({reasons})"[:2000])
    best = best_record(scored, hpo.mode == "max")
    trial = state.trials[records.index(best)]
    if trial.checkpoint is None:
        raise HPOError(f"HPO failed: the best trial {best.trial_id} has no checkpoint.")
    experiment_path = experiment[0]
    if best_checkpoint_dir is None:
        best_checkpoint_dir = (os.path.join(experiment_path, BEST_CHECKPOINT_DIRNAME) if is_local
                               else tempfile.mkdtemp(prefix="hrnn-best-"))
    copy_checkpoint(experiment, trial.checkpoint, best_checkpoint_dir)
    for t in state.trials:
        if t.status == "TERMINATED" and t.checkpoint:
            prune_older_checkpoints(experiment, t.checkpoint)
    return HPOResult(best=best, best_hyperparameters=base.replace(**trial.params), best_checkpoint=best_checkpoint_dir,
                     trials=records, experiment_path=experiment_path)


def best_record(scored: list[TrialRecord], maximize: bool) -> TrialRecord:
    """The trial with the best objective. A stopped trial's objective is the one it stopped with, so it is
    the best only when that objective is; among equal objectives the trial that trained more epochs wins,
    then the earlier trial."""
    sign = 1.0 if maximize else -1.0
    ranked = max(enumerate(scored), key=lambda pair: (sign * pair[1].objective, pair[1].epochs, -pair[0]))
    return ranked[1]


def peak_epoch(history: list[dict], maximize: bool) -> int | None:
    """The first epoch at which a learning curve's objective is at its best (a retried epoch's last report
    counts)."""
    by_epoch: dict[int, float] = {}
    for entry in history:
        epoch, value = entry.get("epoch"), entry.get("objective")
        if isinstance(epoch, int) and isinstance(value, (int, float)) and math.isfinite(value):
            by_epoch[epoch] = float(value)
    if not by_epoch:
        return None
    sign = 1.0 if maximize else -1.0
    return max(sorted(by_epoch), key=lambda e: sign * by_epoch[e])  # max keeps the first of equals


def prune_older_checkpoints(experiment: tuple[str, object], keep: str) -> None:
    """Delete a finished trial's checkpoints other than its final one (earlier attempts, or one that a
    worker wrote after its driver was killed)."""
    import pyarrow.fs as pafs

    from .fingerprint import filesystem

    try:
        fs, root = filesystem(*experiment)
        trial = keep.split("/")[1]
        attempts = [i for i in fs.get_file_info(pafs.FileSelector(root))
                    if i.type == pafs.FileType.Directory and os.path.basename(i.path).startswith("attempt-")]
        for attempt in attempts:
            trial_dir = f"{attempt.path}/{trial}"
            if fs.get_file_info(trial_dir).type != pafs.FileType.Directory:
                continue
            for info in fs.get_file_info(pafs.FileSelector(trial_dir)):
                name = os.path.basename(info.path)
                if (info.type == pafs.FileType.Directory and re.fullmatch(r"checkpoint_\d+", name)
                        and info.path.rstrip("/") != f"{root}/{keep}"):
                    fs.delete_dir(info.path)
    except Exception as exc:  # noqa: BLE001 - tidying only
        logging.getLogger(__name__).warning("could not prune old checkpoints of %s: %s", keep, exc)


def _record(trial: TrialState, request: SolutionRequest, values: HyperParameterValues) -> TrialRecord:
    last = trial.last
    objective = last.get(request.hpo.objective_metric)
    stopped = trial.stopped or {}
    return TrialRecord(
        trial_id=trial.trial_id,
        params=values.to_wire(ALGORITHM),
        objective=float(objective) if isinstance(objective, (int, float)) else None,
        metrics={k: float(last[k]) for k in OFFLINE_METRICS if isinstance(last.get(k), (int, float))},
        epochs=int(last.get("epoch", 0) or 0),
        seconds=float(last.get("trial_seconds", 0.0) or 0.0),
        device=str(last.get("device", "")),
        node=str(last.get("node", "")),
        status=trial.status if trial.status in ("TERMINATED", "ERROR") else "ERROR",
        history=[dict(h) for h in trial.history],
        node_ip=str(last.get("node_ip", "")),
        cuda_visible_devices=_optional_str(last.get("cuda_visible_devices")),
        error=trial.error,
        started_at=_optional_float(last.get("started_at")),
        ended_at=_optional_float(last.get("ended_at")),
        stopped_at=stopped.get("epoch"),
        stop_reason=stopped.get("reason"),
        peak_epoch=peak_epoch(trial.history, request.hpo.mode == "max"),
    )


def _optional_float(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _optional_str(value) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)
