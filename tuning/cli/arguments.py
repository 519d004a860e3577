"""A command's arguments, in the manner of the AWS CLI: one option per input member of the operation's
botocore shape (``--solution-arn``), plus the command's local options; ``--cli-input-json`` /
``--cli-input-yaml`` give the members as a document and ``--generate-cli-skeleton`` prints a template, for
every command without code of its own.

Values: scalars as the shape types them; structures, lists and maps as JSON, the AWS CLI's shorthand
(``key=value,key2=value2``, ``{}`` and ``[]`` nested) or ``file://path`` (the value read from a file). A
location structure (``--job-input``) also takes a bare path or URI. A usage error exits 252, as the AWS CLI
v2's does; everything about a value that the service would refuse is left to the operation (exit 254).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from typing import Any

from .shorthand import ShorthandError, parse_shorthand

USAGE_EXIT = 252
# shape type -> the option's kind; what a document's value may be
KINDS = {"string": "string", "integer": "integer", "long": "integer", "double": "number", "float": "number",
         "boolean": "boolean", "timestamp": "string", "blob": "string", "structure": "structure", "list": "list",
         "map": "map"}
PYTHON_TYPES = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
                "structure": (dict,), "list": (list,), "map": (dict,), "json": (object,)}
# Structures whose one required member is a location path: a bare path or URI is that path.
LOCATIONS = {"BatchInferenceJobInput": ("s3DataSource", "path"), "BatchInferenceJobOutput": ("s3DataDestination", "path"),
             "DataSource": ("dataLocation",)}


class UsageError(Exception):
    """A command line that cannot be run (exit 252); ``str()`` is the message."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors exit 2; the AWS CLI's usage errors exit 252
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(USAGE_EXIT)


@dataclass(frozen=True)
class Option:
    """One input member (``local``: an option outside the service's shape, handed to the operation aside)."""

    member: str
    help: str
    kind: str = "string"
    required: bool = False
    default: Any = None
    flags: tuple[str, ...] = ()  # default: --kebab-case of member
    choices: tuple | None = None
    local: bool = False
    shape: str | None = None  # the botocore shape of a structure, list or map (skeletons, locations)
    positional: bool = False
    item_kind: str | None = None  # a list's items: "structure", "string", ...

    @property
    def names(self) -> tuple[str, ...]:
        return self.flags or ("--" + kebab(self.member),)


def kebab(name: str) -> str:
    from botocore import xform_name

    return xform_name(name, "-")


@dataclass(frozen=True)
class Command:
    name: str  # create-solution
    operation: str  # CreateSolution: named in error messages, as the AWS CLI names the API call
    help: str
    options: tuple[Option, ...] = ()
    service: str = "personalize"
    run: Any = None  # (members, local options, context) -> response, for a local command; None: the operation
    paginator: dict | None = None  # botocore's paginator config of the operation
    output_shape: str | None = None  # for --generate-cli-skeleton output
    passthrough: bool = False  # the document may carry members that are not options (checked by the operation)


GLOBALS = (
    ("--workspace", dict(help="workspace directory (default: $HRNN_WORKSPACE, else ./hrnn-workspace)")),
    ("--region", dict(help="the region of the workspace's ARNs (default: the workspace's; for a new one $AWS_REGION, "
                           "$AWS_DEFAULT_REGION, else us-east-1)")),
    ("--account-id", dict(help="the account of the workspace's ARNs (default: the workspace's; for a new one "
                               "$HRNN_ACCOUNT_ID, else 000000000000)")),
    ("--data-dir", dict(action="append", help="confine every local path a command reads or writes to this directory "
                                              "(repeatable; default: any path you can reach)")),
    ("--output", dict(choices=("json", "text", "table"), help="output format: json (default), text or table")),
    ("--query", dict(help="JMESPath expression applied to the response before it is printed")),
    ("--no-paginate", dict(action="store_true", help="make one call of a List command (one page) instead of all")),
    ("--quiet", dict(action="store_true", help="no progress output on stderr")),
    ("--no-cli-pager", dict(action="store_true", help="accepted for the AWS CLI's sake; output is never paged")),
    ("--debug", dict(action="store_true", help="print the traceback of an internal error")),
)
PAGING = (("--starting-token", "the NextToken a previous, truncated call printed", str),
          ("--page-size", "how many items each call to the service asks for", int),
          ("--max-items", "print at most this many items, and a NextToken to continue from", int))


