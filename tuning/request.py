"""Parse and validate the service's CreateSolution request into typed, frozen values.

Why this module exists: training, the Ray Tune search space and the DescribeSolution echo all work from
one validated :class:`SolutionRequest`. A bad request therefore fails here, before any compute is spent,
with the service's ``InvalidInputException`` and a message that names the field path, the offending value
(truncated) and what is allowed, never with a traceback in the middle of an HPO run. Every
hyperparameter fact (names, aliases, kinds, types, defaults, ranges, tunability) is read from
:data:`hrnn.recipe.HRNN_RECIPE`; nothing about a hyperparameter is re-typed here.

The rules are the service's (PERSONALIZE.md section 2) plus this project's decisions (section 9).
Where both were silent we chose, and document here:

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
* With ``performHPO`` false, ``hpoConfig`` is ignored (only checked to be an object). With
  ``performAutoML`` true, every ``solutionConfig`` member except ``autoMLConfig`` is ignored (their
  names must still be known), ``recipeArn`` must be absent and ``performHPO`` must not be false.
* Categorical range values are normalised (``"True"`` -> ``"true"``) and deduplicated in order.
* An empty ``eventType`` and an empty ``autoMLConfig.recipeList`` are rejected.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrnn.errors import InvalidInputException
from hrnn.evaluation.metrics import SERVICE_METRIC_NAMES
from hrnn.hyperparameters import HyperParameterValues
from hrnn.recipe import ALGORITHM, CATEGORICAL, CONTINUOUS, FEATURIZATION, HRNN_RECIPE, INTEGER, RECIPES
from hrnn.recipe import TRAINING, HyperParameter, Recipe

# --- service shapes and limits (botocore CreateSolution, PERSONALIZE.md 2.1-2.2) ---------------------

TOP_LEVEL_MEMBERS = (
    "name", "datasetGroupArn", "recipeArn", "performHPO", "performAutoML", "performIncrementalUpdate",
    "eventType", "solutionConfig", "tags",
)
SOLUTION_CONFIG_MEMBERS = (
    "eventValueThreshold", "hpoConfig", "algorithmHyperParameters", "featureTransformationParameters",
    "autoMLConfig", "optimizationObjective", "eventsConfig", "trainingDataConfig", "autoTrainingConfig",
)
UNSUPPORTED_MEMBERS = {
    "optimizationObjective": "only the User-Personalization and Personalized-Ranking recipes support it",
    "eventsConfig": "not supported by aws-hrnn",
    "trainingDataConfig": "not supported by aws-hrnn",
    "autoTrainingConfig": "not supported by aws-hrnn",
}
HPO_CONFIG_MEMBERS = ("hpoObjective", "hpoResourceConfig", "algorithmHyperParameterRanges")
HPO_OBJECTIVE_MEMBERS = ("metricName", "type", "metricRegex")
AUTOML_CONFIG_MEMBERS = ("metricName", "recipeList")
RANGE_LISTS = {
    INTEGER: "integerHyperParameterRanges",
    CONTINUOUS: "continuousHyperParameterRanges",
    CATEGORICAL: "categoricalHyperParameterRanges",
}

NAME_PATTERN = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9\-_]*")
ARN_PATTERN = re.compile(r"arn:([a-z\d-]+):personalize:.*:.*:.+")
MAX_NAME_LENGTH = 63
MAX_STRING_LENGTH = 256  # ARNs, eventType, eventValueThreshold, metric names, range names
MAX_MAP_ENTRIES = 100
MAX_PARAMETER_VALUE_LENGTH = 1000
MAX_LIST_ITEMS = 100  # range lists, categorical values, recipeList
MAX_TAGS = 200
MAX_TAG_KEY_LENGTH = 128

# --- HPO defaults and limits (PERSONALIZE.md 3.2, 3.3, 9) ---------------------------------------------

OFFLINE_METRICS = SERVICE_METRIC_NAMES  # the GetSolutionMetrics keys an hpoObjective may name
OBJECTIVE_TYPES = ("Maximize", "Minimize")
DEFAULT_SOLUTION_NAME = "hrnn-solution"
DEFAULT_OBJECTIVE_METRIC = "precision_at_25"
DEFAULT_OBJECTIVE_TYPE = "Maximize"
DEFAULT_MAX_TRAINING_JOBS = 4
DEFAULT_MAX_PARALLEL_TRAINING_JOBS = 2
TRAINING_JOBS_LIMIT = 40
PARALLEL_TRAINING_JOBS_LIMIT = 10

# Where each hyperparameter kind may be given.
ALGORITHM_MAP_KINDS = (ALGORITHM, TRAINING, FEATURIZATION)
FEATURE_MAP_KINDS = (FEATURIZATION,)
PERCENTILE_BOUNDS = ("min_user_history_length_percentile", "max_user_history_length_percentile")


# --- the typed request ----------------------------------------------------------------------------------


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


# --- loading ----------------------------------------------------------------------------------------------


def load_request(source: str) -> dict:
    """Read a request from a path, a ``file://`` URI, or inline JSON text (starting with ``{``)."""
    if not isinstance(source, str) or not source.strip():
        raise InvalidInputException("No request given: pass a JSON file path, file://path or JSON text.")
    if source.lstrip().startswith("{"):
        return _decode(source, "inline request JSON")
    path = source[len("file://"):] if source.startswith("file://") else source
    origin = f"request file {path!r}"
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidInputException(f"Cannot read {origin}: no such file.") from None
    except IsADirectoryError:
        raise InvalidInputException(f"Cannot read {origin}: it is a directory.") from None
    except UnicodeDecodeError as exc:
        raise InvalidInputException(f"Cannot read {origin}: not UTF-8 text ({exc.reason}).") from None
    except (OSError, ValueError) as exc:
        raise InvalidInputException(f"Cannot read {origin}: {exc}.") from None
    return _decode(text, origin)


