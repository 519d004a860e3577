"""``hrnn serve``: the Personalize API over HTTP, for boto3 and the AWS CLI (``--endpoint-url``).

It listens on 127.0.0.1:8080 unless told otherwise, refuses to start without credentials, and prints one
JSON line on stdout when it is ready: ``{"endpoint": "http://127.0.0.1:8080", "workspace": "..."}``
(with ``--port 0`` that line says which port it got). SIGINT or SIGTERM stops it; trainings and jobs it
started carry on and the next ``hrnn serve`` on the workspace adopts them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def add_serve_command(sub) -> None:
    """Add ``serve`` to the ``hrnn`` command's sub-commands."""
    p = sub.add_parser("serve", help="serve the Personalize API over HTTP (boto3/AWS CLI with --endpoint-url)",
                       description=__doc__.splitlines()[0])
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default {DEFAULT_HOST}; 0.0.0.0 listens on every interface)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}; 0 picks a free port")
    p.add_argument("--workspace", default=None, help="workspace directory (default: $HRNN_WORKSPACE or ./hrnn-workspace)")
    p.add_argument("--credentials-file", default=None,
                   help="INI file of accepted key pairs (aws_access_key_id, aws_secret_access_key per section); "
                        "HRNN_ACCESS_KEY_ID/HRNN_SECRET_ACCESS_KEY in the environment are accepted too")
    p.add_argument("--data-dir", action="append", default=None,
                   help="a local directory that import and batch jobs may read and write (repeatable; "
                        "default: the current directory)")
    p.add_argument("--s3-endpoint-url", default=None,
                   help="an S3-compatible store for s3:// locations (sets AWS_ENDPOINT_URL_S3 for the jobs)")
    p.add_argument("--max-campaigns", type=int, default=16, help="campaigns held in memory at most")
    p.add_argument("--max-trainings", type=int, default=2, help="solution versions trained at once (others wait)")
    p.add_argument("--inference-threads", type=int, default=1, help="threads scoring GetRecommendations batches")
    p.add_argument("--device", default="auto", help="training device: auto, cpu, cuda, cuda:N")
    p.add_argument("--gpus-per-trial", type=float, default=None, help="GPUs per HPO trial (as for create-solution-version)")
    p.add_argument("--cpus-per-trial", type=int, default=1, help="CPUs per HPO trial (default 1)")
    p.add_argument("--max-epochs", type=int, default=None, help="cap every trial's epochs (quick runs, tests)")
    p.add_argument("--storage", default=None, help="Ray Tune storage path or URI (shared storage on a cluster)")
    p.add_argument("--early-stopping", action=argparse.BooleanOptionalAction, default=True,
                   help="HPO: stop trials that fall behind (as for create-solution-version; default: on)")
    p.add_argument("--refit", action=argparse.BooleanOptionalAction, default=False,
                   help="HPO: train the best configuration on all the training interactions (default: off)")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> None:
    from .credentials import CredentialsError, load_credentials

    try:
        credentials = load_credentials(args.credentials_file)
    except CredentialsError as exc:
        sys.stderr.write(f"hrnn serve: {exc}\n")
        raise SystemExit(2) from None
    if args.s3_endpoint_url:
        os.environ["AWS_ENDPOINT_URL_S3"] = args.s3_endpoint_url
    try:
        asyncio.run(_serve(args, credentials))
    except OSError as exc:  # the address is taken or not ours
        sys.stderr.write(f"hrnn serve: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}\n")
        raise SystemExit(2) from None


def build_service(args: argparse.Namespace):
    from ..resources.service import Service
    from ..workspace import Workspace

    run_options = {"device": args.device, "quiet": False, "gpus_per_trial": args.gpus_per_trial,
                   "cpus_per_trial": args.cpus_per_trial, "max_epochs": args.max_epochs, "storage": args.storage,
                   "early_stopping": args.early_stopping, "refit": args.refit}
    return Service(Workspace.at(args.workspace), data_roots=tuple(args.data_dir or [os.getcwd()]),
                   run_options=run_options, max_campaigns=args.max_campaigns,
                   job_limits={"solution-version": args.max_trainings})


async def _serve(args: argparse.Namespace, credentials: dict[str, str]) -> None:
    from aiohttp import web

    from .app import Endpoint
    from .sigv4 import Verifier

    from ..resources.service import WorkspaceBusy

    service = build_service(args)
    try:
        service.start()
    except WorkspaceBusy as exc:
        sys.stderr.write(f"hrnn serve: {exc}\n")
        raise SystemExit(2) from None
    import torch

    torch.set_num_threads(max(1, args.inference_threads))  # more intra-op threads than scoring threads only spin
    endpoint = Endpoint(service, Verifier(credentials), inference_threads=args.inference_threads)
    runner = web.AppRunner(endpoint.application(), access_log=None, handle_signals=False)
    await runner.setup()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    try:
        site = web.TCPSite(runner, args.host, args.port, backlog=1024)
        await site.start()
        host, port = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        print(json.dumps({"endpoint": f"http://{shown}:{port}", "workspace": str(service.workspace.root)}),
              flush=True)
        await stopped.wait()
    finally:
        await runner.cleanup()
        endpoint.close()
        service.close()