def add_globals(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("global options")
    for flag, kwargs in GLOBALS:
        group.add_argument(flag, default=argparse.SUPPRESS, **kwargs)


def add_command(sub, command: Command) -> None:
    p = sub.add_parser(command.name, help=command.help, description=command.help)
    add_globals(p)
    for option in command.options:
        help_text = option.help + (" (required)" if option.required else "")
        if option.positional:
            p.add_argument(option.member, nargs="?", help=help_text, default=None)
            continue
        kwargs: dict = {"help": help_text, "default": None, "dest": option.member}
        if option.kind == "boolean":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif option.kind == "list":  # as the AWS CLI: --event-list A B C, each JSON or shorthand (or one JSON list)
            kwargs.update(nargs="+", metavar=option.names[0].lstrip("-").upper().replace("-", "_"),
                          type=_list_item(option))
        else:
            kwargs["metavar"] = option.names[0].lstrip("-").upper().replace("-", "_")
            kwargs["type"] = _converter(option)
        if option.choices:
            kwargs["choices"] = option.choices
        p.add_argument(*option.names, **kwargs)
    if command.paginator:
        for flag, text, kind in PAGING:
            p.add_argument(flag, type=kind, default=None, help=text)
    p.add_argument("--cli-input-json", default=None, metavar="JSON",
                   help="the members as JSON: file://path, a path, or the text itself")
    p.add_argument("--cli-input-yaml", default=None, metavar="YAML",
                   help="the members as YAML: file://path, a path, or the text itself")
    p.add_argument("--generate-cli-skeleton", nargs="?", const="input", default=None, choices=("input", "output"),
                   help="print a template of the input members (or of the output) and exit")
    p.set_defaults(spec=command)


def _converter(option: Option):
    def convert(text: str):
        if text.startswith("file://") and option.kind != "string":
            text = _read_parameter_file(text)
        try:
            if option.kind == "integer":
                return int(text)
            if option.kind == "number":
                return float(text)
            if option.kind in ("structure", "list", "map", "json"):
                return _structured(text, option)
        except (ValueError, ShorthandError) as exc:
            raise argparse.ArgumentTypeError(_why(option, text, exc)) from None
        return text
    convert.__name__ = option.kind
    return convert


def _list_item(option: Option):
    def convert(text: str):
        if text.startswith("file://"):
            text = _read_parameter_file(text)
        try:
            if text.strip()[:1] in ("[", "{", '"'):
                return _structured(text, Option(option.member, option.help, kind="json"))
            if option.item_kind == "structure":
                return typed(parse_shorthand(text.strip()), _item_shape(option))
        except (ValueError, ShorthandError) as exc:
            raise argparse.ArgumentTypeError(_why(option, text, exc)) from None
        return int(text) if option.item_kind in ("integer", "long") else text
    convert.__name__ = "list item"
    return convert


def _why(option: Option, text: str, exc: Exception) -> str:
    if option.kind == "integer":
        return f"expected an integer, got {text!r}"
    if option.kind == "number":
        return f"expected a number, got {text!r}"
    return f"not valid JSON or shorthand ({str(exc)[:120]})"


def _read_parameter_file(text: str) -> str:
    from ..request.loading import read_text_file

    try:
        return read_text_file(text, "parameter")
    except Exception as exc:  # noqa: BLE001 - an unreadable parameter file is a usage error, as in the AWS CLI
        raise argparse.ArgumentTypeError(getattr(exc, "message", str(exc))) from None


def _structured(text: str, option: Option):
    """JSON, the shorthand, or (for a location structure) a bare path."""
    from ..files import nesting_depth, strict_json
    from ..request.loading import MAX_DEPTH

    stripped = text.strip()
    if stripped[:1] in ("{", "[", '"') or option.kind == "json":
        if nesting_depth(stripped) > MAX_DEPTH:
            raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
        return strict_json(stripped)
    path = LOCATIONS.get(option.shape or "")
    if path and "=" not in stripped.split("/", 1)[0]:
        value: Any = stripped
        for key in reversed(path):
            value = {key: value}
        return value
    return typed(parse_shorthand(stripped, as_list=option.kind == "list"), option.shape)


def _item_shape(option: Option) -> str | None:
    from ..contract import shapes

    for service in ("personalize", "personalize-runtime", "personalize-events"):
        shape = shapes(service).get(option.shape or "")
        if shape and shape.get("type") == "list":
            return shape["member"]["shape"]
    return None


def typed(value: Any, shape_name: str | None, depth: int = 0) -> Any:
    """Shorthand's strings as the shape types them (numbers, booleans, epoch timestamps), as the AWS CLI
    converts them; anything that does not convert is left for the operation to refuse with its message."""
    from ..contract import shapes

    shape = next((shapes(s)[shape_name] for s in ("personalize", "personalize-runtime", "personalize-events")
                  if shape_name and shape_name in shapes(s)), None)
    if shape is None or depth > 32:
        return value
    kind = shape["type"]
    if kind == "structure" and isinstance(value, dict):
        members = shape.get("members", {})
        return {k: typed(v, members[k]["shape"], depth + 1) if k in members else v for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [typed(v, shape["member"]["shape"], depth + 1) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: typed(v, shape["value"]["shape"], depth + 1) for k, v in value.items()}
    if isinstance(value, str):
        converters = {"integer": int, "long": int, "double": float, "float": float,
                      "boolean": lambda v: {"true": True, "false": False}[v.lower()],
                      "timestamp": lambda v: float(v) if re.fullmatch(r"\d+(\.\d+)?", v) else v}
        try:
            return converters[kind](value) if kind in converters else value
        except (ValueError, KeyError):
            return value
    return value


def members(args: argparse.Namespace, command: Command) -> tuple[dict, dict]:
    """The command's input as (request members, local options): the document (``--cli-input-json`` /
    ``--cli-input-yaml``) with the options given on the command line over it; types and required members are
    checked here (usage errors)."""
    if args.cli_input_json and args.cli_input_yaml:
        raise UsageError("give --cli-input-json or --cli-input-yaml, not both")
    document: dict = {}
    if args.cli_input_json or args.cli_input_yaml:
        from ..request.loading import load_document

        try:
            document = (load_document(args.cli_input_json, "--cli-input-json") if args.cli_input_json else
                        load_document(args.cli_input_yaml, "--cli-input-yaml", yaml=True))
        except Exception as exc:  # noqa: BLE001 - an unreadable document is a usage error (exit 252)
            raise UsageError(getattr(exc, "message", str(exc))) from None
    by_name = {o.member: o for o in command.options}
    values: dict = {}
    for key, value in document.items():
        option = by_name.get(key)
        if option is None and not command.passthrough:
            raise UsageError(f'Unknown parameter in input: "{key}", must be one of: '
                             f"{', '.join(o.member for o in command.options if not o.positional)}")
        if option is not None:
            _check_type(option, value)
        values[key] = value
    for option in command.options:
        given = getattr(args, option.member, None)
        if option.kind == "list" and isinstance(given, list) and len(given) == 1 and isinstance(given[0], list):
            given = given[0]  # one JSON list given whole
        if given is not None:
            values[option.member] = given
        if values.get(option.member) is None:
            if option.required:
                raise UsageError(f"the following arguments are required: {option.names[0]}")
            if option.default is not None:
                values[option.member] = option.default
    local = {o.member for o in command.options if o.local}
    return ({k: v for k, v in values.items() if k not in local and v is not None},
            {k: v for k, v in values.items() if k in local})


def _check_type(option: Option, value: Any) -> None:
    types = PYTHON_TYPES.get(option.kind, (object,))
    ok = isinstance(value, types) and not (isinstance(value, bool) and option.kind in ("integer", "number"))
    if value is not None and not ok:
        raise UsageError(f"Invalid type for parameter {option.member}, value: {str(value)[:80]}, type: "
                         f"{type(value).__name__}, valid types: {option.kind}")


def skeleton(command: Command, which: str) -> dict:
    """``--generate-cli-skeleton``: the input members with placeholder values, or the output's shape."""
    from ..contract import shapes

    table = shapes(command.service)
    if which == "output":
        return _shape_skeleton(table, command.output_shape, 0) if command.output_shape else {}
    placeholders = {"string": "", "integer": 0, "number": 0.0, "boolean": True, "json": {}}
    return {o.member: (_shape_skeleton(table, o.shape, 0) if o.shape else placeholders.get(o.kind, ""))
            for o in skeleton_options(command)}


def skeleton_options(command: Command) -> list[Option]:
    """An operation's skeleton holds the service's members only (as the AWS CLI's); a local command's, its
    options."""
    return [o for o in command.options if not o.positional and (command.run is not None or not o.local)]


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


def first_sentence(html: str, limit: int = 220) -> str:
    """A member's botocore documentation as one plain sentence (for ``--help``)."""
    html = re.sub(r"<(important|note)>.*?</\1>", " ", html or "", flags=re.S)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()
    match = re.match(r"(.+?\.)(\s|$)", text)
    text = match.group(1) if match else text
    return text if len(text) <= limit else text[:limit - 3].rstrip() + "..."
