"""The ``hrnn`` command line: the service's operations, local.

Responses go to stdout as JSON shaped like the service's; progress goes to stderr (``--quiet`` silences
it). Every user error prints ``{"__type": ..., "message": ...}`` to stderr and exits 255, as the AWS CLI
exits on a service error; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from pathlib import Path

from hrnn.errors import InvalidInputException, ServiceError

REPO_DATA = Path(__file__).resolve().parent.parent / "data"
SAMPLE_INTERACTIONS = REPO_DATA / "sample_interactions.csv"
SAMPLE_HPO_REQUEST = REPO_DATA / "requests" / "hpo_request.json"
SERVICE_ERROR_EXIT = 255


def _emit(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")
    sys.stdout.flush()


def _request_source(args) -> str:
    source = args.cli_input_json or args.request
    if not source:
        raise InvalidInputException("No request given: pass --cli-input-json file://request.json or a request path.")
    return source


def _workspace(args):
    from tuning.workspace import Workspace

    return Workspace.at(args.workspace)


# ---- commands --------------------------------------------------------------------------------------

def cmd_summarize(args) -> None:
    from hrnn.data import DataConfig, load_interactions

    from tuning.request import parse_event_value_threshold

    threshold = parse_event_value_threshold(args.event_value_threshold, "--event-value-threshold")
    config = DataConfig(event_type=args.event_type, event_value_threshold=threshold)
    _emit({"interactions": str(args.interactions), "summary": load_interactions(args.interactions, config).summary()})


def cmd_generate_data(args) -> None:
    from hrnn.synth import main as synth_main

    synth_main(args.synth_args)


def cmd_list_recipes(args) -> None:
    from hrnn.recipe import RECIPES

    _emit({"recipes": [{"name": r.name, "recipeArn": r.recipe_arn, "status": "ACTIVE"} for r in RECIPES.values()]})


def cmd_describe_recipe(args) -> None:
    from hrnn.recipe import CATEGORICAL, INTEGER, RECIPES

    recipe = RECIPES.get(args.recipe_arn)
    if recipe is None:
        from hrnn.errors import ResourceNotFoundException

        raise ResourceNotFoundException(
            f"Recipe {args.recipe_arn!r} is not implemented; implemented recipes: {', '.join(RECIPES)}."
        )
    ranges = {"integerHyperParameterRanges": [], "continuousHyperParameterRanges": [],
              "categoricalHyperParameterRanges": []}
    for hp in recipe.hyperparameters:
        if hp.type == CATEGORICAL:
            ranges["categoricalHyperParameterRanges"].append(
                {"name": hp.name, "values": list(hp.values), "isTunable": hp.tunable})
        else:
            key = "integerHyperParameterRanges" if hp.type == INTEGER else "continuousHyperParameterRanges"
            cast = int if hp.type == INTEGER else float
            ranges[key].append({"name": hp.name, "minValue": cast(hp.min_value), "maxValue": cast(hp.max_value),
                                "isTunable": hp.tunable})
    _emit({
        "recipe": {"name": recipe.name, "recipeArn": recipe.recipe_arn, "algorithmArn": recipe.algorithm_arn,
                   "featureTransformationArn": recipe.feature_transformation_arn, "status": "ACTIVE",
                   "description": recipe.description, "recipeType": recipe.recipe_type},
        "algorithm": {"algorithmArn": recipe.algorithm_arn,
                      "defaultHyperParameters": recipe.wire_defaults(),
                      "defaultHyperParameterRanges": ranges,
                      "defaultResourceConfig": {"maxNumberOfTrainingJobs": "4", "maxParallelTrainingJobs": "2"}},
        "hyperparameterKinds": {hp.name: hp.kind for hp in recipe.hyperparameters},
    })


def cmd_create_solution(args) -> None:
    from tuning.request import load_request, parse_create_solution

    raw = load_request(_request_source(args))
    request = parse_create_solution(raw)
    _emit({"solutionArn": _workspace(args).create_solution(raw, request)})


def cmd_describe_solution(args) -> None:
    _emit(_workspace(args).describe_solution(args.solution_arn))


def _run_options(args):
    from tuning.solution_version import RunOptions

    return RunOptions(device=args.device, quiet=args.quiet, gpus_per_trial=args.gpus_per_trial,
                      cpus_per_trial=args.cpus_per_trial, max_epochs=args.max_epochs, storage=args.storage)


def cmd_create_solution_version(args) -> None:
    from tuning.solution_version import create_solution_version

    arn = create_solution_version(_workspace(args), args.solution_arn, args.interactions, _run_options(args))
    _emit({"solutionVersionArn": arn})


def cmd_describe_solution_version(args) -> None:
    version = _workspace(args).describe_version(args.solution_version_arn)
    version["solutionVersion"].pop("pid", None)
    _emit(version)


def _active_version(args) -> Path:
    from hrnn.errors import ResourceInUseException
    from tuning.workspace import read_json

    directory = _workspace(args).resolve_version(args.solution_version_arn)
    status = read_json(directory / "describe.json")["solutionVersion"]["status"]
    if status != "ACTIVE":
        raise ResourceInUseException(
            f"Solution version {args.solution_version_arn} is {status!r}; metrics and recommendations need ACTIVE."
        )
    return directory


def cmd_get_solution_metrics(args) -> None:
    from tuning.workspace import read_json

    _emit(read_json(_active_version(args) / "metrics.json"))


def _load_model(args):
    from hrnn.artifact import LoadedModel

    return LoadedModel.load(_active_version(args) / "model")


def cmd_get_recommendations(args) -> None:
    if not args.user_id:
        raise InvalidInputException("userId is required for aws-hrnn (a USER_PERSONALIZATION recipe): pass --user-id.")
    from hrnn.artifact import check_num_results

    check_num_results(args.num_results)  # before the model loads, so a bad value answers at once
    model = _load_model(args)
    result = model.recommend([args.user_id], args.num_results)[0]
    _emit({**result, "recommendationId": f"RID-{uuid.uuid4()}"})


def cmd_create_batch_inference_job(args) -> None:
    from .batch import run_batch

    from hrnn.artifact import check_num_results

    check_num_results(args.num_results)
    model = _load_model(args)
    summary = run_batch(model, args.job_input, args.job_output, args.num_results)
    _emit({"batchInferenceJobArn": f"{args.solution_version_arn}/batch/{uuid.uuid4().hex[:8]}", **summary})


def cmd_run(args) -> None:
    """The main job: the example HPO request on the sample data, end to end."""
    from tuning.request import load_request, parse_create_solution
    from tuning.solution_version import create_solution_version
    from tuning.workspace import read_json

    workspace = _workspace(args)
    raw = load_request(str(args.request or SAMPLE_HPO_REQUEST))
    request = parse_create_solution(raw)
    arn = workspace.create_solution(raw, request)
    version = create_solution_version(workspace, arn, args.interactions, _run_options(args))
    directory = workspace.resolve_version(version)
    described = read_json(directory / "describe.json")["solutionVersion"]
    _emit({
        "solutionVersionArn": version,
        "status": described["status"],
        "tunedHPOParams": described.get("tunedHPOParams"),
        "metrics": read_json(directory / "metrics.json")["metrics"],
        "trainingHours": described.get("trainingHours"),
        "results": str(directory),
    })


# ---- parser ------------------------------------------------------------------------------------------

def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workspace", default=None,
                   help="workspace directory (default: $HRNN_WORKSPACE or ./hrnn-workspace)")
    p.add_argument("--quiet", action="store_true", help="no progress output on stderr")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--interactions", default=str(SAMPLE_INTERACTIONS),
                   help="Interactions CSV or Parquet (default: the embedded sample)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    p.add_argument("--gpus-per-trial", type=float, default=None,
                   help="GPUs per HPO trial (default: 1 when the cluster has GPUs, else 0); 0.5 packs two per GPU")
    p.add_argument("--cpus-per-trial", type=int, default=1)
    p.add_argument("--max-epochs", type=int, default=None, help="cap every trial's epochs (quick runs)")
    p.add_argument("--storage", default=None, help="Ray Tune storage path or URI (shared storage on a cluster)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hrnn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="main job: tune the example HPO request on the sample data")
    _add_common(p)
    _add_run_options(p)
    p.add_argument("--request", default=None, help="CreateSolution request (default: the example HPO request)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("summarize", help="read an Interactions file and print a dataset summary")
    p.add_argument("--interactions", default=str(SAMPLE_INTERACTIONS))
    p.add_argument("--event-type", default=None)
    p.add_argument("--event-value-threshold", default=None)
    p.set_defaults(func=cmd_summarize)

    p = sub.add_parser("generate-data", help="write a synthetic Interactions file (see hrnn.synth)")
    p.add_argument("synth_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_generate_data)

    p = sub.add_parser("list-recipes")
    p.set_defaults(func=cmd_list_recipes)
    p = sub.add_parser("describe-recipe")
    p.add_argument("--recipe-arn", required=True)
    p.set_defaults(func=cmd_describe_recipe)

    p = sub.add_parser("create-solution", help="validate a CreateSolution request and register the solution")
    _add_common(p)
    p.add_argument("request", nargs="?", help="request path (or use --cli-input-json)")
    p.add_argument("--cli-input-json", default=None, help="file://request.json, a path, or inline JSON")
    p.set_defaults(func=cmd_create_solution)

    p = sub.add_parser("describe-solution")
    _add_common(p)
    p.add_argument("--solution-arn", required=True)
    p.set_defaults(func=cmd_describe_solution)

    p = sub.add_parser("create-solution-version", help="train or tune a solution on an Interactions file")
    _add_common(p)
    _add_run_options(p)
    p.add_argument("--solution-arn", required=True)
    p.set_defaults(func=cmd_create_solution_version)

    for name, func in (("describe-solution-version", cmd_describe_solution_version),
                       ("get-solution-metrics", cmd_get_solution_metrics)):
        p = sub.add_parser(name)
        _add_common(p)
        p.add_argument("--solution-version-arn", required=True)
        p.set_defaults(func=func)

    p = sub.add_parser("get-recommendations")
    _add_common(p)
    p.add_argument("--solution-version-arn", "--campaign-arn", dest="solution_version_arn", required=True)
    p.add_argument("--user-id", required=True)
    p.add_argument("--item-id", default=None, help="ignored by aws-hrnn, as by the service")
    p.add_argument("--num-results", type=int, default=25)
    p.set_defaults(func=cmd_get_recommendations)

    p = sub.add_parser("create-batch-inference-job", help="JSON lines {\"userId\": ...} in, recommendations out")
    _add_common(p)
    p.add_argument("--solution-version-arn", required=True)
    p.add_argument("--job-input", required=True, help="input JSON lines file")
    p.add_argument("--job-output", required=True, help="output file (or directory: <input name>.out inside)")
    p.add_argument("--num-results", type=int, default=25)
    p.add_argument("--job-name", default=None)
    p.set_defaults(func=cmd_create_batch_inference_job)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "quiet", False):
        os.environ.setdefault("HRNN_QUIET", "1")
    try:
        args.func(args)
    except ServiceError as exc:
        sys.stderr.write(json.dumps(exc.to_dict()) + "\n")
        return SERVICE_ERROR_EXIT
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
