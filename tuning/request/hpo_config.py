"""``hpoConfig`` read against the recipe: objective, resources and search ranges.

Why: the envelope only knows that a range has a name and numeric bounds, and that resources are strings.
Which names may be ranged, in which list, within which bounds, which metric an objective may name and how
many jobs may run are the recipe's and this project's facts (the metrics:
https://docs.aws.amazon.com/personalize/latest/dg/working-with-training-metrics.html; HPO:
https://docs.aws.amazon.com/personalize/latest/dg/customizing-solution-config-hpo.html; the rest this
project's choices). Rules that tie two members together live in :mod:`.rules`; this module calls them where
they apply.
"""

from __future__ import annotations

import re

from hrnn.hyperparameters import format_number
from hrnn.recipe import CATEGORICAL, CONTINUOUS, INTEGER, HyperParameter, Recipe

from ..shapes import invalid, join_path
from .rules import bounds_ordered, fixed_or_ranged, parallel_within_total, ranged_once, something_to_tune
from .model import (DEFAULT_MAX_PARALLEL_TRAINING_JOBS, DEFAULT_MAX_TRAINING_JOBS, DEFAULT_OBJECTIVE_METRIC,
                    DEFAULT_OBJECTIVE_TYPE, OBJECTIVE_TYPES, OFFLINE_METRICS, PARALLEL_TRAINING_JOBS_LIMIT,
                    TRAINING_JOBS_LIMIT, HPOConfig, SearchRange)

HPO_PATH = "solutionConfig.hpoConfig"
RANGE_LISTS = {
    INTEGER: "integerHyperParameterRanges",
    CONTINUOUS: "continuousHyperParameterRanges",
    CATEGORICAL: "categoricalHyperParameterRanges",
}
_JOB_COUNT = re.compile(r"\s*[0-9]+\s*")  # at most 256 characters (the envelope)


def parse_hpo_config(recipe: Recipe, hpo: dict, fixed: dict) -> HPOConfig:
    """The search a request asks for; with no range given, every tunable not fixed, over its full range."""
    metric, objective_type = _parse_objective(hpo.get("hpoObjective") or {}, join_path(HPO_PATH, "hpoObjective"))
    total, parallel = _parse_resources(hpo.get("hpoResourceConfig") or {})
    ranges = _parse_ranges(recipe, hpo.get("algorithmHyperParameterRanges") or {}, fixed)
    return HPOConfig(metric, objective_type, ranges or default_ranges(recipe, fixed), total, parallel)


def parse_metric_name(obj: dict, path: str) -> str:
    """An objective's ``metricName``: one of the offline metric keys (default: ``DEFAULT_OBJECTIVE_METRIC``)."""
    metric = obj.get("metricName")
    if metric is None:
        return DEFAULT_OBJECTIVE_METRIC
    if metric not in OFFLINE_METRICS:
        raise invalid(f"{path}.metricName", metric, "expected one of " + ", ".join(OFFLINE_METRICS))
    return metric


def _parse_objective(objective: dict, path: str) -> tuple[str, str]:
    metric = parse_metric_name(objective, path)
    objective_type = objective.get("type") or DEFAULT_OBJECTIVE_TYPE  # metricRegex: accepted, unused
    if objective_type not in OBJECTIVE_TYPES:
        raise invalid(f"{path}.type", objective_type, "expected one of " + ", ".join(OBJECTIVE_TYPES))
    return metric, objective_type


def _parse_resources(resources: dict) -> tuple[int, int]:
    path = join_path(HPO_PATH, "hpoResourceConfig")
    total = _parse_job_count(resources, "maxNumberOfTrainingJobs", TRAINING_JOBS_LIMIT, path)
    parallel = _parse_job_count(resources, "maxParallelTrainingJobs", PARALLEL_TRAINING_JOBS_LIMIT, path)
    if parallel is None:
        total = DEFAULT_MAX_TRAINING_JOBS if total is None else total
        return total, min(DEFAULT_MAX_PARALLEL_TRAINING_JOBS, total)
    parallel_within_total(total, parallel, resources["maxParallelTrainingJobs"], path)
    return (DEFAULT_MAX_TRAINING_JOBS if total is None else total), parallel


