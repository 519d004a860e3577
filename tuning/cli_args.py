"""The ``hrnn`` command's arguments, in the manner of the AWS CLI: each command is a table of options, each
option a member of the operation's input, so ``--cli-input-json``/``--cli-input-yaml`` (the members as a
document) and ``--generate-cli-skeleton`` work for every command without code of their own.

Global options (``--workspace``, ``--output``, ``--query``, ``--quiet``, ``--no-cli-pager``, ``--debug``) are
accepted before or after the command. A usage error exits 252, as the AWS CLI v2's does.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from typing import Any, Callable

from .cli_output import FORMATS

USAGE_EXIT = 252
KINDS = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,), "json": (object,),
         "location": (str, dict)}


class UsageError(Exception):
    """A command line that cannot be run (exit 252); ``str()`` is the message."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors exit 2; the AWS CLI's usage errors exit 252
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(USAGE_EXIT)


@dataclass(frozen=True)
class Option:
    """One input member: ``--kebab-name`` on the command line, ``member`` in an input document."""

    member: str
    help: str
    kind: str = "string"
    required: bool = False
    default: Any = None
    flags: tuple[str, ...] = ()  # default: --kebab-case of member
    aliases: tuple[str, ...] = ()  # other member names accepted in an input document
    choices: tuple | None = None
    positional: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return self.flags or ("--" + re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", self.member).lower(),)


@dataclass(frozen=True)
class Command:
    name: str  # create-solution
    operation: str  # CreateSolution: named in error messages, as the AWS CLI names the API call
    handler: Callable[[dict, "Context"], Any]
    help: str
    options: tuple[Option, ...] = ()
    passthrough: bool = False  # the input document is the request itself (its members are checked later)
    output_shape: tuple[str, str] | None = None  # (botocore service, shape) for --generate-cli-skeleton output


@dataclass
class Context:
    """What every command gets besides its members: the global options."""

    workspace: str | None = None
    quiet: bool = False
    output: str = "json"
    query: str | None = None
    debug: bool = False


GLOBALS = (
    ("--workspace", dict(help="workspace directory (default: $HRNN_WORKSPACE, else ./hrnn-workspace)")),
    ("--output", dict(choices=FORMATS, help="output format: json (default), text or table")),
    ("--query", dict(help="JMESPath expression applied to the response before it is printed")),
    ("--quiet", dict(action="store_true", help="no progress output on stderr")),
    ("--no-cli-pager", dict(action="store_true", help="accepted for the AWS CLI's sake; output is never paged")),
    ("--debug", dict(action="store_true", help="print the traceback of an internal error")),
)


def add_globals(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("global options")
    for flag, kwargs in GLOBALS:
        group.add_argument(flag, default=argparse.SUPPRESS, **kwargs)


def add_command(sub, command: Command) -> None:
    p = sub.add_parser(command.name, help=command.help, description=command.help)
    add_globals(p)
    for option in command.options:
        kwargs: dict = {"help": option.help + (" (required)" if option.required else ""), "default": None,
                        "dest": option.member}
        if option.kind == "boolean":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["metavar"] = option.names[0].lstrip("-").upper().replace("-", "_")
        if option.kind in ("integer", "number"):
            kwargs["type"] = _number(option)
        elif option.kind == "json":
            kwargs["type"] = _json_value
        if option.choices:
            kwargs["choices"] = option.choices
        if option.positional:
            p.add_argument(option.member, nargs="?", help=kwargs["help"], default=None)
        else:
            p.add_argument(*option.names, **kwargs)
    p.add_argument("--cli-input-json", default=None, metavar="JSON",
                   help="the members as JSON: file://path, a path, or the text itself")
    p.add_argument("--cli-input-yaml", default=None, metavar="YAML",
                   help="the members as YAML: file://path, a path, or the text itself")
    p.add_argument("--generate-cli-skeleton", nargs="?", const="input", default=None, choices=("input", "output"),
                   help="print a template of the input members (or of the output) and exit")
    p.set_defaults(spec=command)


def _number(option: Option):
    def convert(text: str):
        try:
            value = int(text) if option.kind == "integer" else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if option.kind == 'integer' else 'a number'}, "
                                             f"got {text!r}") from None
        return value
    convert.__name__ = option.kind
    return convert


