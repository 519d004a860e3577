"""CreateSolution, end to end: the envelope, then the rules, then the recipe-dependent parts.

Why this order: the envelope check (:mod:`.envelope`) proves every member has its documented type and
limits, so what follows reads values without re-checking them; the cross-field rules (:mod:`.rules`) then
run where the members they relate are known, and only valid requests are typed into a
:class:`~.model.SolutionRequest`. A bad request therefore fails before any compute is spent.
"""

from __future__ import annotations

import math

from hrnn.recipe import HRNN_RECIPE, RECIPES, Recipe

from ..contract import table
from ..shapes import invalid, validate
from .rules import automl_performs_hpo, percentile_bounds_ordered, recipe_or_automl
from .envelope import DEFAULT_SOLUTION_NAME, REQUEST_SHAPE
from .hpo_config import default_ranges, parse_hpo_config, parse_metric_name
from .hyperparameters import effective_hyperparameters, parse_fixed_hyperparameters
from .model import HPOConfig, SolutionRequest

MAX_THRESHOLD_LENGTH = 256  # botocore's EventValueThreshold; also applied to the CLI's option


def parse_create_solution(obj: object) -> SolutionRequest:
    """Validate a CreateSolution request; raise ``InvalidInputException`` (only) when it is not valid."""
    request = check_envelope(obj)
    recipe_or_automl(request)
    automl_performs_hpo(request)
    config = request.get("solutionConfig") or {}
    common = dict(
        name=request.get("name") or DEFAULT_SOLUTION_NAME,
        dataset_group_arn=request.get("datasetGroupArn"),
        event_type=request.get("eventType"),
        solution_config=dict(config),
        raw=request,
    )
    if request.get("performAutoML"):
        return _parse_automl(config, common)

    recipe = lookup_recipe(request["recipeArn"], "recipeArn")
    fixed = parse_fixed_hyperparameters(recipe, config)
    hyperparameters = effective_hyperparameters(recipe, fixed)
    percentile_bounds_ordered(recipe, hyperparameters, fixed)
    perform_hpo = bool(request.get("performHPO"))
    return SolutionRequest(
        recipe=recipe,
        perform_hpo=perform_hpo,
        perform_automl=False,
        event_value_threshold=parse_event_value_threshold(
            config.get("eventValueThreshold"), "solutionConfig.eventValueThreshold"),
        hyperparameters=hyperparameters,
        # hpoConfig is ignored (only its envelope checked) unless performHPO.
        hpo=parse_hpo_config(recipe, config.get("hpoConfig") or {}, fixed) if perform_hpo else None,
        **common,
    )


def _parse_automl(config: dict, common: dict) -> SolutionRequest:
    """AutoML: HPO on the chosen recipe over its default ranges; other solutionConfig members ignored."""
    path = "solutionConfig.autoMLConfig"
    automl = config.get("autoMLConfig") or {}
    metric = parse_metric_name(automl, path)
    arns = automl.get("recipeList")
    recipes = [lookup_recipe(arn, f"{path}.recipeList[{i}]") for i, arn in enumerate(arns or ())]
    recipe = recipes[0] if recipes else HRNN_RECIPE  # every implemented recipe is aws-hrnn
    return SolutionRequest(
        recipe=recipe,
        perform_hpo=True,
        perform_automl=True,
        event_value_threshold=None,
        hyperparameters=recipe.defaults,
        hpo=HPOConfig(objective_metric=metric, objective_type="Maximize", ranges=default_ranges(recipe, {})),
        **common,
    )


def check_envelope(obj: object) -> dict:
    """Validate the request against the shapes and overlay; return it, now known to be a well-formed object.
    Under performAutoML the members a recipe run refuses are only shape-checked (see the overlay)."""
    automl = isinstance(obj, dict) and obj.get("performAutoML") is True
    validate(table("personalize", automl), REQUEST_SHAPE, obj)
    return obj  # type: ignore[return-value]


def lookup_recipe(arn: str, path: str) -> Recipe:
    """The implemented recipe an ARN names (the envelope has checked it is an ARN)."""
    recipe = RECIPES.get(arn)
    if recipe is None:
        raise invalid(path, arn, f"not an implemented recipe; implemented recipes: {', '.join(RECIPES)}")
    return recipe


def parse_event_value_threshold(text: str | None, path: str) -> float | None:
    """eventValueThreshold (a string on the wire) as a finite number; None when absent.

    Public because the CLI's ``--event-value-threshold`` takes the same string, with its own path.
    """
    if text is None:
        return None
    expected = "expected a string holding a finite number, e.g. \"0.5\""
    if not isinstance(text, str) or len(text) > MAX_THRESHOLD_LENGTH:
        raise invalid(path, text, expected)
    try:
        value = float(text)
    except ValueError:
        raise invalid(path, text, expected) from None
    if not math.isfinite(value):
        raise invalid(path, text, expected)
    return value


_TYPED: dict[str, SolutionRequest] = {}
_TYPED_LIMIT = 64


def typed_request(request: dict) -> SolutionRequest:
    """:func:`parse_create_solution`, once per process for a given request: CreateSolution parses it, and the
    version trained from it later in the same process is given the same typed object (requests are frozen)."""
    import json

    key = json.dumps(request, sort_keys=True)
    typed = _TYPED.get(key)
    if typed is None:
        typed = parse_create_solution(request)
        if len(_TYPED) >= _TYPED_LIMIT:
            _TYPED.clear()
        _TYPED[key] = typed
    return typed
