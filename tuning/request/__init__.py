"""Parse and validate the service's CreateSolution request into typed, frozen values.

Why this package exists: training, the Ray Tune search space and the DescribeSolution echo all work from
one validated :class:`SolutionRequest`. A bad request therefore fails here, before any compute is spent,
with the service's ``InvalidInputException`` and a message that names the field path, the offending value
(truncated) and what is allowed, never with a traceback in the middle of an HPO run.

Layout, one job per module:

* :mod:`.envelope`: the request's members, types and limits as data, botocore's ``personalize`` model
  plus this project's narrowing (:data:`~.envelope.OVERLAY`), walked by :func:`tuning.shapes.validate`;
* :mod:`.rules`: the rules that relate members, one named function each;
* :mod:`.hyperparameters` and :mod:`.hpo_config`: what only the recipe knows (every hyperparameter fact
  is read from :data:`hrnn.recipe.HRNN_RECIPE`; nothing about one is re-typed here);
* :mod:`.create_solution`: the order in which they run; :mod:`.model`: the typed result;
  :mod:`.loading`: reading the JSON.

The rules are the service's (CreateSolution: https://docs.aws.amazon.com/personalize/latest/dg/API_CreateSolution.html)
plus this project's decisions where the service is silent, documented here:

* JSON ``null`` counts as an absent member. ``name`` and ``datasetGroupArn`` are optional here (the
  service requires them); ``name`` defaults to ``hrnn-solution``.
* Hyperparameter values and ``hpoResourceConfig`` numbers must be JSON strings, as on the wire.
* A hyperparameter both fixed in ``algorithmHyperParameters`` and ranged in ``hpoConfig`` is rejected
  (the two statements contradict each other; we do not silently drop either).
* When HPO runs and no range is given, every tunable hyperparameter that is *not* fixed in
  ``algorithmHyperParameters`` is searched over its documented range; if all are fixed there is
  nothing to tune and the request is rejected.
* Missing ``hpoResourceConfig`` members default to 4 training jobs and 2 parallel jobs; the parallel
  default is capped at the total (so ``maxNumberOfTrainingJobs: "1"`` alone is valid).
* Every member present is checked against the envelope, used or not. With ``performHPO`` false,
  ``hpoConfig`` is otherwise ignored. With ``performAutoML`` true, every ``solutionConfig`` member except
  ``autoMLConfig`` is otherwise ignored (even those refused for a recipe run), ``recipeArn`` must be
  absent and ``performHPO`` must not be false.
* Categorical range values are normalised (``"True"`` -> ``"true"``) and deduplicated in order.
* An empty ``eventType``, ``autoMLConfig.recipeList`` or categorical ``values`` is rejected;
  ``performIncrementalUpdate`` and ``performAutoTraining`` must be false.
"""

from .create_solution import parse_create_solution, parse_event_value_threshold, typed_request
from .envelope import DEFAULT_SOLUTION_NAME
from .hpo_config import RANGE_LISTS
from .loading import load_request
from .model import (DEFAULT_MAX_PARALLEL_TRAINING_JOBS, DEFAULT_MAX_TRAINING_JOBS, DEFAULT_OBJECTIVE_METRIC,
                    DEFAULT_OBJECTIVE_TYPE, OBJECTIVE_TYPES, OFFLINE_METRICS, PARALLEL_TRAINING_JOBS_LIMIT,
                    TRAINING_JOBS_LIMIT, HPOConfig, SearchRange, SolutionRequest)

__all__ = [
    "DEFAULT_MAX_PARALLEL_TRAINING_JOBS", "DEFAULT_MAX_TRAINING_JOBS", "DEFAULT_OBJECTIVE_METRIC",
    "DEFAULT_OBJECTIVE_TYPE", "DEFAULT_SOLUTION_NAME", "HPOConfig", "OBJECTIVE_TYPES", "OFFLINE_METRICS",
    "PARALLEL_TRAINING_JOBS_LIMIT", "RANGE_LISTS", "SearchRange", "SolutionRequest", "TRAINING_JOBS_LIMIT",
    "load_request", "parse_create_solution", "parse_event_value_threshold", "typed_request",
]