def _decode(text: str, origin: str) -> dict:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputException(
            f"Malformed JSON in {origin} at line {exc.lineno}, column {exc.colno}: {exc.msg}."
        ) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer too long to convert, absurd nesting
        raise InvalidInputException(f"Cannot parse JSON in {origin}: {exc}.") from None
    if not isinstance(obj, dict):
        raise InvalidInputException(
            f"The top level of {origin} must be a JSON object (the CreateSolution request), "
            f"got {_json_type(obj)}."
        )
    return obj


# --- parsing ----------------------------------------------------------------------------------------------


def parse_create_solution(obj: object) -> SolutionRequest:
    """Validate a CreateSolution request; raise ``InvalidInputException`` (only) when it is not valid."""
    request = _expect(obj, "object", "request")
    _check_members(request, TOP_LEVEL_MEMBERS, "request")
    name = _parse_name(request)
    dataset_group_arn = _parse_arn(request, "datasetGroupArn", "")
    perform_hpo = _member(request, "performHPO", "boolean", "")
    perform_automl = _member(request, "performAutoML", "boolean", "") or False
    if _member(request, "performIncrementalUpdate", "boolean", ""):
        raise _invalid("performIncrementalUpdate", True, "only the Semantic-Similarity recipe supports it; "
                       "omit it or set it to false")
    event_type = _parse_event_type(request)
    _parse_tags(request)
    config = _member(request, "solutionConfig", "object", "") or {}
    _check_members(config, SOLUTION_CONFIG_MEMBERS, "solutionConfig")

    common = dict(name=name, dataset_group_arn=dataset_group_arn, event_type=event_type,
                  solution_config=dict(config), raw=request)
    if perform_automl:
        return _parse_automl(request, config, perform_hpo, common)

    recipe = _parse_recipe(request)
    for member, reason in UNSUPPORTED_MEMBERS.items():
        if config.get(member) is not None:
            raise _invalid(_join("solutionConfig", member), config[member], reason)
    fixed = _parse_fixed_hyperparameters(recipe, config)
    hyperparameters = _effective_hyperparameters(recipe, fixed)
    _check_percentile_bounds(recipe, hyperparameters, fixed)
    hpo_config = _member(config, "hpoConfig", "object", "solutionConfig")  # ignored unless performHPO
    return SolutionRequest(
        recipe=recipe,
        perform_hpo=bool(perform_hpo),
        perform_automl=False,
        event_value_threshold=_parse_event_value_threshold(config),
        hyperparameters=hyperparameters,
        hpo=_parse_hpo_config(recipe, hpo_config or {}, fixed) if perform_hpo else None,
        **common,
    )


