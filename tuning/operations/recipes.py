"""ListRecipes, DescribeRecipe, DescribeAlgorithm: what the recipe registry (:mod:`hrnn.recipe`) declares."""

from __future__ import annotations

from hrnn.errors import InvalidInputException, ResourceNotFoundException
from hrnn.recipe import CATEGORICAL, INTEGER, RECIPES, Recipe

from ..contract import public, table
from ..lifecycle import ACTIVE
from ..request import DEFAULT_MAX_PARALLEL_TRAINING_JOBS, DEFAULT_MAX_TRAINING_JOBS
from ..shapes import validate


def list_recipes(ctx, request: dict) -> dict:
    if request.get("domain"):
        return {"recipes": []}  # no domain (recommender) recipes here
    return {"recipes": [{"name": r.name, "recipeArn": r.recipe_arn, "status": ACTIVE} for r in RECIPES.values()]}


def describe_recipe(ctx, request: dict) -> dict:
    recipe = RECIPES.get(request["recipeArn"])
    if recipe is None:
        raise ResourceNotFoundException(f"Recipe {request['recipeArn'][:300]!r} is not implemented; implemented "
                                        f"recipes: {', '.join(RECIPES)}.")
    return {"recipe": {"name": recipe.name, "recipeArn": recipe.recipe_arn, "algorithmArn": recipe.algorithm_arn,
                       "featureTransformationArn": recipe.feature_transformation_arn, "status": ACTIVE,
                       "description": recipe.description, "recipeType": recipe.recipe_type}}


def describe_algorithm(ctx, request: dict) -> dict:
    arn = request["algorithmArn"]
    recipe = next((r for r in RECIPES.values() if r.algorithm_arn == arn), None)
    if recipe is None:
        raise ResourceNotFoundException(
            f"Algorithm {arn[:300]!r} is not implemented; implemented algorithms: "
            f"{', '.join(r.algorithm_arn for r in RECIPES.values())}.")
    return {"algorithm": public("Algorithm", {
        "name": recipe.name, "algorithmArn": recipe.algorithm_arn,
        "defaultHyperParameters": recipe.wire_defaults(),
        "defaultHyperParameterRanges": default_ranges(recipe),
        "defaultResourceConfig": {"maxNumberOfTrainingJobs": str(DEFAULT_MAX_TRAINING_JOBS),
                                  "maxParallelTrainingJobs": str(DEFAULT_MAX_PARALLEL_TRAINING_JOBS)}})}


def default_ranges(recipe: Recipe) -> dict:
    """DescribeAlgorithm's ``defaultHyperParameterRanges``: each hyperparameter's declared range that the
    service's model can express (its ranges stop at +-1,000,000: ``seed`` and ``small_catalogue_max_items``,
    never tuned, are left out rather than shown with bounds that are not theirs)."""
    ranges: dict[str, list] = {"integerHyperParameterRanges": [], "continuousHyperParameterRanges": [],
                               "categoricalHyperParameterRanges": []}
    for hp in recipe.hyperparameters:
        if hp.type == CATEGORICAL:
            key, shape = "categoricalHyperParameterRanges", "DefaultCategoricalHyperParameterRange"
            entry = {"name": hp.name, "values": list(hp.values), "isTunable": hp.tunable}
        else:
            integer = hp.type == INTEGER
            key = "integerHyperParameterRanges" if integer else "continuousHyperParameterRanges"
            shape = "DefaultIntegerHyperParameterRange" if integer else "DefaultContinuousHyperParameterRange"
            cast = int if integer else float
            entry = {"name": hp.name, "minValue": cast(hp.min_value), "maxValue": cast(hp.max_value),
                     "isTunable": hp.tunable}
        try:
            validate(table(), shape, entry)
        except InvalidInputException:
            continue
        ranges[key].append(entry)
    return ranges
