"""The request's ranges as a search space, and the searcher: seeded TPE whose suggestions do not depend on
timing, so a request and a seed give the same trials, resumed or not, however the trials interleave.

Why not Tune's ``OptunaSearch`` as it is: with parallel trials its suggestions depend on the order in which
results arrive, so two runs of one request could tune differently (and TPE repeated a configuration among
three jobs); and its state is restored by unpickling it. Here trial ``i`` (0-based) is suggested by a fresh
Optuna study that knows exactly the results of trials ``0 .. i-P`` (``P = maxParallelTrainingJobs``) and
the parameters of trials ``i-P+1 .. i-1`` as running (TPE's constant liar), with a sampler seeded by
``(seed, i)``. Trial ``i`` therefore waits until trials ``0 .. i-P`` have finished, which keeps at most
``P`` trials running, as the service does. A suggestion equal to an earlier trial's parameters is drawn
again (a few times; then a seeded random unseen point of a finite space), so no configuration is trained
twice while unseen ones remain. A trial that early stopping stopped (:mod:`.stopping`) is told to TPE as
pruned, with its objective by epoch: TPE then ranks it below every trial that ran to the end. The whole
state is the experiment's JSON record (:mod:`.state`).
"""

from __future__ import annotations

import hashlib
import random
import warnings
from itertools import product

from hrnn.recipe import CATEGORICAL, CONTINUOUS, INTEGER

from ..request import HPOConfig
from .state import ExperimentState, TrialState

REDRAWS = 8


def search_space(hpo: HPOConfig) -> dict:
    """Optuna distributions of the request's ranges, keyed by the hyperparameters' plain names (both ends
    of an integer range included, as the service's ranges are)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    space = {}
    for r in hpo.ranges:
        if r.type == INTEGER:
            space[r.hp.name] = IntDistribution(int(r.min_value), int(r.max_value))
        elif r.type == CONTINUOUS:
            space[r.hp.name] = FloatDistribution(float(r.min_value), float(r.max_value))
        elif r.type == CATEGORICAL:
            space[r.hp.name] = CategoricalDistribution(list(r.values))
        else:  # the request parser only makes the three types
            raise ValueError(f"Unknown range type {r.type!r} for {r.name}.")
    return space


def startup_trials(hpo: HPOConfig) -> int:
    """Random trials before TPE models the results: Optuna's default of 10 would make every run of <= 10
    jobs a pure random search."""
    return max(1, min(10, hpo.max_number_of_training_jobs // 2))


def _seed(seed: int, index: int, draw: int) -> int:
    digest = hashlib.sha256(f"hrnn-tpe/{seed}/{index}/{draw}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _key(params: dict) -> tuple:
    return tuple(sorted(params.items()))


def suggest(hpo: HPOConfig, seed: int, trials: list[TrialState], index: int) -> dict:
    """Trial ``index``'s parameters from the trials before it (see the module docstring)."""
    import optuna
    from optuna.trial import TrialState as OptunaState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # "A new study created in memory" etc.
    space = search_space(hpo)
    parallel = hpo.max_parallel_training_jobs
    seen = {_key(t.params) for t in trials[:index]}
    for draw in range(REDRAWS):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optuna's ExperimentalWarning for some sampler options
            sampler = optuna.samplers.TPESampler(seed=_seed(seed, index, draw), n_startup_trials=startup_trials(hpo),
                                                 constant_liar=True)
            study = optuna.create_study(direction="maximize" if hpo.mode == "max" else "minimize", sampler=sampler)
            for t in trials[:index]:
                objective = t.last.get(hpo.objective_metric)
                if t.index <= index - parallel and t.status == "TERMINATED" and t.stopped is not None:
                    study.add_trial(create_trial(params=t.params, distributions=space, state=OptunaState.PRUNED,
                                                 intermediate_values=_curve(t)))
                elif t.index <= index - parallel and t.status == "TERMINATED" and isinstance(objective, (int, float)):
                    study.add_trial(create_trial(params=t.params, distributions=space, value=float(objective)))
                elif t.index <= index - parallel:
                    study.add_trial(create_trial(params=t.params, distributions=space, state=OptunaState.FAIL))
                else:
                    study.add_trial(create_trial(params=t.params, distributions=space, state=OptunaState.RUNNING))
            params = study.ask(space).params
        if _key(params) not in seen:
            return params
    return _unseen(hpo, seed, index, seen) or params


def _curve(trial: TrialState) -> dict[int, float]:
    """A stopped trial's objective by epoch: TPE ranks it below every finished trial, by how far it got."""
    curve = {}
    for entry in trial.history:
        if isinstance(entry.get("epoch"), int) and isinstance(entry.get("objective"), (int, float)):
            curve[entry["epoch"]] = float(entry["objective"])
    return curve


def _unseen(hpo: HPOConfig, seed: int, index: int, seen: set) -> dict | None:
    """A seeded random point of a finite space that no trial has had; None for a continuous or exhausted one."""
    if any(r.type == CONTINUOUS for r in hpo.ranges):
        return None
    axes = [(r.hp.name, list(r.values) if r.type == CATEGORICAL else list(range(int(r.min_value), int(r.max_value) + 1)))
            for r in hpo.ranges]
    size = 1
    for _, values in axes:
        size *= len(values)
    if size > 100_000:
        return None
    fresh = [p for p in (dict(zip([n for n, _ in axes], combo)) for combo in product(*(v for _, v in axes)))
             if _key(p) not in seen]
    return random.Random(_seed(seed, index, REDRAWS)).choice(fresh) if fresh else None


def ready(state: ExperimentState, index: int, parallel: int) -> bool:
    """Trial ``index`` may start once every trial up to ``index - parallel`` has finished."""
    return all(t.finished for t in state.trials[:max(0, index - parallel + 1)])
