"""The ``hrnn`` command line: the service's operations, local.

Responses go to stdout as JSON shaped like the service's; progress goes to stderr (``--quiet`` silences
it). Every user error prints ``{"__type": ..., "message": ...}`` to stderr and exits 255, as the AWS CLI
exits on a service error; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from hrnn.errors import InvalidInputException, ServiceError

from . import operations

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
    from .workspace import Workspace

    return Workspace.at(args.workspace)


def _interactions(args) -> str:
    from .samples import sample_interactions

    return str(args.interactions) if args.interactions else str(sample_interactions())


# ---- commands --------------------------------------------------------------------------------------

def cmd_summarize(args) -> None:
    from hrnn.data import DataConfig, load_interactions

    from .request import parse_event_value_threshold

    threshold = parse_event_value_threshold(args.event_value_threshold, "--event-value-threshold")
    config = DataConfig(event_type=args.event_type, event_value_threshold=threshold)
    path = _interactions(args)
    _emit({"interactions": path, "summary": load_interactions(path, config).summary()})


def cmd_generate_data(args) -> None:
    from hrnn.synth.cli import run

    run(args)


def cmd_list_recipes(args) -> None:
    _emit(operations.list_recipes())


def cmd_describe_recipe(args) -> None:
    _emit(operations.describe_recipe(args.recipe_arn))


def cmd_create_solution(args) -> None:
    from .request import load_request

    _emit(operations.create_solution(_workspace(args), load_request(_request_source(args))))


def cmd_describe_solution(args) -> None:
    _emit(operations.describe_solution(_workspace(args), args.solution_arn))


def _run_options(args):
    from .solution_version import RunOptions

    return RunOptions(device=args.device, quiet=args.quiet, gpus_per_trial=args.gpus_per_trial,
                      cpus_per_trial=args.cpus_per_trial, max_epochs=args.max_epochs, storage=args.storage)


def cmd_create_solution_version(args) -> None:
    _emit(operations.create_solution_version(_workspace(args), args.solution_arn, _interactions(args),
                                             _run_options(args)))


def cmd_describe_solution_version(args) -> None:
    _emit(operations.describe_solution_version(_workspace(args), args.solution_version_arn))


def cmd_get_solution_metrics(args) -> None:
    _emit(operations.get_solution_metrics(_workspace(args), args.solution_version_arn))


def cmd_get_recommendations(args) -> None:
    _emit(operations.get_recommendations(_workspace(args), args.solution_version_arn, args.user_id,
                                         args.num_results))


def cmd_create_batch_inference_job(args) -> None:
    _emit(operations.create_batch_inference_job(_workspace(args), args.solution_version_arn, args.job_input,
                                                args.job_output, args.num_results))


def cmd_run(args) -> None:
    """The main job: the example HPO request on the sample data, end to end."""
    from .request import load_request
    from .samples import example_request

    workspace = _workspace(args)
    solution = operations.create_solution(workspace, load_request(str(args.request or example_request())))
    arn = operations.create_solution_version(workspace, solution["solutionArn"], _interactions(args),
                                             _run_options(args))["solutionVersionArn"]
    described = operations.describe_solution_version(workspace, arn)["solutionVersion"]
    metrics = operations.get_solution_metrics(workspace, arn)["metrics"] if described["status"] == "ACTIVE" else None
    _emit({
        "solutionVersionArn": arn,
        "status": described["status"],
        "tunedHPOParams": described.get("tunedHPOParams"),
        "metrics": metrics,
        "trainingHours": described.get("trainingHours"),
        "results": str(workspace.resolve_version(arn).path),
    })


# ---- parser ------------------------------------------------------------------------------------------

def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workspace", default=None,
                   help="workspace directory (default: $HRNN_WORKSPACE or ./hrnn-workspace)")
    p.add_argument("--quiet", action="store_true", help="no progress output on stderr")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--interactions", default=None,
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
    p.add_argument("--interactions", default=None, help="Interactions CSV or Parquet (default: the embedded sample)")
    p.add_argument("--event-type", default=None)
    p.add_argument("--event-value-threshold", default=None)
    p.set_defaults(func=cmd_summarize)

    from hrnn.synth.cli import DESCRIPTION, add_arguments

    p = sub.add_parser("generate-data", help="write a synthetic Interactions file", description=DESCRIPTION)
    add_arguments(p)
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

    from .server.cli import add_serve_command
    add_serve_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