def _parse_automl(request: dict, config: dict, perform_hpo: bool | None, common: dict) -> SolutionRequest:
    """AutoML: HPO on the chosen recipe over its default ranges; other solutionConfig members ignored."""
    if request.get("recipeArn") is not None:
        raise _invalid("recipeArn", request["recipeArn"],
                       "give either recipeArn or performAutoML=true, not both")
    if perform_hpo is False:
        raise _invalid("performHPO", False, "AutoML always performs HPO; omit performHPO or set it to true")
    path = "solutionConfig.autoMLConfig"
    automl = _member(config, "autoMLConfig", "object", "solutionConfig") or {}
    _check_members(automl, AUTOML_CONFIG_MEMBERS, path)
    metric = _parse_metric_name(automl, path)
    recipe = _parse_recipe_list(automl, path)
    ranges = _default_ranges(recipe, fixed={})
    return SolutionRequest(
        recipe=recipe,
        perform_hpo=True,
        perform_automl=True,
        event_value_threshold=None,
        hyperparameters=recipe.defaults,
        hpo=HPOConfig(objective_metric=metric, objective_type="Maximize", ranges=ranges),
        **common,
    )


def _parse_name(request: dict) -> str:
    name = _member(request, "name", "string", "")
    if name is None:
        return DEFAULT_SOLUTION_NAME
    if not 1 <= len(name) <= MAX_NAME_LENGTH or not NAME_PATTERN.fullmatch(name):
        raise _invalid("name", name, f"expected 1 to {MAX_NAME_LENGTH} characters matching "
                       f"^[a-zA-Z0-9][a-zA-Z0-9\\-_]*$")
    return name


def _parse_arn(obj: dict, key: str, parent: str) -> str | None:
    arn = _member(obj, key, "string", parent)
    if arn is not None:
        _check_arn(arn, _join(parent, key))
    return arn


def _check_arn(arn: str, path: str) -> None:
    if len(arn) > MAX_STRING_LENGTH or not ARN_PATTERN.fullmatch(arn):
        raise _invalid(path, arn, f"expected an ARN of at most {MAX_STRING_LENGTH} characters matching "
                       f"arn:([a-z\\d-]+):personalize:.*:.*:.+")


def _parse_event_type(request: dict) -> str | None:
    event_type = _member(request, "eventType", "string", "")
    if event_type is not None and not 1 <= len(event_type) <= MAX_STRING_LENGTH:
        raise _invalid("eventType", event_type, f"expected 1 to {MAX_STRING_LENGTH} characters "
                       "(omit it to train on all event types)")
    return event_type


def _parse_tags(request: dict) -> None:
    tags = _member(request, "tags", "array", "") or []
    if len(tags) > MAX_TAGS:
        raise _invalid("tags", tags, f"at most {MAX_TAGS} tags")
    for i, tag in enumerate(tags):
        path = f"tags[{i}]"
        _check_members(_expect(tag, "object", path), ("tagKey", "tagValue"), path)
        key = _required(tag, "tagKey", "string", path)
        if not 1 <= len(key) <= MAX_TAG_KEY_LENGTH:
            raise _invalid(f"{path}.tagKey", key, f"1 to {MAX_TAG_KEY_LENGTH} characters")
        value = _required(tag, "tagValue", "string", path)
        if len(value) > MAX_STRING_LENGTH:
            raise _invalid(f"{path}.tagValue", value, f"at most {MAX_STRING_LENGTH} characters")


def _parse_recipe(request: dict) -> Recipe:
    arn = _member(request, "recipeArn", "string", "")
    if arn is None:
        raise InvalidInputException(
            "recipeArn is required when performAutoML is false (give exactly one of recipeArn and "
            f"performAutoML=true); implemented recipes: {', '.join(RECIPES)}."
        )
    return _lookup_recipe(arn, "recipeArn")


def _lookup_recipe(arn: str, path: str) -> Recipe:
    recipe = RECIPES.get(arn)
    if recipe is None:
        raise _invalid(path, arn, f"not an implemented recipe; implemented recipes: {', '.join(RECIPES)}")
    return recipe


def _parse_recipe_list(automl: dict, path: str) -> Recipe:
    arns = _member(automl, "recipeList", "array", path)
    if arns is None:
        return HRNN_RECIPE
    if not 1 <= len(arns) <= MAX_LIST_ITEMS:
        raise _invalid(f"{path}.recipeList", arns, f"a list of 1 to {MAX_LIST_ITEMS} recipe ARNs")
    recipes = [_lookup_recipe(_expect(arn, "string", f"{path}.recipeList[{i}]"), f"{path}.recipeList[{i}]")
               for i, arn in enumerate(arns)]
    return recipes[0]  # every implemented recipe is aws-hrnn


