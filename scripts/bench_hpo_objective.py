"""Is the HPO objective worth optimising? Two measurements on generated data.

``noise``: train a fixed set of configurations with several seeds under two validation schemes and compare
the seed noise of the validation objective with the spread between configurations:

* ``users``: a tenth of the training users held out whole (their newest tenth scored) - the scheme before;
* ``newest``: every training user (up to ``VALIDATION_USERS``) holds out its newest tenth - ``hpo_splits`` now.

``hpo``: one real HPO run (Ray Tune, the project's searcher); each trial's final checkpoint is then scored on
the test users, which no trial saw, and the rank correlation of the trials' validation objective with their
test metric is reported.

    python scripts/bench_hpo_objective.py noise --users 1000 --seeds 3
    python scripts/bench_hpo_objective.py hpo --users 1000 --trials 12
"""

from __future__ import annotations

import argparse
import glob
import itertools
import json
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout without installing

CONFIGS = [dict(hidden_dimension=h, bptt=b, recency_mask=r) for h, b, r in
           [(32, 2, False), (32, 32, True), (64, 8, False), (64, 32, True), (128, 4, True), (128, 16, False),
            (200, 32, False), (48, 12, True)]]
METRIC = "precision_at_25"


def _data(users: int, seed: int = 0):
    from hrnn.data import build_interactions
    from hrnn.synth import generate_interactions

    return build_interactions(generate_interactions(n_users=users, n_items=1000, seed=seed))


def _score(model, train, data, holdout) -> float:
    import torch

    from hrnn.evaluation import HRNNScorer, evaluate_service

    scorer = HRNNScorer(model, torch.device("cpu"), item_mask=torch.as_tensor(train.item_counts() > 0),
                        session_timeout_seconds=1800.0)
    return evaluate_service(scorer, data, holdout)[METRIC]


def noise_cell(task: tuple) -> dict:
    import torch

    from hrnn.data.splits import hpo_splits, service_split
    from hrnn.recipe import HRNN_RECIPE
    from hrnn.training import fit

    config, seed, users = task
    torch.set_num_threads(1)
    data = _data(users)
    splits = hpo_splits(data, 42)
    hp = HRNN_RECIPE.values(seed=seed, **CONFIGS[config])
    out = {"config": config, "seed": seed}
    old = service_split(data, 43, among=splits.train)  # the scheme before: a tenth of the users, whole
    for scheme, train, validation in (("users", data.take(old.train), old.holdout),
                                      ("newest", splits.training_data(data), splits.validation)):
        model = fit(train, hp, device="cpu").model
        out[scheme] = {"validation": _score(model, train, data, validation), "users": int(len(validation.users)),
                       "test": _score(model, train, data, splits.test)}
    return out


def spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def report_noise(cells: list[dict]) -> str:
    lines = ["| scheme | validation users | seed noise (sd) | spread between configs (sd) | spread / noise | "
             "rank corr. of config means with test |", "|---|---|---|---|---|---|"]
    configs = sorted({c["config"] for c in cells})
    for scheme in ("users", "newest"):
        val = {k: [c[scheme]["validation"] for c in cells if c["config"] == k] for k in configs}
        test = {k: [c[scheme]["test"] for c in cells if c["config"] == k] for k in configs}
        noise = float(np.mean([np.std(v, ddof=1) for v in val.values()]))
        spread = float(np.std([np.mean(v) for v in val.values()], ddof=1))
        rho = spearman([np.mean(val[k]) for k in configs], [np.mean(test[k]) for k in configs])
        lines.append(f"| {scheme} | {cells[0][scheme]['users']} | {noise:.4f} | {spread:.4f} | {spread / noise:.2f} | "
                     f"{rho:+.2f} |")
    return "\n".join(lines)


def run_hpo_once(users: int, trials: int, parallel: int, epochs: int) -> str:
    import ray
    import torch

    from hrnn.data.splits import hpo_splits
    from hrnn.model import ModelConfig
    from hrnn.training import CHECKPOINT_NAME, TrainConfig, Trainer
    from tuning.hpo import run_hpo
    from tuning.ray_env import init_ray
    from tuning.request import parse_create_solution

    data = _data(users)
    splits = hpo_splits(data, 42)
    request = parse_create_solution({
        "recipeArn": "arn:aws:personalize:::recipe/aws-hrnn", "performHPO": True,
        "solutionConfig": {"algorithmHyperParameters": {"epochs": str(epochs)}, "hpoConfig": {"hpoResourceConfig": {
            "maxNumberOfTrainingJobs": str(trials), "maxParallelTrainingJobs": str(parallel)}}}})
    storage = tempfile.mkdtemp(prefix="hrnn-hpo-objective-")
    init_ray(num_cpus=parallel, num_gpus=0)
    result = run_hpo(data, splits, request, storage=storage, name="objective", quiet=True)
    ray.shutdown()
    rows, train = [], splits.training_data(data)
    for trial in result.trials:
        found = sorted(glob.glob(f"{result.experiment_path}/attempt-*/{trial.trial_id}/checkpoint_*/{CHECKPOINT_NAME}"))
        hp = request.hyperparameters.replace(hidden_dimension=int(trial.params["hidden_dimension"]),
                                             bptt=int(trial.params["bptt"]),
                                             recency_mask=trial.params["recency_mask"] == "true")
        trainer = Trainer.create(ModelConfig.from_hyperparameters(hp, data.n_items), TrainConfig.from_hyperparameters(hp, "cpu"))
        trainer.load_checkpoint(Path(found[-1]))
        torch.set_num_threads(1)
        rows.append((trial.trial_id, trial.params, trial.objective, _score(trainer.model, train, data, splits.test)))
    lines = ["| trial | hidden_dimension | bptt | recency_mask | validation objective | test metric |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {t} | {p['hidden_dimension']} | {p['bptt']} | {p['recency_mask']} | {v:.4f} | {m:.4f} |"
              for t, p, v, m in rows]
    rho = spearman([r[2] for r in rows], [r[3] for r in rows])
    lines.append(f"\nSpearman rank correlation of the validation objective with the test {METRIC}: {rho:+.2f} "
                 f"over {len(rows)} trials ({len(splits.validation.users)} validation users, "
                 f"{len(splits.test.users)} test users)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("noise", "hpo"))
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=3, help="noise: training seeds per configuration")
    parser.add_argument("--trials", type=int, default=12, help="hpo: maxNumberOfTrainingJobs")
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    if args.mode == "hpo":
        print(run_hpo_once(args.users, args.trials, args.parallel, args.epochs))
        return 0
    tasks = [(c, s, args.users) for c, s in itertools.product(range(len(CONFIGS)), range(args.seeds))]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        cells = list(pool.map(noise_cell, tasks))
    print(json.dumps(cells), file=sys.stderr)
    print(report_noise(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
