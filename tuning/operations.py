"""The service's operations on a local workspace: one function per operation, the service's shapes in and out.

Why one layer: the ``hrnn`` command (and any other front end) calls these functions, so a response is
shaped in exactly one place. Parameters carry the service's member names (``solutionVersionArn``,
``numResults``); results are the service's response dictionaries.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from hrnn.errors import InvalidInputException, ResourceInUseException, ResourceNotFoundException
from hrnn.recipe import CATEGORICAL, INTEGER, RECIPES, Recipe

from .workspace import VersionFiles, Workspace

ACTIVE = "ACTIVE"
DEFAULT_RESOURCE_CONFIG = {"maxNumberOfTrainingJobs": "4", "maxParallelTrainingJobs": "2"}


# ---- recipes -------------------------------------------------------------------------------------------------

def list_recipes() -> dict:
    return {"recipes": [{"name": r.name, "recipeArn": r.recipe_arn, "status": ACTIVE} for r in RECIPES.values()]}


def describe_recipe(recipe_arn: str) -> dict:
    recipe = RECIPES.get(recipe_arn)
    if recipe is None:
        raise ResourceNotFoundException(
            f"Recipe {recipe_arn!r} is not implemented; implemented recipes: {', '.join(RECIPES)}.")
    return {
        "recipe": {"name": recipe.name, "recipeArn": recipe.recipe_arn, "algorithmArn": recipe.algorithm_arn,
                   "featureTransformationArn": recipe.feature_transformation_arn, "status": ACTIVE,
                   "description": recipe.description, "recipeType": recipe.recipe_type},
        "algorithm": {"algorithmArn": recipe.algorithm_arn,
                      "defaultHyperParameters": recipe.wire_defaults(),
                      "defaultHyperParameterRanges": default_ranges(recipe),
                      "defaultResourceConfig": dict(DEFAULT_RESOURCE_CONFIG)},
        "hyperparameterKinds": {hp.name: hp.kind for hp in recipe.hyperparameters},
    }


def default_ranges(recipe: Recipe) -> dict:
    """DescribeAlgorithm's ``defaultHyperParameterRanges``: every hyperparameter's declared range."""
    ranges: dict[str, list] = {"integerHyperParameterRanges": [], "continuousHyperParameterRanges": [],
                               "categoricalHyperParameterRanges": []}
    for hp in recipe.hyperparameters:
        if hp.type == CATEGORICAL:
            ranges["categoricalHyperParameterRanges"].append(
                {"name": hp.name, "values": list(hp.values), "isTunable": hp.tunable})
            continue
        key = "integerHyperParameterRanges" if hp.type == INTEGER else "continuousHyperParameterRanges"
        cast = int if hp.type == INTEGER else float
        ranges[key].append({"name": hp.name, "minValue": cast(hp.min_value), "maxValue": cast(hp.max_value),
                            "isTunable": hp.tunable})
    return ranges


# ---- solutions and versions ------------------------------------------------------------------------------------

def create_solution(workspace: Workspace, request: dict) -> dict:
    """CreateSolution: validate the whole request now (everything a version could refuse about it)."""
    from .request import parse_create_solution

    parsed = parse_create_solution(request)
    return {"solutionArn": workspace.create_solution(request, parsed)}


def describe_solution(workspace: Workspace, solution_arn: str) -> dict:
    return workspace.describe_solution(solution_arn)


def create_solution_version(workspace: Workspace, solution_arn: str, interactions: str | os.PathLike,
                            options=None) -> dict:
    """CreateSolutionVersion, synchronously: train or tune, then answer with the version's ARN."""
    from .solution_version import RunOptions, create_solution_version as run

    return {"solutionVersionArn": run(workspace, solution_arn, interactions, options or RunOptions())}


def describe_solution_version(workspace: Workspace, solution_version_arn: str) -> dict:
    described = workspace.resolve_version(solution_version_arn).read_describe()
    described.pop("pid", None)  # bookkeeping of the process that trains it, not part of the service's shape
    return {"solutionVersion": described}


def active_version(workspace: Workspace, solution_version_arn: str) -> VersionFiles:
    version = workspace.resolve_version(solution_version_arn)
    status = version.read_describe()["status"]
    if status != ACTIVE:
        raise ResourceInUseException(
            f"Solution version {solution_version_arn} is {status!r}; metrics and recommendations need ACTIVE.")
    return version


def get_solution_metrics(workspace: Workspace, solution_version_arn: str) -> dict:
    return active_version(workspace, solution_version_arn).read_metrics()


# ---- recommendations ---------------------------------------------------------------------------------------------

def load_model(workspace: Workspace, solution_version_arn: str):
    from hrnn.artifact import LoadedModel

    return LoadedModel.load(active_version(workspace, solution_version_arn).model)


def get_recommendations(workspace: Workspace, solution_version_arn: str, user_id: str | None,
                        num_results: int = 25) -> dict:
    from hrnn.artifact import check_num_results

    if not user_id:
        raise InvalidInputException("userId is required for aws-hrnn (a USER_PERSONALIZATION recipe).")
    check_num_results(num_results)  # before the model loads, so a bad value answers at once
    result = load_model(workspace, solution_version_arn).recommend([user_id], num_results)[0]
    return {**result, "recommendationId": f"RID-{uuid.uuid4()}"}


def create_batch_inference_job(workspace: Workspace, solution_version_arn: str, job_input: str | os.PathLike,
                               job_output: str | os.PathLike, num_results: int = 25) -> dict:
    from hrnn.artifact import check_num_results

    from .batch import run_batch

    check_num_results(num_results)
    summary = run_batch(load_model(workspace, solution_version_arn), Path(job_input), Path(job_output),
                        num_results)
    return {"batchInferenceJobArn": f"{solution_version_arn}/batch/{uuid.uuid4().hex[:8]}", **summary}


# ---- every operation by the service's name (the HTTP endpoint; tuning/resources) ------------------------------

def call_operation(service, operation: str, request: object) -> dict:
    """Any implemented control-plane operation (``"CreateSchema"``, ...): the request checked against
    botocore's input shape, the result in the service's shape. ``service`` is a
    :class:`tuning.resources.service.Service` (workspace, job runner, loaded campaigns)."""
    from .resources.api import call

    return call(service, operation, request)


def get_campaign_recommendations(service, request: object) -> dict:
    """The runtime's GetRecommendations on a campaign (``campaignArn``, ``userId``, ``numResults``)."""
    from .resources.campaigns import get_recommendations

    return get_recommendations(service, request)
