#!/usr/bin/env python
"""How close does the HPO driver get to perfect packing of trials on the CPUs?

Runs 8 short trials (a few seconds of training each) with maxParallelTrainingJobs 2 on a local Ray with 2
CPUs and compares the wall time with the ideal, sum(trial seconds) / 2:

* wall      - from before ray.init to run_hpo's return (what a user waits for)
* fixed     - start-up and tear-down outside the trials: ray.init + until the first trial starts, plus from
              the last trial's end to run_hpo's return
* packing   - (wall - fixed) / ideal: how well the trials fill the 2 slots once running (1.0 = perfect)

Target: wall <= 1.3 x ideal + 10 s of fixed start-up (exit status 1 when missed).

    python scripts/bench_hpo.py [--trials 8] [--parallel 2] [--users 1000] [--epochs 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _request(args):
    from tuning.request import parse_create_solution

    return parse_create_solution({
        "recipeArn": "arn:aws:personalize:::recipe/aws-hrnn",
        "performHPO": True,
        "solutionConfig": {
            "algorithmHyperParameters": {"epochs": str(args.epochs), "batch_size": "32", "num_negatives": "64"},
            "hpoConfig": {
                "hpoResourceConfig": {"maxNumberOfTrainingJobs": str(args.trials),
                                      "maxParallelTrainingJobs": str(args.parallel)},
                "algorithmHyperParameterRanges": {
                    "integerHyperParameterRanges": [{"name": "hidden_dimension", "minValue": 32, "maxValue": 64},
                                                    {"name": "bptt", "minValue": 4, "maxValue": 16}],
                    "categoricalHyperParameterRanges": [{"name": "recency_mask", "values": ["true", "false"]}],
                },
            },
        },
    })


def _run(args, data, splits) -> tuple:
    """(result, t0, seconds of ray.init, t_end, seconds of ray.shutdown) of one HPO on a private local Ray."""
    import ray

    from tuning.hpo import run_hpo
    from tuning.ray_env import init_ray, kill_processes, ray_processes

    storage = tempfile.mkdtemp(prefix="hrnn-bench-hpo-")
    temp_dir = tempfile.mkdtemp(prefix="rb", dir="/tmp")
    try:
        t0 = time.time()
        init_ray(num_cpus=args.cpus, num_gpus=0, temp_dir=temp_dir)
        t_init = time.time() - t0
        result = run_hpo(data, splits, _request(args), storage=storage, name="bench", gpus_per_trial=0, quiet=True)
        t_end = time.time()
    finally:
        started = time.time()
        ray.shutdown()
        t_shutdown = time.time() - started
        kill_processes(ray_processes(temp_dir))
        shutil.rmtree(storage, ignore_errors=True)
        shutil.rmtree(temp_dir, ignore_errors=True)
    return result, t0, t_init, t_end, t_shutdown


def _print(report: dict, trials) -> None:
    r = report
    print(f"{r['trials']} trials, {r['parallel']} parallel, {r['epochs']} epochs on {r['events']} events")
    print(f"wall time          {r['wall_s']:7.2f} s   (ray.init {r['ray_init_s']:.2f} s)")
    print(f"sum of trial time  {r['sum_trial_s']:7.2f} s   per trial: {', '.join(f'{t.seconds:.1f}' for t in trials)}")
    print(f"ideal (sum / {r['parallel']})    {r['ideal_s']:7.2f} s")
    print(f"ratio wall / ideal {r['ratio_wall_over_ideal']:7.3f}")
    print(f"fixed overhead     {r['fixed_overhead_s']:7.2f} s   (to first trial {r['first_trial_start_after_s']:.2f} s, "
          f"after last {r['return_after_last_trial_s']:.2f} s)")
    print(f"packing            {r['packing']:7.3f}   ((wall - fixed) / ideal)")
    print(f"budget 1.3 x ideal + 10 s = {r['budget_s']:.2f} s: {'OK' if r['ok'] else 'MISSED'}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="HPO packing benchmark")
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--items", type=int, default=300)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--cpus", type=int, default=2)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    from hrnn.data import build_interactions
    from hrnn.data.splits import hpo_splits
    from hrnn.synth import generate_interactions

    data = build_interactions(generate_interactions(n_users=args.users, n_items=args.items, seed=1))
    splits = hpo_splits(data, 42)
    result, t0, t_init, t_end, t_shutdown = _run(args, data, splits)
    trials = result.trials
    wall = t_end - t0
    total = sum(t.seconds for t in trials)
    ideal = total / args.parallel
    first_start = min(t.started_at for t in trials)
    last_end = max(t.ended_at for t in trials)
    fixed = (first_start - t0) + (t_end - last_end)
    ok = wall <= 1.3 * ideal + 10.0 and fixed <= 10.0
    report = {
        "trials": len(trials), "parallel": args.parallel, "events": data.n_events,
        "train_users": int(len(splits.train)), "epochs": args.epochs,
        "wall_s": round(wall, 2), "sum_trial_s": round(total, 2), "ideal_s": round(ideal, 2),
        "ratio_wall_over_ideal": round(wall / ideal, 3), "fixed_overhead_s": round(fixed, 2),
        "ray_init_s": round(t_init, 2), "first_trial_start_after_s": round(first_start - t0, 2),
        "return_after_last_trial_s": round(t_end - last_end, 2), "packing": round((wall - fixed) / ideal, 3),
        "budget_s": round(1.3 * ideal + 10.0, 2), "ray_shutdown_s": round(t_shutdown, 2),
        "per_trial_s": [round(t.seconds, 2) for t in trials], "ok": ok,
    }
    if args.json:
        print(json.dumps(report))
    else:
        _print(report, trials)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