def _parse_metric_name(obj: dict, path: str) -> str:
    metric = _member(obj, "metricName", "string", path)
    if metric is None:
        return DEFAULT_OBJECTIVE_METRIC
    if metric not in OFFLINE_METRICS:
        raise _invalid(f"{path}.metricName", metric, "expected one of " + ", ".join(OFFLINE_METRICS))
    return metric


def _parse_event_value_threshold(config: dict) -> float | None:
    text = _member(config, "eventValueThreshold", "string", "solutionConfig")
    return parse_event_value_threshold(text, "solutionConfig.eventValueThreshold")


def parse_event_value_threshold(text: str | None, path: str) -> float | None:
    """eventValueThreshold (a string on the wire) as a finite number; None when absent."""
    if text is None:
        return None
    expected = "expected a string holding a finite number, e.g. \"0.5\""
    if len(text) > MAX_STRING_LENGTH:
        raise _invalid(path, text, expected)
    try:
        value = float(text)
    except ValueError:
        raise _invalid(path, text, expected) from None
    if not math.isfinite(value):
        raise _invalid(path, text, expected)
    return value


# --- fixed hyperparameters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fixed:
    """A hyperparameter value the user fixed, with where it came from (for messages)."""

    path: str
    text: str
    value: Any


def _parse_fixed_hyperparameters(recipe: Recipe, config: dict) -> dict[str, _Fixed]:
    """Merge algorithmHyperParameters and featureTransformationParameters, keyed by plain name."""
    fixed: dict[str, _Fixed] = {}
    _parse_parameter_map(recipe, config, "algorithmHyperParameters", ALGORITHM_MAP_KINDS, fixed)
    _parse_parameter_map(recipe, config, "featureTransformationParameters", FEATURE_MAP_KINDS, fixed)
    return fixed


def _parse_parameter_map(recipe: Recipe, config: dict, member: str, kinds: tuple[str, ...],
                         fixed: dict[str, _Fixed]) -> None:
    path = _join("solutionConfig", member)
    params = _member(config, member, "object", "solutionConfig")
    if params is None:
        return
    if len(params) > MAX_MAP_ENTRIES:
        raise _invalid(path, params, f"at most {MAX_MAP_ENTRIES} entries")
    for key, text in params.items():
        key_path = _join(path, key)
        hp = _resolve_parameter_name(recipe, key, kinds, path)
        text = _expect(text, "string", key_path, example=hp.default)
        if len(text) > MAX_PARAMETER_VALUE_LENGTH:
            raise _invalid(key_path, text, f"at most {MAX_PARAMETER_VALUE_LENGTH} characters")
        if hp.name in fixed:
            raise _invalid(key_path, text, f"{hp.name} is already given at {fixed[hp.name].path}")
        try:
            value = hp.parse(text)
        except ValueError:
            raise _invalid(key_path, text, f"{hp.name} must be {hp.allowed()}") from None
        fixed[hp.name] = _Fixed(key_path, text, value)


def _resolve_parameter_name(recipe: Recipe, key: object, kinds: tuple[str, ...], path: str) -> HyperParameter:
    if not isinstance(key, str) or len(key) > MAX_STRING_LENGTH:
        raise _invalid(path, key, f"keys must be strings of at most {MAX_STRING_LENGTH} characters")
    hp = recipe.lookup(key)
    if hp is not None and hp.kind in kinds:
        return hp
    accepted = [p for p in recipe.hyperparameters if p.kind in kinds]
    names = ", ".join(p.name + (f" (alias {', '.join(p.aliases)})" if p.aliases else "") for p in accepted)
    hint = f"{hp.name} ({hp.kind} kind) belongs in algorithmHyperParameters. " if hp else ""
    raise InvalidInputException(
        f"{path}: unknown hyperparameter {_show(key)} for {recipe.name}. {hint}"
        f"Accepted names (plain, or prefixed with training., data. or model.): {names}."
    )


def _effective_hyperparameters(recipe: Recipe, fixed: dict[str, _Fixed]) -> HyperParameterValues:
    return recipe.values(**{name: f.value for name, f in fixed.items()})


