"""The ``hrnn`` command line: the service's operations, local, with the AWS CLI's conventions.

Responses go to stdout (``--output json|text|table``, ``--query`` JMESPath); progress goes to stderr
(``--quiet`` silences it). Errors are printed as the AWS CLI prints them,
``An error occurred (InvalidInputException) when calling the CreateSolution operation: <message>``.
Exit status (the AWS CLI v2's): 0 success, 254 an error of the service (bad input, a resource missing or
in use, a failed solution version), 252 a usage error (the command line itself), 130 interrupted (SIGINT),
143 stopped by SIGTERM, 255 an internal error (``--debug`` prints its traceback).

Each command is a :class:`~tuning.cli_args.Command`: its operation's name, a handler that calls
:mod:`tuning.operations` with the members, and its options (one per member). Adding a command is one
entry in :func:`commands` and a handler of a few lines.
"""

from __future__ import annotations

import platform
import sys
import traceback

from hrnn.errors import ServiceError

from . import interrupts, operations
from .cli_args import USAGE_EXIT, Command, Context, Option, Parser, UsageError, add_command, add_globals, members, \
    skeleton
from .cli_output import compile_query, render

SERVICE_ERROR_EXIT = 254
INTERNAL_ERROR_EXIT = 255
PERSONALIZE = "personalize"

SOLUTION_ARN = Option("solutionArn", "the solution's ARN, as create-solution returned it", required=True)
VERSION_ARN = Option("solutionVersionArn", "the solution version's ARN, as create-solution-version returned it",
                     required=True)
INTERACTIONS = Option("interactions", "Interactions CSV or Parquet file (a path or file://; default: the "
                      "embedded sample)")
RUN_OPTIONS = (
    INTERACTIONS,
    Option("device", "training device: auto (CUDA when available), cpu, cuda or cuda:N", default="auto"),
    Option("gpusPerTrial", "GPUs per HPO trial (default: 1 when the cluster has GPUs, else 0); 0.5 packs two "
           "trials per GPU", kind="number"),
    Option("cpusPerTrial", "CPUs per HPO trial (default 1)", kind="integer", default=1),
    Option("maxEpochs", "cap every trial's epochs (quick runs); at least 1", kind="integer"),
    Option("storage", "Ray Tune storage: a directory or a URI such as s3://bucket/prefix (default: inside the "
           "version); on a cluster, reachable from every node"),
    Option("earlyStopping", "HPO: stop trials that fall behind at epochs 1, 3, 9, ... (default: on)", kind="boolean"),
    Option("refit", "HPO: train the best configuration again on all the training interactions and serve that "
           "model (default: off)", kind="boolean"),
)


# ---- handlers: members in, the operation's response out -----------------------------------------------------

def _workspace(ctx: Context):
    from .workspace import Workspace

    return Workspace.at(ctx.workspace)


def _interactions(m: dict) -> str:
    from .samples import sample_interactions

    return str(m["interactions"]) if m.get("interactions") else str(sample_interactions())


def _run_options(m: dict, ctx: Context):
    from .run_options import RunOptions

    return RunOptions(device=m["device"], quiet=ctx.quiet, gpus_per_trial=m.get("gpusPerTrial"),
                      cpus_per_trial=m["cpusPerTrial"], max_epochs=m.get("maxEpochs"),
                      storage=m.get("storage"), early_stopping=m.get("earlyStopping") is not False,
                      refit=m.get("refit") is True).check()


def _create_solution(m: dict, ctx: Context) -> dict:
    from .request import load_request

    request = dict(m)
    source = request.pop("request", None)
    if source is not None:
        request = {**load_request(source), **request}
    return operations.create_solution(_workspace(ctx), request)


def _create_solution_version(m: dict, ctx: Context) -> dict:
    options = _run_options(m, ctx)
    return operations.create_solution_version(_workspace(ctx), m["solutionArn"], _interactions(m), options,
                                              training_mode=m.get("trainingMode"))


