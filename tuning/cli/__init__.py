"""The ``hrnn`` command line: every operation of the service, local, with the AWS CLI's conventions.

Each command is generated from the operation table and botocore's input shape (:mod:`.commands`); the
command line only maps arguments to a request and prints the response. Responses go to stdout
(``--output json|text|table``, ``--query`` JMESPath; ``List`` commands fetch every page unless
``--no-paginate``, with ``--max-items``/``--starting-token``/``--page-size``); progress and notes go to stderr
(``--quiet`` silences progress). Errors are printed as the AWS CLI prints them,
``An error occurred (InvalidInputException) when calling the CreateSolution operation: <message>``.
Exit status (the AWS CLI v2's): 0 success, 254 an error of the service (bad input, a resource missing or
in use, a failed solution version), 252 a usage error (the command line itself), 130 interrupted (SIGINT),
143 stopped by SIGTERM, 255 an internal error (``--debug`` prints its traceback).
"""

from __future__ import annotations

import json
import platform
import sys
import traceback

from hrnn.errors import ServiceError

from .. import interrupts
from .arguments import USAGE_EXIT, Command, Parser, UsageError, add_command, add_globals, members, skeleton
from .commands import commands
from .output import compile_query, render

SERVICE_ERROR_EXIT = 254
INTERNAL_ERROR_EXIT = 255


def build_parser() -> Parser:
    parser = Parser(prog="hrnn", description="Amazon Personalize's aws-hrnn recipe and its HPO, as a local "
                    "service with the AWS CLI's conventions. 'hrnn help' lists the commands; 'hrnn <command> help' "
                    "explains one.")
    parser.add_argument("--version", action="version", version=version_text(), help="print the version and exit")
    add_globals(parser)
    sub = parser.add_subparsers(dest="command", metavar="<command>",
                                help="the operation to run; hrnn <command> help lists its options")
    for command in commands():
        add_command(sub, command)
    from ..server.cli import add_serve_command  # a long-running server, not an operation

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


def _help(parser: Parser, argv: list[str]) -> list[str] | None:
    """``hrnn help`` and ``hrnn <command> help``, as the AWS CLI spells them (argparse's ``-h`` works too)."""
    if argv and argv[0] == "help":
        parser.print_help()
        return None
    if len(argv) >= 2 and argv[1] == "help" and not argv[0].startswith("-"):
        return [argv[0], "--help"]
    return argv


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = _help(parser, list(sys.argv[1:] if argv is None else argv))
    if argv is None:
        return 0
    args = parser.parse_args(argv)
    command: Command | None = getattr(args, "spec", None)
    if command is None and getattr(args, "func", None) is not None:  # hrnn serve
        args.func(args)
        return 0
    if command is None:
        parser.error("the following arguments are required: <command>")
    output = getattr(args, "output", None) or "json"
    try:
        query = compile_query(args.query) if getattr(args, "query", None) else None
    except ValueError as exc:
        return _usage(parser, f"Bad value for --query {args.query[:100]}: {exc}")
    if args.generate_cli_skeleton:
        sys.stdout.write(json.dumps(skeleton(command, args.generate_cli_skeleton), indent=4) + "\n")
        return 0
    with interrupts.handling_signals():
        response, code = _execute(parser, args, command)
    if code == 0:
        try:
            render(response, output, sys.stdout, query, command.operation)
        except ValueError as exc:  # --query failed on this response (an unknown function, a type error)
            return _usage(parser, f"Bad value for --query {args.query[:100]}: {exc}")
        return 0
    if response is not None:  # what the operation had before it failed (a version's ARN) still goes to stdout
        render(response, output, sys.stdout, query, command.operation)
    return code


def _execute(parser: Parser, args, command: Command):
    """(response, 0), or (partial response or None, exit status) with the error printed on stderr."""
    from .session import run_command

    try:
        return run_command(args, command), 0
    except UsageError as exc:
        return None, _usage(parser, str(exc))
    except ServiceError as exc:
        sys.stderr.write(f"\nAn error occurred ({exc.type_name}) when calling the {command.operation} "
                         f"operation: {exc.message}\n")
        return getattr(exc, "response", None), SERVICE_ERROR_EXIT
    except KeyboardInterrupt as exc:
        stop = exc if isinstance(exc, interrupts.Stopped) else interrupts.Stopped(2)
        arn = getattr(exc, "solution_version_arn", None)
        what = f"solution version {arn} is CREATE STOPPED; run the same command to resume it" if arn else \
            "nothing was left half-written"
        sys.stderr.write(f"\nStopped by {stop.name}: {what}.\n")
        return getattr(exc, "response", None), stop.exit_status
    except Exception as exc:  # noqa: BLE001 - a bug: say so in the same shape, traceback on --debug
        if getattr(args, "debug", False):
            traceback.print_exc()
        sys.stderr.write(f"\nAn error occurred (InternalFailure) when calling the {command.operation} operation: "
                         f"{type(exc).__name__}: {exc}" + ("" if getattr(args, "debug", False) else
                                                            " (--debug shows the traceback)") + "\n")
        return getattr(exc, "response", None), INTERNAL_ERROR_EXIT


def _usage(parser: Parser, message: str) -> int:
    parser.print_usage(sys.stderr)
    sys.stderr.write(f"hrnn: error: {message}\n")
    return USAGE_EXIT


__all__ = ["build_parser", "commands", "main", "members"]
