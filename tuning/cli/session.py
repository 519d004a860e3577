"""One invocation: the command line's context (work runs inline; any local path is reachable unless
``--data-dir`` narrows it) and the call, with the AWS CLI's pagination for ``List`` commands."""

from __future__ import annotations

import base64
import binascii
import json
import sys

from ..locations import Access, s3_endpoint
from ..operations import Context, call, inline_runner
from ..run_options import RunOptions
from ..workspace import Workspace
from .arguments import Command, UsageError, members


def context_for(args, local: dict) -> Context:
    workspace = Workspace.at(getattr(args, "workspace", None), getattr(args, "region", None),
                             getattr(args, "account_id", None))
    roots = getattr(args, "data_dir", None)
    access = Access.confined(roots, workspace.root, s3_endpoint()) if roots else \
        Access(None, workspace.root, s3_endpoint())
    quiet = getattr(args, "quiet", False)
    return Context(workspace, inline_runner(), access, RunOptions.from_members(local, quiet), origin="cli", local=local,
                   note=(lambda text: None) if quiet else (lambda text: sys.stderr.write(text.rstrip("\n") + "\n")))


def run_command(args, command: Command):
    request, local = members(args, command)
    ctx = context_for(args, local)
    if command.run is not None:
        return command.run(request, local, ctx)
    if command.operation == "CreateSolution" and local.get("request"):
        from ..request import load_request

        request = {**load_request(local["request"]), **request}
    config = command.paginator
    manual = config and any(request.get(k) is not None for k in (config["input_token"], config.get("limit_key")))
    paging = {k: getattr(args, k, None) for k in ("starting_token", "page_size", "max_items")}
    if config and (getattr(args, "no_paginate", False) or manual):
        if any(v is not None for v in paging.values()):
            raise UsageError("Cannot specify --no-paginate (or --next-token/--max-results) along with --starting-token, "
                             "--page-size or --max-items")
        return call(ctx, command.operation, request, command.service)
    if config:
        return paginate(lambda page: call(ctx, command.operation, page, command.service), request, config, **paging)
    return call(ctx, command.operation, request, command.service)


def paginate(call_page, request: dict, config: dict, starting_token: str | None = None, page_size: int | None = None,
             max_items: int | None = None) -> dict:
    """Every page merged into one response; with ``max_items``, at most that many items and a ``NextToken``
    that resumes exactly after them (the service's token plus how many items of its page were taken)."""
    in_token, out_token, limit, key = config["input_token"], config["output_token"], config.get("limit_key"), \
        config["result_key"]
    token, skip = _decode(starting_token) if starting_token else (None, 0)
    items: list = []
    first: dict | None = None
    while True:
        page = {**request, **({in_token: token} if token else {}), **({limit: page_size} if page_size and limit else {})}
        response = call_page(page)
        first = first if first is not None else response
        chunk = response.get(key, [])[skip:]
        room = None if max_items is None else max_items - len(items)
        if room is not None and len(chunk) > room:
            items += chunk[:room]
            return {**_rest(first, key, out_token), key: items, "NextToken": _encode(token, skip + room)}
        items += chunk
        token, skip = response.get(out_token), 0
        if not token:
            return {**_rest(first, key, out_token), key: items}
        if room is not None and len(chunk) == room:
            return {**_rest(first, key, out_token), key: items, "NextToken": _encode(token, 0)}


def _rest(response: dict, key: str, out_token: str) -> dict:
    return {k: v for k, v in response.items() if k not in (key, out_token)}


def _encode(token: str | None, skip: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"token": token, "skip": skip}).encode()).decode()


def _decode(text: str) -> tuple[str | None, int]:
    try:
        value = json.loads(base64.urlsafe_b64decode(text.encode("ascii")))
        token, skip = value["token"], value["skip"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeError):
        raise UsageError(f"--starting-token {text[:64]!r} is not a NextToken this command printed") from None
    if not (token is None or isinstance(token, str)) or isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
        raise UsageError(f"--starting-token {text[:64]!r} is not a NextToken this command printed")
    return token, skip