def _batch(m: dict, ctx: Context) -> dict:
    def report(summary: dict) -> None:
        if not ctx.quiet:
            sys.stderr.write(f"wrote {summary['records']} records ({summary['errors']} with an error) to "
                             f"{summary['jobOutput']}\n")

    return operations.create_batch_inference_job(
        _workspace(ctx), m["solutionVersionArn"], _location(m["jobInput"]), _location(m["jobOutput"]),
        m["numResults"], overwrite=bool(m.get("overwrite")), report=report)


def _location(value) -> str:
    """A path, or the service's ``{"s3DataSource": {"path": ...}}`` (its path is then used)."""
    if isinstance(value, dict):
        value = (value.get("s3DataSource") or {}).get("path") if isinstance(value.get("s3DataSource"), dict) else None
        if not isinstance(value, str):
            raise UsageError('jobInput/jobOutput: expected a path or {"s3DataSource": {"path": "..."}}')
    return value


def _run(m: dict, ctx: Context) -> dict:
    """The main job: the example HPO request on the sample data, end to end."""
    from .request import load_request
    from .samples import example_request

    options = _run_options(m, ctx)
    workspace = _workspace(ctx)
    solution = operations.create_solution(workspace, load_request(str(m.get("request") or example_request())))
    arn = operations.create_solution_version(workspace, solution["solutionArn"], _interactions(m),
                                             options)["solutionVersionArn"]
    described = operations.describe_solution_version(workspace, arn)["solutionVersion"]
    metrics = operations.get_solution_metrics(workspace, arn)["metrics"] if described["status"] == "ACTIVE" else None
    return {"solutionVersionArn": arn, "status": described["status"],
            "tunedHPOParams": described.get("tunedHPOParams"), "metrics": metrics,
            "trainingHours": described.get("trainingHours"), "results": str(workspace.resolve_version(arn).path)}


def _summarize(m: dict, ctx: Context) -> dict:
    from hrnn.data import DataConfig, load_interactions

    from .request import parse_event_value_threshold
    from .run_options import local_input_path

    threshold = parse_event_value_threshold(m.get("eventValueThreshold"), "--event-value-threshold")
    config = DataConfig(event_type=m.get("eventType"), event_value_threshold=threshold)
    path = local_input_path(_interactions(m), "--interactions")
    return {"interactions": path, "summary": load_interactions(path, config).summary()}


def _generate_data(m: dict, ctx: Context) -> None:
    import argparse

    from hrnn.synth.cli import run

    run(argparse.Namespace(**{o.member: m.get(o.member, o.default) for o in _synth_options()}))


def _synth_options() -> tuple[Option, ...]:
    """The generator's own options (declared once, in ``hrnn.synth.cli``), as this command's members."""
    import argparse

    from hrnn.synth.cli import add_arguments

    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    kinds = {int: "integer", float: "number"}
    return tuple(Option(a.dest, a.help or a.dest, kind="boolean" if a.const is True else kinds.get(a.type, "string"),
                        default=a.default if a.const is not True else False, flags=tuple(a.option_strings))
                 for a in parser._actions)


# ---- the commands ---------------------------------------------------------------------------------------------