def _parse_job_count(resources: dict, key: str, limit: int, parent: str) -> int | None:
    text = resources.get(key)
    if text is None:
        return None
    if _JOB_COUNT.fullmatch(text) and 1 <= int(text) <= limit:
        return int(text)
    raise invalid(join_path(parent, key), text, f"expected a string holding an integer in [1, {limit}]")


def _parse_ranges(recipe: Recipe, lists: dict, fixed: dict) -> tuple[SearchRange, ...]:
    path = join_path(HPO_PATH, "algorithmHyperParameterRanges")
    ranges: dict[str, tuple[str, SearchRange]] = {}  # plain name -> (item path, range)
    for list_type, list_name in RANGE_LISTS.items():
        for i, item in enumerate(lists.get(list_name) or ()):
            item_path = f"{path}.{list_name}[{i}]"
            search_range = _parse_range(recipe, item, list_type, item_path)
            ranged_once(search_range, f"{item_path}.name", ranges)
            fixed_or_ranged(search_range, f"{item_path}.name", fixed)
            ranges[search_range.hp.name] = (item_path, search_range)
    return tuple(r for _, r in ranges.values())


def _parse_range(recipe: Recipe, item: dict, list_type: str, path: str) -> SearchRange:
    name = item["name"]
    hp = recipe.lookup(name)
    if hp is None or not hp.tunable:
        tunable = ", ".join(f"{p.name} ({describe(p)})" for p in recipe.tunable)
        raise invalid(f"{path}.name", name, f"not a tunable hyperparameter of {recipe.name}; tunable: {tunable}")
    if hp.type != list_type:
        raise invalid(f"{path}.name", name, f"{hp.name} is {hp.type}; range it in {RANGE_LISTS[hp.type]}")
    if list_type == CATEGORICAL:
        return SearchRange(name, hp, hp.type, values=_parse_categorical_values(hp, item["values"], path))
    low = _parse_bound(hp, item["minValue"], f"{path}.minValue")
    high = _parse_bound(hp, item["maxValue"], f"{path}.maxValue")
    bounds_ordered(low, high, path)
    return SearchRange(name, hp, hp.type, min_value=low, max_value=high)


def _parse_bound(hp: HyperParameter, value: int | float, path: str) -> int | float:
    """A bound (its JSON type and finiteness checked by the envelope) within the recipe's range for it."""
    try:
        return hp.check(value)
    except ValueError:
        raise invalid(path, value, f"outside the allowed range of {hp.name}, {interval(hp)}") from None


def _parse_categorical_values(hp: HyperParameter, values: list, path: str) -> tuple:
    """Typed values, normalised (``"True"`` -> True) and deduplicated in the user's order."""
    result: list = []
    for j, text in enumerate(values):
        try:
            value = hp.parse(text)
        except ValueError:
            raise invalid(f"{path}.values[{j}]", text, f"{hp.name} allows {hp.allowed()}") from None
        if value not in result:
            result.append(value)
    return tuple(result)


def default_ranges(recipe: Recipe, fixed: dict) -> tuple[SearchRange, ...]:
    """Every tunable hyperparameter not fixed by the user, over its documented range."""
    ranges = tuple(_full_range(hp) for hp in recipe.tunable if hp.name not in fixed)
    something_to_tune(recipe, ranges)
    return ranges


def _full_range(hp: HyperParameter) -> SearchRange:
    if hp.type == CATEGORICAL:
        return SearchRange(hp.name, hp, hp.type, values=tuple(hp.parse(v) for v in hp.values))
    cast = int if hp.type == INTEGER else float
    return SearchRange(hp.name, hp, hp.type, min_value=cast(hp.min_value), max_value=cast(hp.max_value))


def describe(hp: HyperParameter) -> str:
    """``integer in [2, 32]`` / ``one of 'true', 'false'``: a tunable's range for messages."""
    return hp.allowed() if hp.type == CATEGORICAL else f"{hp.type} in {interval(hp)}"


def interval(hp: HyperParameter) -> str:
    low = "-inf" if hp.min_value is None else format_number(hp.min_value)
    high = "inf" if hp.max_value is None else format_number(hp.max_value)
    return f"{'(' if hp.min_exclusive else '['}{low}, {high}]"
