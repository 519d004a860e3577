"""The ``hrnn`` commands: one per operation of :data:`tuning.operations.TABLE`, generated from botocore's input
shape (each member an option, documented from the model), plus the local commands (``run``, ``summarize``,
``generate-data``; ``serve`` lives with the server).

Nothing here implements an operation: a generated command maps its arguments to the request and the
operation's local options (``--interactions``) and calls :func:`tuning.operations.call`.
"""

from __future__ import annotations

import functools

from ..contract import operation_model, output_shape, paginators, table
from .arguments import KINDS, Command, Option, first_sentence, kebab

# Command-line names a member also answers to, per operation (the README's and earlier releases' spellings).
ALIASES = {("GetRecommendations", "campaignArn"): ("--campaign-arn", "--solution-version-arn")}
INTERACTIONS_HELP = ("Interactions CSV or Parquet file (a path or file://; default: the embedded sample)")


def _member_options(service: str, operation: str) -> list[Option]:
    shapes = table(service)
    name = (operation_model(service, operation) or {}).get("input", {}).get("shape")
    if name is None:
        return []
    shape = shapes[name]
    required = set(shape.get("required", ()))
    options = []
    for member, ref in shape["members"].items():
        target = shapes[ref["shape"]]
        kind = KINDS.get(target["type"], "string")
        options.append(Option(
            member, first_sentence(ref.get("documentation") or target.get("documentation", "")) or member,
            kind=kind, required=member in required, choices=tuple(target["enum"]) if "enum" in target else None,
            flags=ALIASES.get((operation, member), ()),
            shape=ref["shape"] if kind in ("structure", "list", "map") else None,
            item_kind=shapes[target["member"]["shape"]]["type"] if kind == "list" else None))
    return options


def _local_options(declared) -> list[Option]:
    """The operations' local options (``LocalOption``) as command-line options."""
    return [Option(o.member, o.help, kind=o.kind, default=o.default, local=True) for o in declared]


@functools.lru_cache(maxsize=1)
def operation_commands() -> tuple[Command, ...]:
    from ..operations import TABLE

    commands = []
    for op in TABLE.values():
        model = operation_model(op.service, op.name) or {}
        options = _member_options(op.service, op.name) + _local_options(op.local)
        passthrough = False
        if op.name == "CreateSolution":  # the request as a file, as the README has always shown it
            options = [Option("request", "request file (or use --cli-input-json)", positional=True, local=True),
                       *(Option(**{**o.__dict__, "required": False}) for o in options)]
            passthrough = True
        commands.append(Command(
            kebab(op.name), op.name, first_sentence(model.get("documentation", "")) or op.name, tuple(options),
            service=op.service, paginator=paginators(op.service).get(op.name),
            output_shape=output_shape(op.service, op.name), passthrough=passthrough))
    return tuple(commands)


# ---- local commands --------------------------------------------------------------------------------------

def _run_options() -> tuple[Option, ...]:
    from ..operations import RUN_OPTIONS

    return tuple(_local_options(RUN_OPTIONS))


def _synth_options() -> tuple[Option, ...]:
    """The generator's own options (declared once, in ``hrnn.synth.cli``), as this command's members."""
    import argparse

    from hrnn.synth.cli import add_arguments

    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    kinds = {int: "integer", float: "number"}
    return tuple(Option(a.dest, a.help or a.dest, kind="boolean" if a.const is True else kinds.get(a.type, "string"),
                        default=a.default if a.const is not True else False, flags=tuple(a.option_strings), local=True)
                 for a in parser._actions)


def local_commands() -> tuple[Command, ...]:
    from .local import generate_data, run, summarize

    interactions = Option("interactions", INTERACTIONS_HELP, local=True)
    return (
        Command("run", "Run", "main job: tune the example HPO request on the sample data", (
            Option("request", "CreateSolution request file (default: the example HPO request)", local=True),
            interactions, *_run_options()), run=run),
        Command("summarize", "Summarize", "read an Interactions file and print a dataset summary", (
            interactions, Option("eventType", "keep only events of this EVENT_TYPE", local=True),
            Option("eventValueThreshold", "keep only events with EVENT_VALUE >= this number", local=True)),
            run=summarize),
        Command("generate-data", "GenerateData", "write a synthetic Interactions file", _synth_options(),
                run=generate_data),
    )


def commands() -> tuple[Command, ...]:
    return local_commands() + operation_commands()
