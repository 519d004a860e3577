"""The request's ranges as a Ray Tune search space, and the seeded searcher (Optuna's TPE)."""

from __future__ import annotations

import warnings

from hrnn.recipe import CATEGORICAL, CONTINUOUS, INTEGER

from ..request import HPOConfig


def search_space(hpo: HPOConfig) -> dict:
    """Tune search space of the request's ranges, keyed by the hyperparameters' plain names."""
    from ray import tune

    space = {}
    for r in hpo.ranges:
        if r.type == INTEGER:
            space[r.hp.name] = tune.randint(int(r.min_value), int(r.max_value) + 1)  # inclusive max
        elif r.type == CONTINUOUS:
            space[r.hp.name] = tune.uniform(float(r.min_value), float(r.max_value))
        elif r.type == CATEGORICAL:
            space[r.hp.name] = tune.choice(list(r.values))
        else:  # the request parser only makes the three types
            raise ValueError(f"Unknown range type {r.type!r} for {r.name}.")
    return space


def make_searcher(hpo: HPOConfig, seed: int):
    """Seeded TPE (see the module docstring); Tune adds the ConcurrencyLimiter itself."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n_startup = max(1, min(10, hpo.max_number_of_training_jobs // 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optuna's ExperimentalWarning for some sampler options
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup)
    return OptunaSearch(sampler=sampler)