def _json_value(text: str):
    """A JSON option value: the text itself, or file://path (as the AWS CLI reads parameter files)."""
    from .files import nesting_depth, strict_json
    from .request.loading import MAX_DEPTH, read_text_file

    if text.startswith("file://"):
        text = read_text_file(text, "parameter")
    if nesting_depth(text) > MAX_DEPTH:
        raise argparse.ArgumentTypeError(f"nested more than {MAX_DEPTH} levels deep")
    try:
        return strict_json(text)
    except (ValueError, RecursionError) as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({str(exc)[:100]})") from None


_json_value.__name__ = "JSON"


def members(args: argparse.Namespace, command: Command) -> dict:
    """The command's input: the document (``--cli-input-json``/``--cli-input-yaml``), with the options given
    on the command line over it. Types and required members are checked here (usage errors)."""
    document: dict = {}
    if args.cli_input_json and args.cli_input_yaml:
        raise UsageError("give --cli-input-json or --cli-input-yaml, not both")
    if args.cli_input_json or args.cli_input_yaml:
        from .request.loading import load_document  # imported only when needed: it brings the validators

        document = (load_document(args.cli_input_json, "--cli-input-json") if args.cli_input_json else
                    load_document(args.cli_input_yaml, "--cli-input-yaml", yaml=True))
    by_name = {name: o for o in command.options for name in (o.member, *o.aliases)}
    values: dict = {}
    for key, value in document.items():
        option = by_name.get(key)
        if option is None:
            if command.passthrough:
                values[key] = value
                continue
            raise UsageError(f'Unknown parameter in input: "{key}", must be one of: '
                             f"{', '.join(o.member for o in command.options)}")
        _check_type(option, value)
        values[option.member] = value
    for option in command.options:
        given = getattr(args, option.member, None)
        if given is not None:
            values[option.member] = given
        if values.get(option.member) is None:
            if option.required:
                raise UsageError(f"the following arguments are required: {option.names[0]}")
            if option.default is not None:
                values[option.member] = option.default
    return values


def _check_type(option: Option, value: Any) -> None:
    types = KINDS[option.kind]
    ok = isinstance(value, types) and not (isinstance(value, bool) and option.kind in ("integer", "number"))
    if value is not None and not ok:
        raise UsageError(f"Invalid type for parameter {option.member}, value: {str(value)[:80]}, type: "
                         f"{type(value).__name__}, valid types: {option.kind}")


def skeleton(command: Command, which: str) -> dict:
    """``--generate-cli-skeleton``: the input members with placeholder values, or the output's shape."""
    if which == "output":
        if command.output_shape is None:
            return {}
        service, shape = command.output_shape
        return _shape_skeleton(_shapes(service), shape, 0)
    placeholders = {"string": "", "integer": 0, "number": 0.0, "boolean": True, "json": {}, "location": ""}
    return {o.member: placeholders[o.kind] for o in command.options}


def _shapes(service: str) -> dict:
    from .shapes import service_model

    return service_model(service)["shapes"]


def _shape_skeleton(shapes: dict, name: str, depth: int) -> Any:
    shape = shapes[name]
    kind = shape["type"]
    if depth > 6:
        return None
    if kind == "structure":
        return {k: _shape_skeleton(shapes, ref["shape"], depth + 1) for k, ref in shape.get("members", {}).items()}
    if kind == "list":
        return [_shape_skeleton(shapes, shape["member"]["shape"], depth + 1)]
    if kind == "map":
        return {"KeyName": _shape_skeleton(shapes, shape["value"]["shape"], depth + 1)}
    return {"string": "", "integer": 0, "long": 0, "double": 0.0, "float": 0.0, "boolean": True,
            "timestamp": "1970-01-01T00:00:00", "blob": ""}.get(kind)
