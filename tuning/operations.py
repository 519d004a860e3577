"""The service's operations on a local workspace: one function per operation, the service's shapes in and out.

Why one layer: the ``hrnn`` command (and any other front end) calls these functions, so a response is
shaped in exactly one place. Parameters carry the service's member names (``solutionVersionArn``,
``numResults``); results are the service's response dictionaries and carry only members botocore's
model knows (``tests/test_faults_cli.py`` validates every one against the model's output shapes).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from hrnn.errors import InvalidInputException, ResourceInUseException, ResourceNotFoundException, ServiceError
from hrnn.recipe import CATEGORICAL, INTEGER, RECIPES, Recipe

from .workspace import (VersionFiles, Workspace, describe_members, parse_solution_arn, parse_version_arn, version_arn,
                        version_summary)

ACTIVE = "ACTIVE"
MAX_USER_ID = 256  # personalize-runtime's UserID
MAX_LIST_RESULTS = 100


# ---- recipes and algorithms ---------------------------------------------------------------------------------

def list_recipes() -> dict:
    return {"recipes": [{"name": r.name, "recipeArn": r.recipe_arn, "status": ACTIVE} for r in RECIPES.values()]}


def _recipe(recipe_arn: object) -> Recipe:
    recipe = RECIPES.get(recipe_arn) if isinstance(recipe_arn, str) else None
    if recipe is None:
        raise ResourceNotFoundException(
            f"Recipe {str(recipe_arn)[:300]!r} is not implemented; implemented recipes: {', '.join(RECIPES)}.")
    return recipe


def describe_recipe(recipe_arn: str) -> dict:
    recipe = _recipe(recipe_arn)
    return {"recipe": {"name": recipe.name, "recipeArn": recipe.recipe_arn, "algorithmArn": recipe.algorithm_arn,
                       "featureTransformationArn": recipe.feature_transformation_arn, "status": ACTIVE,
                       "description": recipe.description, "recipeType": recipe.recipe_type}}


def describe_algorithm(algorithm_arn: str) -> dict:
    recipe = next((r for r in RECIPES.values() if r.algorithm_arn == algorithm_arn), None)
    if recipe is None:
        raise ResourceNotFoundException(
            f"Algorithm {str(algorithm_arn)[:300]!r} is not implemented; implemented algorithms: "
            f"{', '.join(r.algorithm_arn for r in RECIPES.values())}.")
    return {"algorithm": {"name": recipe.name, "algorithmArn": recipe.algorithm_arn,
                          "defaultHyperParameters": recipe.wire_defaults(),
                          "defaultHyperParameterRanges": default_ranges(recipe),
                          "defaultResourceConfig": _default_resource_config()}}


def _default_resource_config() -> dict:
    from .request import DEFAULT_MAX_PARALLEL_TRAINING_JOBS, DEFAULT_MAX_TRAINING_JOBS

    return {"maxNumberOfTrainingJobs": str(DEFAULT_MAX_TRAINING_JOBS),
            "maxParallelTrainingJobs": str(DEFAULT_MAX_PARALLEL_TRAINING_JOBS)}


def default_ranges(recipe: Recipe) -> dict:
    """DescribeAlgorithm's ``defaultHyperParameterRanges``: each hyperparameter's declared range that the
    service's model can express (its ranges stop at +-1,000,000: ``seed`` and ``small_catalogue_max_items``,
    never tuned, are left out rather than shown with bounds that are not theirs)."""
    from .request.envelope import service_shapes
    from .shapes import validate

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
            validate(service_shapes(), shape, entry)
        except InvalidInputException:
            continue
        ranges[key].append(entry)
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
                            options=None, training_mode: str | None = None) -> dict:
    """CreateSolutionVersion, synchronously: train or tune, then answer with the version's ARN. A failure
    (or a stop) after the version exists raises with ``response`` set to this answer."""
    from .solution_version import RunOptions, create_solution_version as run

    if training_mode not in (None, "FULL"):
        raise InvalidInputException(f"trainingMode {str(training_mode)[:50]!r} is not supported; aws-hrnn trains "
                                    "FULL solution versions only.")
    try:
        return {"solutionVersionArn": run(workspace, solution_arn, interactions, options or RunOptions())}
    except BaseException as exc:
        arn = getattr(exc, "solution_version_arn", None)
        if arn is not None:
            exc.response = {"solutionVersionArn": arn}
        raise


def describe_solution_version(workspace: Workspace, solution_version_arn: str) -> dict:
    return {"solutionVersion": describe_members(workspace.resolve_version(solution_version_arn).read_describe())}


def list_solution_versions(workspace: Workspace, solution_arn: str | None = None, max_results: int | None = None,
                           next_token: str | None = None) -> dict:
    """ListSolutionVersions: summaries, newest first (as the service lists them), of one solution or all."""
    if solution_arn is not None:
        name = parse_solution_arn(solution_arn)
        workspace.describe_solution(solution_arn)  # ResourceNotFoundException for an unknown solution
        names = [name]
    else:
        names = workspace.solution_names()
    summaries = [version_summary(v.read_describe()) for n in names for v in workspace.versions(n)]
    summaries.sort(key=lambda s: s["creationDateTime"], reverse=True)
    limit = MAX_LIST_RESULTS if max_results is None else max_results
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_RESULTS:
        raise InvalidInputException(f"maxResults {limit!r} is invalid; expected an integer from 1 to {MAX_LIST_RESULTS}.")
    start = _token_offset(next_token, len(summaries))
    page = summaries[start:start + limit]
    response = {"solutionVersions": page}
    if start + limit < len(summaries):
        response["nextToken"] = f"offset-{start + limit}"
    return response


def _token_offset(token: str | None, size: int) -> int:
    if token is None:
        return 0
    if isinstance(token, str) and token.startswith("offset-") and token[7:].isdigit() and int(token[7:]) <= size:
        return int(token[7:])
    err = ServiceError(f"nextToken {str(token)[:100]!r} was not returned by list-solution-versions.")
    err.type_name = "InvalidNextTokenException"
    raise err


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


def check_user_id(user_id: object) -> str:
    if isinstance(user_id, bool) or not isinstance(user_id, str) or not 1 <= len(user_id) <= MAX_USER_ID:
        raise InvalidInputException(
            f"userId {str(user_id)[:60]!r}{'...' if len(str(user_id)) > 60 else ''} is invalid; aws-hrnn (a "
            f"USER_PERSONALIZATION recipe) needs a userId of 1 to {MAX_USER_ID} characters.")
    return user_id


def get_recommendations(workspace: Workspace, solution_version_arn: str, user_id: str | None,
                        num_results: int = 25) -> dict:
    from hrnn.artifact import check_num_results

    check_user_id(user_id)
    check_num_results(num_results)  # before the model loads, so a bad value answers at once
    result = load_model(workspace, solution_version_arn).recommend([user_id], num_results)[0]
    return {**result, "recommendationId": f"RID-{uuid.uuid4()}"}


def create_batch_inference_job(workspace: Workspace, solution_version_arn: str, job_input: str | os.PathLike,
                               job_output: str | os.PathLike, num_results: int = 25, overwrite: bool = False,
                               report=None) -> dict:
    """CreateBatchInferenceJob, synchronously. ``report(summary)`` (optional) gets what was written: the
    output path, records and per-line errors (the service's response has only the job's ARN)."""
    from hrnn.artifact import check_num_results

    from .batch import check_output, run_batch
    from .run_options import local_input_path

    check_num_results(num_results)
    source = Path(local_input_path(job_input, "jobInput"))
    target = check_output(source, local_input_path(job_output, "jobOutput", resolve=False), overwrite)  # before the model loads
    model = load_model(workspace, solution_version_arn)
    summary = run_batch(model, source, target, num_results, overwrite=overwrite)
    if report is not None:
        report(summary)
    name, version_id = parse_version_arn(solution_version_arn)
    return {"batchInferenceJobArn": f"{version_arn(name, version_id)}/batch/{uuid.uuid4().hex[:8]}"}


# ---- every operation by the service's name (the HTTP endpoint; tuning/resources) ------------------------------

def call_operation(service, operation: str, request: object) -> dict:
    """Any implemented control-plane operation (``"CreateSchema"``, ...): the request checked against
    botocore's input shape, the result in the service's shape. ``service`` is a
    :class:`tuning.resources.service.Service` (workspace, job runner, loaded campaigns)."""
    from .resources.api import call

    return call(service, operation, request)