def commands() -> list[Command]:
    ws = _workspace
    return [
        Command("run", "Run", _run, "main job: tune the example HPO request on the sample data", (
            Option("request", "CreateSolution request file (default: the example HPO request)"), *RUN_OPTIONS)),
        Command("summarize", "Summarize", _summarize, "read an Interactions file and print a dataset summary", (
            INTERACTIONS, Option("eventType", "keep only events of this EVENT_TYPE"),
            Option("eventValueThreshold", "keep only events with EVENT_VALUE >= this number"))),
        Command("generate-data", "GenerateData", _generate_data, "write a synthetic Interactions file",
                _synth_options()),
        Command("list-recipes", "ListRecipes", lambda m, c: operations.list_recipes(), "list the recipes",
                output_shape=(PERSONALIZE, "ListRecipesResponse")),
        Command("describe-recipe", "DescribeRecipe", lambda m, c: operations.describe_recipe(m["recipeArn"]),
                "describe a recipe", (Option("recipeArn", "the recipe's ARN", required=True),),
                output_shape=(PERSONALIZE, "DescribeRecipeResponse")),
        Command("describe-algorithm", "DescribeAlgorithm",
                lambda m, c: operations.describe_algorithm(m["algorithmArn"]),
                "describe an algorithm: its default hyperparameters and ranges",
                (Option("algorithmArn", "the algorithm's ARN", required=True),),
                output_shape=(PERSONALIZE, "DescribeAlgorithmResponse")),
        Command("create-solution", "CreateSolution", _create_solution,
                "validate a CreateSolution request and register the solution", (
                    Option("request", "request file (or use --cli-input-json)", positional=True),
                    Option("name", "the solution's name (default hrnn-solution)"),
                    Option("recipeArn", "the recipe: arn:aws:personalize:::recipe/aws-hrnn"),
                    Option("datasetGroupArn", "the dataset group (recorded; the data comes with create-solution-version)"),
                    Option("performHPO", "tune the hyperparameters (hpoConfig in --solution-config)", kind="boolean"),
                    Option("performAutoML", "choose the recipe by tuning (aws-hrnn is the only one)", kind="boolean"),
                    Option("performAutoTraining", "accepted only as false: automatic training is not supported",
                           kind="boolean"),
                    Option("eventType", "train on this EVENT_TYPE only"),
                    Option("solutionConfig", "the solutionConfig object, as JSON", kind="json"),
                ), passthrough=True, output_shape=(PERSONALIZE, "CreateSolutionResponse")),
        Command("describe-solution", "DescribeSolution",
                lambda m, c: operations.describe_solution(ws(c), m["solutionArn"]), "describe a solution",
                (SOLUTION_ARN,), output_shape=(PERSONALIZE, "DescribeSolutionResponse")),
        Command("create-solution-version", "CreateSolutionVersion", _create_solution_version,
                "train or tune a solution on an Interactions file (resumes the same command's unfinished version)",
                (SOLUTION_ARN, Option("trainingMode", "FULL (the only mode aws-hrnn trains)", choices=("FULL",)),
                 *RUN_OPTIONS), output_shape=(PERSONALIZE, "CreateSolutionVersionResponse")),
        Command("list-solution-versions", "ListSolutionVersions",
                lambda m, c: operations.list_solution_versions(ws(c), m.get("solutionArn"), m.get("maxResults"),
                                                               m.get("nextToken")),
                "list solution versions, newest first", (
                    Option("solutionArn", "only this solution's versions (default: every solution's)"),
                    Option("maxResults", "at most this many (1-100)", kind="integer"),
                    Option("nextToken", "the nextToken of the previous page")),
                output_shape=(PERSONALIZE, "ListSolutionVersionsResponse")),
        Command("describe-solution-version", "DescribeSolutionVersion",
                lambda m, c: operations.describe_solution_version(ws(c), m["solutionVersionArn"]),
                "describe a solution version: status, tunedHPOParams, trainingHours", (VERSION_ARN,),
                output_shape=(PERSONALIZE, "DescribeSolutionVersionResponse")),
        Command("get-solution-metrics", "GetSolutionMetrics",
                lambda m, c: operations.get_solution_metrics(ws(c), m["solutionVersionArn"]),
                "the offline metrics of an ACTIVE solution version", (VERSION_ARN,),
                output_shape=(PERSONALIZE, "GetSolutionMetricsResponse")),
        Command("get-recommendations", "GetRecommendations",
                lambda m, c: operations.get_recommendations(ws(c), m["solutionVersionArn"], m["userId"],
                                                            m["numResults"]),
                "recommendations for a user", (
                    Option("solutionVersionArn", "the solution version (the service's campaign)", required=True,
                           flags=("--solution-version-arn", "--campaign-arn"), aliases=("campaignArn",)),
                    Option("userId", "the user (1 to 256 characters)", required=True),
                    Option("itemId", "ignored by aws-hrnn, as by the service"),
                    Option("numResults", "how many items, 1 to 500 (default 25)", kind="integer", default=25)),
                output_shape=("personalize-runtime", "GetRecommendationsResponse")),
        Command("create-batch-inference-job", "CreateBatchInferenceJob", _batch,
                'JSON lines {"userId": ...} in, recommendations out', (
                    Option("solutionVersionArn", "the solution version", required=True),
                    Option("jobInput", "input JSON lines file", kind="location", required=True),
                    Option("jobOutput", "output file (or a directory: <input name>.out inside); it must not exist "
                           "unless --overwrite", kind="location", required=True),
                    Option("numResults", "recommendations per user, 1 to 500 (default 25)", kind="integer", default=25),
                    Option("jobName", "the job's name (recorded nowhere; accepted for the service's sake)"),
                    Option("overwrite", "replace an existing output file (only a regular file)", kind="boolean")),
                output_shape=(PERSONALIZE, "CreateBatchInferenceJobResponse")),
    ]


