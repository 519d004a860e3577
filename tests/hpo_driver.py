"""A small HPO driver for the kill-and-resume test (run as a subprocess, so it can be SIGKILLed).

Usage: python tests/hpo_driver.py STORAGE NAME TEMP_DIR SUMMARY_JSON [EPOCHS] [EPOCH_SLEEP] [TRIALS] [STOPPING]
Starts its own local Ray (2 CPUs, no GPU) under TEMP_DIR, runs (or resumes) the experiment STORAGE/NAME and
writes the trial records to SUMMARY_JSON. TRIALS (default 2) run 2 at once; STOPPING ``GRACE,REDUCTION``
turns early stopping on.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import tempfile
import time


TINY_RANGES = [{"name": "hidden_dimension", "minValue": 32, "maxValue": 40}, {"name": "bptt", "minValue": 2, "maxValue": 8}]


def tiny_request(total: int, parallel: int, epochs: int, fixed: dict | None = None,
                 integer_ranges: list | None = None):
    from tuning.request import parse_create_solution

    return parse_create_solution({
        "recipeArn": "arn:aws:personalize:::recipe/aws-hrnn",
        "performHPO": True,
        "solutionConfig": {
            "algorithmHyperParameters": {"epochs": str(epochs), "batch_size": "16", "num_negatives": "16",
                                         **(fixed or {})},
            "hpoConfig": {
                "hpoResourceConfig": {"maxNumberOfTrainingJobs": str(total),
                                      "maxParallelTrainingJobs": str(parallel)},
                "algorithmHyperParameterRanges": {
                    "integerHyperParameterRanges": integer_ranges or TINY_RANGES,
                    "categoricalHyperParameterRanges": [{"name": "recency_mask", "values": ["true", "false"]}],
                },
            },
        },
    })


@contextlib.contextmanager
def private_ray(num_gpus: int = 0, prefix: str = "rt"):
    """A local Ray of 2 CPUs (and ``num_gpus`` logical GPUs) under its own short temp dir (Ray's socket paths
    must stay under 108 characters); everything it started is gone afterwards. Yields the temp dir."""
    import ray

    from tuning.ray_env import kill_processes, ray_processes, set_ray_environment

    set_ray_environment()
    if ray.is_initialized():  # another module left one running
        ray.shutdown()
    temp_dir = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    ray.init(address="local", num_cpus=2, num_gpus=num_gpus, include_dashboard=False, log_to_driver=False,
             object_store_memory=150 * 1024**2, _temp_dir=temp_dir)
    try:
        yield temp_dir
    finally:
        ray.shutdown()
        kill_processes(ray_processes(temp_dir))
        shutil.rmtree(temp_dir, ignore_errors=True)


def tiny_data():
    from hrnn.data import build_interactions
    from hrnn.data.splits import hpo_splits
    from hrnn.synth import generate_interactions

    data = build_interactions(generate_interactions(n_users=300, n_items=150, seed=1))
    return data, hpo_splits(data, 42)


def main(argv: list[str]) -> int:
    storage, name, temp_dir, summary = argv[:4]
    epochs = int(argv[4]) if len(argv) > 4 else 4
    sleep = float(argv[5]) if len(argv) > 5 else 0.0
    trials = int(argv[6]) if len(argv) > 6 else 2
    import hpo_hooks
    from tuning.hpo import run_hpo
    from tuning.hpo.stopping import EarlyStopping
    from tuning.ray_env import init_ray

    stopping = EarlyStopping(*map(int, argv[7].split(","))) if len(argv) > 7 else None
    started = time.time()
    hpo_hooks.register()
    init_ray(num_cpus=2, num_gpus=0, object_store_memory=150 * 1024**2, temp_dir=temp_dir)
    data, splits = tiny_data()
    result = run_hpo(data, splits, tiny_request(trials, 2, epochs), storage=storage, name=name, quiet=True,
                     epoch_hook=hpo_hooks.SleepEachEpoch(sleep) if sleep else None, early_stopping=stopping)
    with open(summary, "w") as f:
        json.dump({"seconds": time.time() - started, "best": result.best.trial_id,
                   "best_checkpoint": result.best_checkpoint,
                   "trials": [t.to_dict() for t in result.trials]}, f)
    import ray

    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
