"""Reading a version's trials the way the report needs them: tolerant of missing, null or non-numeric values,
since a report must still render for failed and half-finished searches."""

from __future__ import annotations

import math
from typing import Any

from ..request.model import DEFAULT_OBJECTIVE_METRIC, DEFAULT_OBJECTIVE_TYPE

DEFAULT_OBJECTIVE = (DEFAULT_OBJECTIVE_METRIC, DEFAULT_OBJECTIVE_TYPE)


def number(value: Any) -> float | None:
    """A finite float, or None (missing, null, NaN, a string that is not a number)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def objective_of(solution_config: dict | None) -> tuple[str, str]:
    """(metric name, "Maximize" | "Minimize") from the version's solutionConfig, with the HPO defaults."""
    hpo = (solution_config or {}).get("hpoConfig") or {}
    objective = hpo.get("hpoObjective") or {}
    name = objective.get("metricName") or DEFAULT_OBJECTIVE[0]
    kind = objective.get("type") or DEFAULT_OBJECTIVE[1]
    return str(name), ("Minimize" if str(kind).lower() == "minimize" else "Maximize")


def best_trial(trials: list[dict], maximize: bool = True) -> dict | None:
    """The trial the version marked ``role: best``; else the one with the best finite objective (the first
    of equals); a lone trial without one is still "the" trial of a version without HPO."""
    marked = [t for t in trials if t.get("role") == "best"]
    if len(marked) == 1:
        return marked[0]
    scored = [t for t in trials if number(t.get("objective")) is not None]
    if scored:
        sign = 1.0 if maximize else -1.0
        return max(scored, key=lambda t: sign * number(t["objective"]))
    return trials[0] if len(trials) == 1 else None


def _epoch_objective(entry: dict, metric: str) -> float | None:
    if "objective" in entry:
        return number(entry.get("objective"))
    return number((entry.get("metrics") or {}).get(metric))


def learning_curve(trial: dict | None, metric: str) -> list[tuple[float, float | None, float | None]]:
    """[(epoch, objective, loss)], the last report of each epoch (a retried epoch is reported twice)."""
    by_epoch: dict[float, tuple[float | None, float | None]] = {}
    for i, entry in enumerate((trial or {}).get("history") or []):
        if not isinstance(entry, dict):
            continue
        epoch = number(entry.get("epoch"))
        epoch = float(i + 1) if epoch is None else epoch
        by_epoch[epoch] = (_epoch_objective(entry, metric), number(entry.get("loss")))
    return [(e, o, l) for e, (o, l) in sorted(by_epoch.items())]


def flatten_trial(trial: dict) -> dict:
    """A trial row as ``trials.json`` has it; nested ``params``/``metrics`` (``TrialRecord.to_dict()``) are
    lifted to the top level where the flat key is absent."""
    row = dict(trial)
    for nested in ("params", "metrics"):
        if isinstance(trial.get(nested), dict):
            for key, value in trial[nested].items():
                row.setdefault(key, value)
    return row
