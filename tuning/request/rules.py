"""The CreateSolution rules that tie members together, one named function each.

Why: a shape table checks each member on its own; these rules need two or more members (or a member and
the recipe) at once, so they cannot be data. Naming each one keeps them findable and testable, and keeps
the parsing modules to reading values. Every function returns nothing and raises
``InvalidInputException`` naming the member that breaks the rule, its value and what is allowed.
"""

from __future__ import annotations

from typing import Any, Mapping

from hrnn.errors import InvalidInputException
from hrnn.hyperparameters import HyperParameter, HyperParameterValues
from hrnn.recipe import RECIPES, Recipe

from ..shapes import invalid, show
from .model import DEFAULT_MAX_TRAINING_JOBS

PERCENTILE_BOUNDS = ("min_user_history_length_percentile", "max_user_history_length_percentile")


def recipe_or_automl(request: dict) -> None:
    """Exactly one of ``recipeArn`` and ``performAutoML: true``: the recipe is named or chosen, not both."""
    automl = request.get("performAutoML") is True
    if automl and request.get("recipeArn") is not None:
        raise invalid("recipeArn", request["recipeArn"], "give either recipeArn or performAutoML=true, not both")
    if not automl and request.get("recipeArn") is None:
        raise InvalidInputException(
            "recipeArn is required when performAutoML is false (give exactly one of recipeArn and "
            f"performAutoML=true); implemented recipes: {', '.join(RECIPES)}."
        )


def automl_performs_hpo(request: dict) -> None:
    """AutoML chooses by tuning, so ``performHPO: false`` contradicts ``performAutoML: true``."""
    if request.get("performAutoML") is True and request.get("performHPO") is False:
        raise invalid("performHPO", False, "AutoML always performs HPO; omit performHPO or set it to true")


def given_once(hp: HyperParameter, path: str, text: str, fixed: Mapping[str, Any]) -> None:
    """A hyperparameter is fixed at most once across both maps, whatever alias or prefix names it."""
    if hp.name in fixed:
        raise invalid(path, text, f"{hp.name} is already given at {fixed[hp.name].path}")


def percentile_bounds_ordered(recipe: Recipe, values: HyperParameterValues, fixed: Mapping[str, Any]) -> None:
    """The minimum history-length percentile may not exceed the maximum, given or defaulted."""
    low_hp, high_hp = (recipe.lookup(name) for name in PERCENTILE_BOUNDS)
    if low_hp is None or high_hp is None or getattr(values, low_hp.name) <= getattr(values, high_hp.name):
        return
    low, high = fixed.get(low_hp.name), fixed.get(high_hp.name)
    low_text = f"{low.path} = {show(low.text)}" if low else f"the default {low_hp.default}"
    high_text = f"{high.path} = {show(high.text)}" if high else f"the default {high_hp.default}"
    raise InvalidInputException(
        f"{low_hp.name} must be <= {high_hp.name}, but {low_hp.name} is {low_text} "
        f"and {high_hp.name} is {high_text}."
    )


def ranged_once(search_range: Any, path: str, ranged: Mapping[str, Any]) -> None:
    """A hyperparameter has at most one range, whatever alias or prefix names it."""
    if search_range.hp.name in ranged:
        raise invalid(path, search_range.name, f"{search_range.hp.name} is already ranged at "
                      f"{ranged[search_range.hp.name][0]}")


def fixed_or_ranged(search_range: Any, path: str, fixed: Mapping[str, Any]) -> None:
    """Fixed and ranged contradict each other; rejected rather than letting one silently win."""
    given = fixed.get(search_range.hp.name)
    if given is not None:
        raise invalid(path, search_range.name, f"{search_range.hp.name} is also fixed at {given.path} = "
                      f"{show(given.text)}; either fix it or range it, not both")


def bounds_ordered(low: float, high: float, path: str) -> None:
    """A numeric range's ``minValue`` is at most its ``maxValue``."""
    if low > high:
        raise invalid(f"{path}.minValue", low, f"must be <= maxValue ({show(high)})")


def parallel_within_total(total: int | None, parallel: int, parallel_text: str, path: str) -> None:
    """No more jobs run at once than run in all (``total`` None: the default total)."""
    limit = DEFAULT_MAX_TRAINING_JOBS if total is None else total
    if parallel > limit:
        total_text = f"{total}" if total is not None else f"{DEFAULT_MAX_TRAINING_JOBS}, the default"
        raise invalid(f"{path}.maxParallelTrainingJobs", parallel_text,
                      f"expected at most maxNumberOfTrainingJobs ({total_text})")


def something_to_tune(recipe: Recipe, ranges: tuple) -> None:
    """HPO with no range given searches the tunables not fixed; if every one is fixed, there is nothing."""
    if not ranges:
        raise InvalidInputException(
            "solutionConfig.hpoConfig: performHPO is true but no hyperparameter ranges are given and every "
            f"tunable hyperparameter ({', '.join(p.name for p in recipe.tunable)}) is fixed in "
            "algorithmHyperParameters, so there is nothing to tune. Give a range or set performHPO to false."
        )
