"""``hrnn serve``: the Personalize API over HTTP, for boto3 and the AWS CLI (``--endpoint-url``).

It listens on 127.0.0.1:8080 unless told otherwise, refuses to start without credentials, and prints one
JSON line on stdout when it is ready: ``{"endpoint": "http://127.0.0.1:8080", "workspace": "..."}``
(with ``--port 0`` that line says which port it got). SIGINT or SIGTERM stops it; trainings and jobs it
started carry on and the next ``hrnn serve`` on the workspace adopts them.

Connections are bounded: at most ``--max-connections`` at once (more are answered 503 and closed), and a
connection that has not sent a whole request's headers within ``--header-timeout`` seconds (or sits idle
that long between requests) is closed, so half-open connections cannot exhaust the server's descriptors.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import signal
import sys
import time

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_HEADER_TIMEOUT = 10.0


def add_serve_command(sub) -> None:
    """Add ``serve`` to the ``hrnn`` command's sub-commands."""
    p = sub.add_parser("serve", help="serve the Personalize API over HTTP (boto3/AWS CLI with --endpoint-url)",
                       description=__doc__.splitlines()[0])
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default {DEFAULT_HOST}; 0.0.0.0 listens on every interface)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}; 0 picks a free port")
    p.add_argument("--workspace", default=None, help="workspace directory (default: $HRNN_WORKSPACE or ./hrnn-workspace)")
    p.add_argument("--region", default=None, help="the region of the ARNs and of the clients' signatures (default: "
                   "the workspace's; for a new one $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1)")
    p.add_argument("--account-id", default=None, help="the account of the ARNs (default: the workspace's; for a new "
                   "one $HRNN_ACCOUNT_ID, else 000000000000)")
    p.add_argument("--credentials-file", default=None,
                   help="INI file of accepted key pairs (aws_access_key_id, aws_secret_access_key per section); "
                        "HRNN_ACCESS_KEY_ID/HRNN_SECRET_ACCESS_KEY in the environment are accepted too")
    p.add_argument("--data-dir", action="append", default=None,
                   help="a local directory that import and batch jobs may read and write (repeatable; "
                        "default: the current directory)")
    p.add_argument("--s3-endpoint-url", default=None,
                   help="an S3-compatible store for s3:// locations (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL)")
    p.add_argument("--max-campaigns", type=int, default=16, help="campaigns held in memory at most")
    p.add_argument("--max-trainings", type=int, default=2, help="solution versions trained at once (others wait)")
    p.add_argument("--max-connections", type=int, default=DEFAULT_MAX_CONNECTIONS,
                   help=f"connections served at once (default {DEFAULT_MAX_CONNECTIONS}); more get 503")
    p.add_argument("--header-timeout", type=float, default=DEFAULT_HEADER_TIMEOUT,
                   help=f"seconds a connection may take to send a request's headers, sit idle, or pause in a body "
                        f"(default {DEFAULT_HEADER_TIMEOUT:g})")
    p.add_argument("--inference-threads", type=int, default=1, help="torch threads scoring GetRecommendations")
    _add_run_options(p)
    p.set_defaults(func=cmd_serve)


def _add_run_options(p) -> None:
    """How the server's trainings run: create-solution-version's run options, declared once (``RUN_OPTIONS``)."""
    from botocore import xform_name

    from ..operations import RUN_OPTIONS

    for option in RUN_OPTIONS:
        flag = "--" + xform_name(option.member, "-")
        if option.kind == "boolean":
            p.add_argument(flag, dest=option.member, action=argparse.BooleanOptionalAction, default=None,
                           help=option.help)
        else:
            p.add_argument(flag, dest=option.member, type={"integer": int, "number": float}.get(option.kind, str),
                           default=None, metavar=flag[2:].upper().replace("-", "_"), help=option.help)


def cmd_serve(args: argparse.Namespace) -> None:
    from hrnn.errors import ServiceError

    from .credentials import CredentialsError, load_credentials

    try:
        credentials = load_credentials(args.credentials_file)
        ctx = build_context(args)
    except CredentialsError as exc:
        _exit(str(exc))
    except ServiceError as exc:
        _exit(exc.message)
    try:
        asyncio.run(_serve(args, ctx, credentials))
    except OSError as exc:  # the address is taken or not ours
        _exit(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")


def _exit(message: str) -> None:
    sys.stderr.write(f"hrnn serve: {message}\n")
    raise SystemExit(2)


def build_context(args: argparse.Namespace):
    from ..locations import Access, s3_endpoint
    from ..operations import RUN_OPTIONS, Context, background_runner
    from ..run_options import RunOptions
    from ..workspace import Workspace
    from .runtime import RecommendationBatcher

    workspace = Workspace.at(args.workspace, args.region, args.account_id)
    options = RunOptions.from_members({o.member: getattr(args, o.member) for o in RUN_OPTIONS}).check()
    endpoint = args.s3_endpoint_url or s3_endpoint()
    access = Access.confined(args.data_dir or [os.getcwd()], workspace.root, endpoint)
    ctx = Context(workspace, None, access, options, origin="endpoint", resume_same_command=False,
                  max_campaigns=args.max_campaigns, note=_log, recommend=RecommendationBatcher().recommend)
    ctx.runner = background_runner(ctx.settings(), {"solution-version": args.max_trainings})
    return ctx


_LAST: dict[str, float] = {}


def _log(text: str, every: float = 10.0) -> None:
    """The server's log (stderr), at most one line of the same kind every ``every`` seconds."""
    key = text[:40]
    now = time.monotonic()
    if now - _LAST.get(key, -every) >= every:
        _LAST[key] = now
        sys.stderr.write(text.rstrip("\n") + "\n")


def _claim_workspace(ctx):
    """One server per workspace: the first holds a lock on ``<workspace>/.serve.lock`` while it runs."""
    ctx.workspace.root.mkdir(parents=True, exist_ok=True)
    lock = open(ctx.workspace.root / ".serve.lock", "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        _exit(f"Another hrnn serve already runs on workspace {str(ctx.workspace.root)!r}.")
    return lock


async def _serve(args: argparse.Namespace, ctx, credentials: dict[str, str]) -> None:
    from aiohttp import web

    from ..operations import resume_jobs
    from .app import Endpoint
    from .connections import capped_factory, quiet_exception_handler
    from .sigv4 import Verifier

    lock = _claim_workspace(ctx)
    ctx.runner.start(ctx)
    resume_jobs(ctx)
    import torch

    torch.set_num_threads(max(1, args.inference_threads))  # more intra-op threads than scoring threads only spin
    identity = ctx.workspace.identity
    endpoint = Endpoint(ctx, Verifier(credentials, region=identity.region), body_timeout=args.header_timeout)
    runner = web.AppRunner(endpoint.application(), access_log=None, handle_signals=False,
                           keepalive_timeout=args.header_timeout)
    await runner.setup()
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(quiet_exception_handler(_log))
    stopped = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    server = None
    try:
        server = await loop.create_server(capped_factory(runner.server, args.max_connections), args.host, args.port,
                                          backlog=1024, reuse_address=True)
        host, port = server.sockets[0].getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        print(json.dumps({"endpoint": f"http://{shown}:{port}", "workspace": str(ctx.workspace.root),
                          "region": identity.region, "accountId": identity.account}), flush=True)
        await stopped.wait()
    finally:
        if server is not None:
            server.close()
        await runner.cleanup()
        endpoint.close()
        ctx.runner.close()
        lock.close()
