"""Run one HPO request several times with one seed and compare what the searcher tried and what it chose.

    python scripts/check_hpo_determinism.py --runs 3 --max-epochs 1

Uses the example HPO request (4 jobs, 2 in parallel) on the embedded sample unless told otherwise. Prints,
per run, every trial's parameters and objective, then whether the runs agree (trial parameters in order,
objectives, tunedHPOParams) and how many configurations any run tried twice.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time


def main(argv: list[str] | None = None) -> int:
    from hrnn.data.splits import hpo_splits
    from hrnn.data import load_interactions
    from tuning.hpo import run_hpo
    from tuning.ray_env import init_ray
    from tuning.request import load_request, parse_create_solution
    from tuning.samples import example_request, sample_interactions
    from tuning.version_training import data_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-epochs", type=int, default=1)
    parser.add_argument("--request", default=str(example_request()))
    parser.add_argument("--interactions", default=str(sample_interactions()))
    args = parser.parse_args(argv)

    request = parse_create_solution(load_request(args.request))
    data = load_interactions(args.interactions, data_config(request))
    splits = hpo_splits(data, request.hyperparameters.seed)
    init_ray(quiet=True)
    runs = []
    for i in range(args.runs):
        started = time.perf_counter()
        result = run_hpo(data, splits, request, storage=tempfile.mkdtemp(prefix="hrnn-det-"), name=f"run{i}",
                         seed=request.hyperparameters.seed, max_epochs=args.max_epochs, quiet=True)
        trials = [(t.params, round(t.objective, 6) if t.objective is not None else None) for t in result.trials]
        runs.append({"trials": trials, "tuned": result.tuned_hpo_params()})
        print(f"run {i}: {time.perf_counter() - started:.1f}s tuned {json.dumps(result.tuned_hpo_params())}")
        for params, objective in trials:
            print(f"    {json.dumps(params, sort_keys=True)}  {objective}")
    same_params = all(r["trials"] == runs[0]["trials"] for r in runs)
    same_tuned = all(r["tuned"] == runs[0]["tuned"] for r in runs)
    repeats = [len(r["trials"]) - len({json.dumps(p, sort_keys=True) for p, _ in r["trials"]}) for r in runs]
    print(f"runs: {len(runs)}; identical trials and objectives: {same_params}; identical tunedHPOParams: "
          f"{same_tuned}; configurations tried twice per run: {repeats}")
    return 0 if same_params and same_tuned and not any(repeats) else 1


if __name__ == "__main__":
    sys.exit(main())
