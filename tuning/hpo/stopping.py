"""Early stopping of HPO trials: successive halving over epochs (ASHA's rule), decided from finished trials only,
so the same request and seed stop the same trials at the same epochs however fast the machine is.

The rule is Ray Tune's ``AsyncHyperBandScheduler`` (ASHA) rule: rungs at ``grace_period * reduction_factor**k``
epochs; a trial that reaches a rung stops there when its objective is below the ``1 - 1/reduction_factor``
quantile of the objectives recorded at that rung (worse than the best ``1/reduction_factor`` of them), and
continues otherwise (also when nothing is recorded yet). With ``brackets`` above 1 it is HyperBand's
family: trial ``i`` runs in bracket ``i mod brackets``, whose rungs start ``reduction_factor**bracket`` times
later, and is compared only within its bracket.

Why not Tune's ASHA as it is: its rungs hold whatever results have arrived, so with trials running side by
side a decision depends on which trial reported first, and two runs of one request could stop different
trials. Here the results a trial is compared with are those of trials ``0 .. i-P`` (``P =
maxParallelTrainingJobs``), exactly the trials the searcher waits for before it suggests trial ``i``
(:mod:`.search`): they have all finished before trial ``i`` starts, so the comparison set is fixed by the
record alone, never by timing. The first ``P`` trials have nothing to be compared with and always run to
the end. A decision is a pure function of the experiment's JSON record, so a resumed experiment
recomputes it (and keeps the one it recorded, :mod:`.book`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from hrnn.errors import InvalidInputException


@dataclass(frozen=True)
class EarlyStopping:
    """The rule's settings (defaults chosen by ``scripts/bench_hpo_budget.py``; README *HPO on Ray Tune*)."""

    grace_period: int = 1  # epochs before the first rung
    reduction_factor: int = 3  # keep the best 1/reduction_factor at each rung
    brackets: int = 1  # 1: ASHA; more: HyperBand's brackets, trial i in bracket i mod brackets

    def __post_init__(self):
        for name, low in (("grace_period", 1), ("reduction_factor", 2), ("brackets", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidInputException(f"early stopping {name} {value!r} is invalid; expected an integer >= {low}.")

    def bracket(self, index: int) -> int:
        return index % self.brackets

    def milestones(self, epochs: int, bracket: int = 0) -> tuple[int, ...]:
        """The rung epochs of a bracket below ``epochs`` (a trial that reaches ``epochs`` is done anyway)."""
        out, rung = [], self.grace_period * self.reduction_factor ** bracket
        while rung < epochs:
            out.append(rung)
            rung *= self.reduction_factor
        return tuple(out)

    def to_dict(self) -> dict:
        return asdict(self)


def objective_at(history: list[dict], epoch: int) -> float | None:
    """A trial's objective after ``epoch`` (its last report of that epoch: a retried epoch reports twice)."""
    value = None
    for entry in history:
        if entry.get("epoch") == epoch:
            value = entry.get("objective")
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def cutoff(values: list[float], reduction_factor: int) -> float:
    """The objective a trial must reach to continue (values are signed so that higher is better): the
    ``1 - 1/reduction_factor`` quantile of the rung's recorded values, as Tune's ASHA computes it."""
    return float(np.nanpercentile(np.asarray(values, dtype=np.float64), (1.0 - 1.0 / reduction_factor) * 100.0))


def decide(rule: EarlyStopping, histories: list[list[dict]], index: int, parallel: int, epochs: int, epoch: int,
           value: float | None, maximize: bool) -> dict | None:
    """The stop of trial ``index`` after ``epoch`` with objective ``value``, or None (it continues).

    ``histories`` are the per-epoch reports of trials ``0 .. index-1`` (at least ``0 .. index-parallel``);
    only trials ``0 .. index-parallel`` of the same bracket are compared with. Returns what the record
    keeps: the epoch, the rung, the cutoff, how many trials it came from, and a sentence saying why.
    """
    bracket = rule.bracket(index)
    rungs = rule.milestones(epochs, bracket)
    if epoch not in rungs or value is None or not math.isfinite(value):
        return None
    sign = 1.0 if maximize else -1.0
    earlier = [objective_at(histories[j], epoch) for j in range(max(0, index - parallel + 1))
               if rule.bracket(j) == bracket]
    recorded = [sign * v for v in earlier if v is not None]
    if not recorded:
        return None
    bar = cutoff(recorded, rule.reduction_factor)
    if sign * value >= bar:
        return None
    rung = rungs.index(epoch) + 1
    keep = f"1/{rule.reduction_factor}"
    return {"epoch": epoch, "rung": rung, "cutoff": sign * bar, "compared_with": len(recorded),
            "reason": f"stopped after epoch {epoch} (rung {rung} of {len(rungs)}): objective {value:.6g} "
                      f"{'below' if maximize else 'above'} {sign * bar:.6g}, the cutoff for the best {keep} of "
                      f"{len(recorded)} earlier trial(s) at that epoch"}


def check_stop(raw: object) -> bool:
    """Whether a recorded stop has the shape :func:`decide` writes (the record is checked on every read)."""
    if raw is None:
        return True
    if not isinstance(raw, dict) or set(raw) != {"epoch", "rung", "cutoff", "compared_with", "reason"}:
        return False
    ints = all(isinstance(raw[k], int) and not isinstance(raw[k], bool) and raw[k] >= 1
               for k in ("epoch", "rung", "compared_with"))
    number = isinstance(raw["cutoff"], (int, float)) and not isinstance(raw["cutoff"], bool) \
        and math.isfinite(raw["cutoff"])
    return ints and number and isinstance(raw["reason"], str) and len(raw["reason"]) <= 1000


def replay(rule: EarlyStopping | None, histories: list[list[dict]], parallel: int, epochs: int,
           maximize: bool) -> list[dict | None]:
    """Where each of a search's trials would have stopped under ``rule``, from the full learning curves of a
    search that ran without stopping (trials in order; the searcher's suggestions are taken as they were).
    Used by the benchmark to compare rules on the same searches."""
    cut: list[list[dict]] = []
    stops: list[dict | None] = []
    for index, history in enumerate(histories):
        stop = None
        if rule is not None:
            for epoch in sorted({h["epoch"] for h in history if isinstance(h.get("epoch"), int)}):
                stop = decide(rule, cut, index, parallel, epochs, epoch, objective_at(history, epoch), maximize)
                if stop is not None:
                    break
        cut.append([h for h in history if stop is None or h.get("epoch", 0) <= stop["epoch"]])
        stops.append(stop)
    return stops