def _check_percentile_bounds(recipe: Recipe, values: HyperParameterValues, fixed: dict[str, _Fixed]) -> None:
    low_hp, high_hp = (recipe.lookup(name) for name in PERCENTILE_BOUNDS)
    if low_hp is None or high_hp is None or getattr(values, low_hp.name) <= getattr(values, high_hp.name):
        return
    low = fixed.get(low_hp.name)
    high = fixed.get(high_hp.name)
    low_text = f"{low.path} = {_show(low.text)}" if low else f"the default {low_hp.default}"
    high_text = f"{high.path} = {_show(high.text)}" if high else f"the default {high_hp.default}"
    raise InvalidInputException(
        f"{low_hp.name} must be <= {high_hp.name}, but {low_hp.name} is {low_text} "
        f"and {high_hp.name} is {high_text}."
    )


# --- hpoConfig ------------------------------------------------------------------------------------------


def _parse_hpo_config(recipe: Recipe, hpo: dict, fixed: dict[str, _Fixed]) -> HPOConfig:
    path = "solutionConfig.hpoConfig"
    _check_members(hpo, HPO_CONFIG_MEMBERS, path)
    metric, objective_type = _parse_objective(hpo, path)
    total, parallel = _parse_resources(hpo, path)
    ranges = _parse_ranges(recipe, hpo, path, fixed) or _default_ranges(recipe, fixed)
    return HPOConfig(metric, objective_type, ranges, total, parallel)


def _parse_objective(hpo: dict, parent: str) -> tuple[str, str]:
    path = _join(parent, "hpoObjective")
    objective = _member(hpo, "hpoObjective", "object", parent) or {}
    _check_members(objective, HPO_OBJECTIVE_MEMBERS, path)
    metric = _parse_metric_name(objective, path)
    objective_type = _member(objective, "type", "string", path) or DEFAULT_OBJECTIVE_TYPE
    if objective_type not in OBJECTIVE_TYPES:
        raise _invalid(f"{path}.type", objective_type, "expected one of " + ", ".join(OBJECTIVE_TYPES))
    _member(objective, "metricRegex", "string", path)  # accepted for compatibility; unused
    return metric, objective_type


def _parse_resources(hpo: dict, parent: str) -> tuple[int, int]:
    path = _join(parent, "hpoResourceConfig")
    resources = _member(hpo, "hpoResourceConfig", "object", parent) or {}
    _check_members(resources, ("maxNumberOfTrainingJobs", "maxParallelTrainingJobs"), path)
    total = _parse_job_count(resources, "maxNumberOfTrainingJobs", TRAINING_JOBS_LIMIT, path)
    parallel = _parse_job_count(resources, "maxParallelTrainingJobs", PARALLEL_TRAINING_JOBS_LIMIT, path)
    total_text = f"{total}" if total is not None else f"{DEFAULT_MAX_TRAINING_JOBS}, the default"
    total = DEFAULT_MAX_TRAINING_JOBS if total is None else total
    if parallel is None:
        return total, min(DEFAULT_MAX_PARALLEL_TRAINING_JOBS, total)
    if parallel > total:
        raise _invalid(f"{path}.maxParallelTrainingJobs", resources["maxParallelTrainingJobs"],
                       f"expected at most maxNumberOfTrainingJobs ({total_text})")
    return total, parallel


def _parse_job_count(resources: dict, key: str, limit: int, parent: str) -> int | None:
    text = _member(resources, key, "string", parent, example="4")
    if text is None:
        return None
    if len(text) <= MAX_STRING_LENGTH and re.fullmatch(r"\s*[0-9]+\s*", text) and 1 <= int(text) <= limit:
        return int(text)
    raise _invalid(_join(parent, key), text, f"expected a string holding an integer in [1, {limit}]")


def _parse_ranges(recipe: Recipe, hpo: dict, parent: str, fixed: dict[str, _Fixed]) -> tuple[SearchRange, ...]:
    path = _join(parent, "algorithmHyperParameterRanges")
    lists = _member(hpo, "algorithmHyperParameterRanges", "object", parent) or {}
    _check_members(lists, tuple(RANGE_LISTS.values()), path)
    ranges: dict[str, tuple[str, SearchRange]] = {}  # plain name -> (item path, range)
    for list_type, list_name in RANGE_LISTS.items():
        items = _member(lists, list_name, "array", path) or []
        if len(items) > MAX_LIST_ITEMS:
            raise _invalid(_join(path, list_name), items, f"at most {MAX_LIST_ITEMS} ranges")
        for i, item in enumerate(items):
            item_path = f"{path}.{list_name}[{i}]"
            search_range = _parse_range(recipe, _expect(item, "object", item_path), list_type, item_path)
            hp = search_range.hp
            if hp.name in ranges:
                raise _invalid(f"{item_path}.name", search_range.name,
                               f"{hp.name} is already ranged at {ranges[hp.name][0]}")
            if hp.name in fixed:
                # Rejected rather than letting one silently win: fixed and ranged contradict each other.
                raise _invalid(f"{item_path}.name", search_range.name,
                               f"{hp.name} is also fixed at {fixed[hp.name].path} = "
                               f"{_show(fixed[hp.name].text)}; either fix it or range it, not both")
            ranges[hp.name] = (item_path, search_range)
    return tuple(r for _, r in ranges.values())


