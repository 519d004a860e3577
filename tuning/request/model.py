"""The typed, frozen result of a CreateSolution request, and the defaults it is filled with.

Why a module of its own: training, the Ray Tune search space and the DescribeSolution echo all read these
objects; they never see the request's JSON. Keeping them apart from the parsing lets those callers import
the types without the validation machinery.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hrnn.evaluation.metrics import SERVICE_METRIC_NAMES
from hrnn.hyperparameters import HyperParameterValues
from hrnn.recipe import ALGORITHM, HyperParameter, Recipe

OFFLINE_METRICS = SERVICE_METRIC_NAMES  # the GetSolutionMetrics keys an hpoObjective may name
OBJECTIVE_TYPES = ("Maximize", "Minimize")
# Chosen by measurement (scripts/bench_hpo_objective.py hpo, README *HPO objective*): of precision@25,
# MRR@25, NDCG@25 and NDCG@10 on the validation interactions, NDCG@10 ranks trials closest to their quality on
# the held-out test users over the service's metrics and the next-item protocol together.
DEFAULT_OBJECTIVE_METRIC = "normalized_discounted_cumulative_gain_at_10"
DEFAULT_OBJECTIVE_TYPE = "Maximize"
DEFAULT_MAX_TRAINING_JOBS = 4
DEFAULT_MAX_PARALLEL_TRAINING_JOBS = 2  # capped at the total, so maxNumberOfTrainingJobs "1" alone is valid
TRAINING_JOBS_LIMIT = 40
PARALLEL_TRAINING_JOBS_LIMIT = 10


@dataclass(frozen=True)
class SearchRange:
    """One hyperparameter's HPO search range; ``name`` is as the user wrote it (``training.bptt``)."""

    name: str
    hp: HyperParameter
    type: str  # "integer" | "continuous" | "categorical"
    min_value: int | float | None = None
    max_value: int | float | None = None
    values: tuple = ()  # categorical: typed values (True/False for recency_mask), in the user's order

    @property
    def wire_values(self) -> tuple[str, ...]:
        return tuple(self.hp.to_wire(v) for v in self.values)


@dataclass(frozen=True)
class HPOConfig:
    objective_metric: str = DEFAULT_OBJECTIVE_METRIC
    objective_type: str = DEFAULT_OBJECTIVE_TYPE  # "Maximize" | "Minimize"
    ranges: tuple[SearchRange, ...] = ()
    max_number_of_training_jobs: int = DEFAULT_MAX_TRAINING_JOBS
    max_parallel_training_jobs: int = DEFAULT_MAX_PARALLEL_TRAINING_JOBS

    @property
    def mode(self) -> str:
        """Ray Tune's ``mode``."""
        return "max" if self.objective_type == "Maximize" else "min"


@dataclass(frozen=True)
class SolutionRequest:
    name: str
    dataset_group_arn: str | None
    recipe: Recipe
    perform_hpo: bool
    perform_automl: bool
    event_type: str | None
    event_value_threshold: float | None
    # Every hyperparameter of the recipe, typed: defaults with the user's fixed values parsed over them.
    # Under HPO the ranged ones are replaced per trial by the searcher's typed suggestions.
    hyperparameters: HyperParameterValues
    hpo: HPOConfig | None = None
    solution_config: dict = field(default_factory=dict)  # the user's solutionConfig, as given
    raw: dict = field(default_factory=dict)  # the whole request, as given

    def algorithm_hyperparameters_wire(self) -> dict[str, str]:
        """The recipe's algorithm-kind hyperparameters as wire strings (``{"bptt": "32", ...}``)."""
        return self.hyperparameters.to_wire(ALGORITHM)
