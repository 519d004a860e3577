#!/usr/bin/env python
"""HPO as a Ray job: the entry point that ``scripts/submit_ray_job.sh`` (``ray job submit``) runs.

It joins the cluster the job runs on (``RAY_ADDRESS``, set by the job server), loads the interactions, parses
the CreateSolution request, runs (or resumes) the HPO and writes a JSON summary of the trials (with the node
each ran on) next to the experiment in the storage. Storage must be reachable from every node (NFS path or
a URI such as ``s3://bucket/prefix``).

    python scripts/ray_job_example.py --storage /shared/hpo --name my-hpo \\
        [--data data/sample_interactions.csv | --synthetic-users 300] [--request data/requests/hpo_request.json] \\
        [--set epochs=2 --set batch_size=32] [--max-epochs N] [--min-nodes 2]

Without ``RAY_ADDRESS`` it starts a local Ray, so the same command also runs on a laptop.
The lead will route this through ``hrnn create-solution-version``; this script is the stand-in.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--storage", required=True, help="experiment storage: shared absolute path or URI")
    p.add_argument("--name", required=True, help="experiment name (the same name resumes it)")
    p.add_argument("--data", default=str(ROOT / "data" / "sample_interactions.csv"),
                   help="Interactions CSV/Parquet (default: the sample)")
    p.add_argument("--synthetic-users", type=int,
                   help="instead of --data, generate a synthetic dataset with this many users (tests, demos)")
    p.add_argument("--request", default=str(ROOT / "data" / "requests" / "hpo_request.json"),
                   help="CreateSolution request (path, file:// or inline JSON)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override solutionConfig.algorithmHyperParameters[NAME] (repeatable)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--max-epochs", type=int)
    p.add_argument("--gpus-per-trial", type=float)
    p.add_argument("--cpus-per-trial", type=int, default=1)
    p.add_argument("--min-nodes", type=int, default=1, help="wait until the cluster has this many nodes")
    p.add_argument("--wait-nodes-timeout", type=float, default=60.0)
    p.add_argument("--summary", help="where to write the summary (default: <storage>/<name>.summary.json)")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def build_request(args):
    from tuning.request import load_request, parse_create_solution

    raw = load_request(args.request)
    if args.set:
        config = raw.setdefault("solutionConfig", {})
        params = config.setdefault("algorithmHyperParameters", {})
        for item in args.set:
            key, _, value = item.partition("=")
            params[key.strip()] = value.strip()
    return parse_create_solution(raw)


def build_data(args, request):
    from hrnn.data import DataConfig, build_interactions, load_interactions

    hp = request.hyperparameters
    config = DataConfig(
        event_type=request.event_type,
        event_value_threshold=request.event_value_threshold,
        min_user_history_length_percentile=hp["min_user_history_length_percentile"],
        max_user_history_length_percentile=hp["max_user_history_length_percentile"],
        session_timeout_minutes=hp["session_timeout_minutes"],
    )
    if args.synthetic_users:
        from hrnn.synth import generate_interactions

        return build_interactions(generate_interactions(n_users=args.synthetic_users, n_items=150, seed=1), config,
                                  source=f"<synthetic {args.synthetic_users} users>")
    return load_interactions(args.data, config)


def wait_for_nodes(n: int, timeout: float) -> list[dict]:
    import ray

    deadline = time.monotonic() + timeout
    while True:
        nodes = [x for x in ray.nodes() if x.get("Alive")]
        if len(nodes) >= n or time.monotonic() > deadline:
            return nodes
        time.sleep(0.5)


def write_json(target: str, obj: dict) -> None:
    import pyarrow.fs as pafs

    text = json.dumps(obj, indent=1, default=str).encode()
    if "://" in target and not target.startswith("file://"):
        fs, path = pafs.FileSystem.from_uri(target)
        with fs.open_output_stream(path) as out:
            out.write(text)
    else:
        path = Path(target[len("file://"):] if target.startswith("file://") else target)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(text)
        os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))  # when the package is not installed on this node
    from hrnn.errors import ServiceError
    from hrnn.splits import hpo_splits
    from tuning.hpo import run_hpo
    from tuning.ray_env import init_ray

    started = time.time()
    try:
        request = build_request(args)
        data = build_data(args, request)
    except ServiceError as exc:
        print(json.dumps(exc.to_dict()), file=sys.stderr)
        return 2
    init_ray(quiet=args.quiet)
    nodes = wait_for_nodes(args.min_nodes, args.wait_nodes_timeout)
    if len(nodes) < args.min_nodes:
        print(f"only {len(nodes)} of {args.min_nodes} nodes joined within {args.wait_nodes_timeout:g}s",
              file=sys.stderr)
        return 3
    splits = hpo_splits(data, request.hyperparameters["seed"])
    try:
        result = run_hpo(data, splits, request, storage=args.storage, name=args.name, seed=args.seed,
                         gpus_per_trial=args.gpus_per_trial, cpus_per_trial=args.cpus_per_trial,
                         max_epochs=args.max_epochs, quiet=args.quiet)
    except ServiceError as exc:
        print(json.dumps(exc.to_dict()), file=sys.stderr)
        return 1
    import ray

    summary = {
        "experiment_path": result.experiment_path,
        "best_trial": result.best.trial_id,
        "tunedHPOParams": result.tuned_hpo_params(),
        "best_objective": result.best.objective,
        "best_checkpoint": result.best_checkpoint,
        "trainingHours": result.training_hours,
        "wall_seconds": time.time() - started,
        "driver_node": ray.get_runtime_context().get_node_id(),
        "cluster_nodes": [{"node_id": n["NodeID"], "ip": n.get("NodeManagerAddress"),
                           "resources": n.get("Resources", {})} for n in nodes],
        "trials": [t.to_dict() for t in result.trials],
    }
    target = args.summary or (f"{args.storage.rstrip('/')}/{args.name}.summary.json")
    write_json(target, summary)
    print(f"best trial {result.best.trial_id} {result.best.params} objective {result.best.objective:.4f}; "
          f"{len(result.trials)} trials on {len({t.node for t in result.trials})} node(s); summary {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