def build_parser() -> Parser:
    parser = Parser(prog="hrnn", description="Amazon Personalize's aws-hrnn recipe and its HPO, as a local "
                    "service with the AWS CLI's conventions.")
    parser.add_argument("--version", action="version", version=version_text(), help="print the version and exit")
    add_globals(parser)
    sub = parser.add_subparsers(dest="command", metavar="<command>",
                                help="the operation to run; hrnn <command> -h lists its options")
    for command in commands():
        add_command(sub, command)
    from .server.cli import add_serve_command  # a long-running server, not an operation

    add_serve_command(sub)
    return parser


def version_text() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("hrnn-personalize")
    except PackageNotFoundError:  # pragma: no cover - run from a checkout without installing
        ours = "0+unknown"
    try:
        import botocore

        boto = f" botocore/{botocore.__version__}"
    except ImportError:  # pragma: no cover
        boto = ""
    return f"hrnn/{ours} Python/{platform.python_version()} {platform.system()}/{platform.release()}{boto}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command | None = getattr(args, "spec", None)
    if command is None and getattr(args, "func", None) is not None:  # hrnn serve
        args.func(args)
        return 0
    if command is None:
        parser.error("the following arguments are required: <command>")
    ctx = Context(workspace=getattr(args, "workspace", None), quiet=getattr(args, "quiet", False),
                  output=getattr(args, "output", None) or "json", query=getattr(args, "query", None),
                  debug=getattr(args, "debug", False))
    try:
        query = compile_query(ctx.query) if ctx.query else None
    except ValueError as exc:
        return _usage(parser, f"Bad value for --query {ctx.query}: {exc}")
    if args.generate_cli_skeleton:
        render(skeleton(command, args.generate_cli_skeleton), "json", sys.stdout)
        return 0
    with interrupts.handling_signals():
        try:
            response = command.handler(members(args, command), ctx)
        except UsageError as exc:
            return _usage(parser, str(exc))
        except ServiceError as exc:
            _partial(exc, ctx, query, command)
            sys.stderr.write(f"\nAn error occurred ({exc.type_name}) when calling the {command.operation} "
                             f"operation: {exc.message}\n")
            return SERVICE_ERROR_EXIT
        except KeyboardInterrupt as exc:
            stop = exc if isinstance(exc, interrupts.Stopped) else interrupts.Stopped(2)
            _partial(exc, ctx, query, command)
            arn = getattr(exc, "solution_version_arn", None)
            what = f"solution version {arn} is CREATE STOPPED; run the same command to resume it" if arn else \
                "nothing was left half-written"
            sys.stderr.write(f"\nStopped by {stop.name}: {what}.\n")
            return stop.exit_status
        except Exception as exc:  # noqa: BLE001 - a bug: say so in the same shape, traceback on --debug
            if ctx.debug:
                traceback.print_exc()
            _partial(exc, ctx, query, command)
            sys.stderr.write(f"\nAn error occurred (InternalFailure) when calling the {command.operation} operation: "
                             f"{type(exc).__name__}: {exc}" + ("" if ctx.debug else " (--debug shows the traceback)")
                             + "\n")
            return INTERNAL_ERROR_EXIT
    render(response, ctx.output, sys.stdout, query, command.operation)
    return 0


def _partial(exc: BaseException, ctx: Context, query, command: Command) -> None:
    """A response the operation had before it failed (create-solution-version's ARN) still goes to stdout."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        render(response, ctx.output, sys.stdout, query, command.operation)


def _usage(parser: Parser, message: str) -> int:
    parser.print_usage(sys.stderr)
    sys.stderr.write(f"hrnn: error: {message}\n")
    return USAGE_EXIT


if __name__ == "__main__":
    sys.exit(main())