def _parse_range(recipe: Recipe, item: dict, list_type: str, path: str) -> SearchRange:
    members = ("name", "values") if list_type == CATEGORICAL else ("name", "minValue", "maxValue")
    _check_members(item, members, path)
    name = _required(item, "name", "string", path)
    hp = recipe.lookup(name) if len(name) <= MAX_STRING_LENGTH else None
    if hp is None or not hp.tunable:
        tunable = ", ".join(f"{p.name} ({_describe(p)})" for p in recipe.tunable)
        raise _invalid(f"{path}.name", name, f"not a tunable hyperparameter of {recipe.name}; "
                       f"tunable: {tunable}")
    if hp.type != list_type:
        raise _invalid(f"{path}.name", name, f"{hp.name} is {hp.type}; range it in {RANGE_LISTS[hp.type]}")
    if list_type == CATEGORICAL:
        return SearchRange(name, hp, hp.type, values=_parse_categorical_values(hp, item, path))
    low = _parse_bound(hp, item, "minValue", path)
    high = _parse_bound(hp, item, "maxValue", path)
    if low > high:
        raise _invalid(f"{path}.minValue", low, f"must be <= maxValue ({_show(high)})")
    return SearchRange(name, hp, hp.type, min_value=low, max_value=high)


def _parse_bound(hp: HyperParameter, item: dict, key: str, parent: str) -> int | float:
    path = _join(parent, key)
    value = _required(item, key, "integer" if hp.type == INTEGER else "number", parent)
    if isinstance(value, float) and not math.isfinite(value):
        raise _invalid(path, value, "a finite number")
    if (hp.min_value is not None and value < hp.min_value) or (hp.max_value is not None and value > hp.max_value):
        raise _invalid(path, value, f"outside the allowed range of {hp.name}, {_interval(hp)}")
    return value if hp.type == INTEGER else float(value)


def _parse_categorical_values(hp: HyperParameter, item: dict, parent: str) -> tuple[str, ...]:
    path = _join(parent, "values")
    values = _required(item, "values", "array", parent)
    if not 1 <= len(values) <= MAX_LIST_ITEMS:
        raise _invalid(path, values, f"a list of 1 to {MAX_LIST_ITEMS} values, each {hp.allowed()}")
    result: list = []
    for j, text in enumerate(values):
        text = _expect(text, "string", f"{path}[{j}]", example=hp.values[0] if hp.values else hp.default)
        try:
            if len(text) > MAX_PARAMETER_VALUE_LENGTH:
                raise ValueError
            value = hp.parse(text)
        except ValueError:
            raise _invalid(f"{path}[{j}]", text, f"{hp.name} allows {hp.allowed()}") from None
        if value not in result:
            result.append(value)
    return tuple(result)


def _default_ranges(recipe: Recipe, fixed: dict[str, _Fixed]) -> tuple[SearchRange, ...]:
    """Every tunable hyperparameter not fixed by the user, over its documented range."""
    ranges = tuple(_full_range(hp) for hp in recipe.tunable if hp.name not in fixed)
    if not ranges:
        raise InvalidInputException(
            "solutionConfig.hpoConfig: performHPO is true but no hyperparameter ranges are given and every "
            f"tunable hyperparameter ({', '.join(p.name for p in recipe.tunable)}) is fixed in "
            "algorithmHyperParameters, so there is nothing to tune. Give a range or set performHPO to false."
        )
    return ranges


def _full_range(hp: HyperParameter) -> SearchRange:
    if hp.type == CATEGORICAL:
        return SearchRange(hp.name, hp, hp.type, values=tuple(hp.parse(v) for v in hp.values))
    cast = int if hp.type == INTEGER else float
    return SearchRange(hp.name, hp, hp.type, min_value=cast(hp.min_value), max_value=cast(hp.max_value))


