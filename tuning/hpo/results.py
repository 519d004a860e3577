"""What a finished (or resumed) experiment produced: one record per trial, the best trial, its checkpoint."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field

from hrnn.errors import ServiceError
from hrnn.hyperparameters import HyperParameterValues
from hrnn.recipe import ALGORITHM

from ..request import OFFLINE_METRICS, SolutionRequest
from .tune_state_repair import prune_stale_checkpoints

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


def collect_results(grid, request: SolutionRequest, base: HyperParameterValues, experiment_path: str, is_local: bool,
             best_checkpoint_dir: str | None) -> HPOResult:
    hpo = request.hpo
    records, checkpoints, values = [], {}, {}
    for result in grid:
        trial_values = base.replace(**(result.config or {}))
        record = _record(result, request, trial_values)
        records.append(record)
        checkpoints[record.trial_id] = result.checkpoint
        values[record.trial_id] = trial_values
        if result.error is None:
            prune_stale_checkpoints(result)
    scored = [r for r in records if r.objective is not None and math.isfinite(r.objective)]
    if not scored:
        reasons = "; ".join(f"{r.trial_id}: {r.error}" for r in records if r.error) or "no trial reported"
        raise HPOError(f"HPO failed: none of the {len(records)} trials produced an objective ({reasons})"[:2000])
    sign = 1.0 if hpo.mode == "max" else -1.0
    best = max(scored, key=lambda r: sign * r.objective)  # first of equals wins (trial order)
    best_hyperparameters = values[best.trial_id]
    checkpoint = checkpoints[best.trial_id]
    if checkpoint is None:
        raise HPOError(f"HPO failed: the best trial {best.trial_id} has no checkpoint.")
    if best_checkpoint_dir is None:
        best_checkpoint_dir = (os.path.join(experiment_path, BEST_CHECKPOINT_DIRNAME) if is_local
                               else tempfile.mkdtemp(prefix="hrnn-best-"))
    shutil.rmtree(best_checkpoint_dir, ignore_errors=True)
    checkpoint.to_directory(best_checkpoint_dir)
    return HPOResult(best=best, best_hyperparameters=best_hyperparameters, best_checkpoint=best_checkpoint_dir,
                     trials=records, experiment_path=experiment_path)


def _record(result, request: SolutionRequest, values: HyperParameterValues) -> TrialRecord:
    metrics = dict(result.metrics or {})
    params = values.to_wire(ALGORITHM)
    objective = metrics.get(request.hpo.objective_metric)
    return TrialRecord(
        trial_id=str(metrics.get("trial_id") or os.path.basename(result.path)),
        params=params,
        objective=float(objective) if isinstance(objective, (int, float)) else None,
        metrics={k: float(metrics[k]) for k in OFFLINE_METRICS if isinstance(metrics.get(k), (int, float))},
        epochs=int(metrics.get("epoch", 0) or 0),
        seconds=float(metrics.get("trial_seconds", 0.0) or 0.0),
        device=str(metrics.get("device", "")),
        node=str(metrics.get("node", "")),
        status="ERROR" if result.error is not None else "TERMINATED",
        history=_history(result, request.hpo.objective_metric),
        node_ip=str(metrics.get("node_ip", "")),
        cuda_visible_devices=_optional_str(metrics.get("cuda_visible_devices")),
        error=None if result.error is None else f"{type(result.error).__name__}: {result.error}"[:1000],
        started_at=_optional_float(metrics.get("started_at")),
        ended_at=_optional_float(metrics.get("ended_at")),
    )


HISTORY_COLUMNS = ("epoch", "loss", "epoch_seconds", "trial_seconds", "pid", "restored_from")


def _history(result, objective: str) -> list[dict]:
    """One entry per report as Tune logged it: epoch, loss, objective, seconds, pid, restored_from (the
    epoch of the checkpoint that attempt started from; 0 = from scratch). A retried epoch appears twice."""
    try:
        frame = result.metrics_dataframe
    except Exception:  # noqa: BLE001 - no result files (a trial that never reported)
        return []
    if frame is None or len(frame) == 0:
        return []
    rows = []
    for row in frame.to_dict("records"):
        entry = {"objective": _optional_float(row.get(objective))}
        for key in HISTORY_COLUMNS:
            value = row.get(key)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            entry[key] = int(value) if key in ("epoch", "pid", "restored_from") else float(value)
        rows.append(entry)
    return rows


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