def _describe(hp: HyperParameter) -> str:
    """``integer in [2, 32]`` / ``one of 'true', 'false'``: a tunable's range for messages."""
    return hp.allowed() if hp.type == CATEGORICAL else f"{hp.type} in {_interval(hp)}"


def _interval(hp: HyperParameter) -> str:
    low = "-inf" if hp.min_value is None else _number(hp.min_value)
    high = "inf" if hp.max_value is None else _number(hp.max_value)
    return f"[{low}, {high}]"


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


# --- generic JSON checking and messages --------------------------------------------------------------

_EXPECTED = {
    "object": (dict, "a JSON object"),
    "array": (list, "a JSON array"),
    "string": (str, "a JSON string"),
    "boolean": (bool, "a JSON boolean (true or false)"),
    "integer": (int, "a JSON integer"),
    "number": ((int, float), "a JSON number"),
}


def _expect(value: object, kind: str, path: str, example: str | None = None) -> Any:
    """Return ``value`` if it has the JSON type ``kind``, else raise naming the path and the value."""
    types, description = _EXPECTED[kind]
    if isinstance(value, types) and (kind == "boolean" or not isinstance(value, bool)):
        return value
    if example is not None:
        description += f", e.g. {_show(example)}"
    raise _invalid(path, value, f"expected {description}, got {_json_type(value)}")


def _member(obj: dict, key: str, kind: str, parent: str, example: str | None = None) -> Any:
    """An optional member (absent or null -> None) of the given JSON type."""
    value = obj.get(key)
    return None if value is None else _expect(value, kind, _join(parent, key), example)


def _required(obj: dict, key: str, kind: str, parent: str) -> Any:
    if obj.get(key) is None:
        raise InvalidInputException(f"{parent}: missing required member {key}.")
    return _expect(obj[key], kind, _join(parent, key))


def _check_members(obj: dict, allowed: tuple[str, ...], path: str) -> None:
    for key in obj:
        if key not in allowed:
            raise InvalidInputException(
                f"{path}: unknown member {_show(key)}; allowed members: {', '.join(allowed)}."
            )


def _invalid(path: str, value: object, expected: str) -> InvalidInputException:
    return InvalidInputException(f"{path or 'request'} = {_show(value)} is invalid: {expected}.")


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _join(parent: str, key: object) -> str:
    """``solutionConfig.hpoConfig``; keys that are not identifiers go in brackets: ``x["training.bptt"]``."""
    if isinstance(key, str) and _IDENTIFIER.fullmatch(key):
        return f"{parent}.{key}" if parent else key
    return f"{parent or 'request'}[{_show(key)}]"


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    for name, (types, _) in _EXPECTED.items():
        if isinstance(value, types):
            return "number" if isinstance(value, float) else name
    return "null" if value is None else type(value).__name__


SHOW_LIMIT = 100


def _show(value: object, limit: int = SHOW_LIMIT) -> str:
    """A compact JSON-ish rendering of ``value`` cut to about ``limit`` characters.

    Safe for any input: long strings and huge integers are cut before conversion, and containers stop
    once the budget is spent, so nesting depth never exceeds ``limit``.
    """
    parts: list[str] = []
    budget = [limit + 1]

    def emit(text: str) -> None:
        parts.append(text[: max(budget[0], 0)])
        budget[0] -= len(text)

    def walk(v: object) -> None:
        if budget[0] <= 0:
            return
        if isinstance(v, str):
            emit(json.dumps(v[: budget[0] + 1]))
        elif isinstance(v, bool) or v is None:
            emit(json.dumps(v))
        elif isinstance(v, int):
            emit(str(v) if v.bit_length() < 1000 else f"<integer of {v.bit_length()} bits>")
        elif isinstance(v, float):
            emit(repr(v))
        elif isinstance(v, (list, tuple)):
            emit("[")
            for i, item in enumerate(v):
                if budget[0] <= 0:
                    break
                emit(", " if i else "")
                walk(item)
            emit("]")
        elif isinstance(v, dict):
            emit("{")
            for i, (k, item) in enumerate(v.items()):
                if budget[0] <= 0:
                    break
                emit(", " if i else "")
                walk(k)
                emit(": ")
                walk(item)
            emit("}")
        else:
            emit(f"<{type(v).__name__}>")

    walk(value)
    text = "".join(parts)
    return text if budget[0] >= 0 else text[:limit] + "..."
