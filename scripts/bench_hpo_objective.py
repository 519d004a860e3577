"""Is the HPO objective worth optimising? Two measurements on generated data.

``noise``: train a fixed set of configurations with several seeds under two validation schemes and compare
the seed noise of the validation objective with the spread between configurations:

* ``users``: a tenth of the training users held out whole (their newest tenth scored) - the scheme before;
* ``newest``: every training user (up to ``VALIDATION_USERS``) holds out its newest tenth - ``hpo_splits`` now.

``hpo``: real searches (Ray Tune, the project's searcher, no early stopping), one per seed, over the recipe's
default ranges; each trial's final model is then scored on the test users, which no trial saw (the service's
metrics and next-item Recall@20/MRR@20). For each candidate validation objective (precision@25, precision@25
with MRR@25 breaking ties, MRR@25, NDCG@25, NDCG@10) it reports the Spearman rank correlation of the trials'
validation values with each test metric, and the test quality of the trial it would pick as a share of the
best trial's. Each search is kept as JSON in ``--out`` (a rerun reuses it; ``report`` only reads them).

    python scripts/bench_hpo_objective.py noise --users 1000 --seeds 3
    python scripts/bench_hpo_objective.py hpo --users 2000 --items 2000 --trials 16 --seeds 3
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))

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


CANDIDATES = {  # validation objectives: (name, key of a trial's validation metrics -> sortable value)
    "precision_at_25": lambda m: m["precision_at_25"],
    "precision_at_25, ties by mrr_at_25": lambda m: (m["precision_at_25"], m["mean_reciprocal_rank_at_25"]),
    "mean_reciprocal_rank_at_25": lambda m: m["mean_reciprocal_rank_at_25"],
    "normalized_discounted_cumulative_gain_at_25": lambda m: m["normalized_discounted_cumulative_gain_at_25"],
    "normalized_discounted_cumulative_gain_at_10": lambda m: m["normalized_discounted_cumulative_gain_at_10"],
}
TEST_METRICS = ("precision_at_25", "mean_reciprocal_rank_at_25", "normalized_discounted_cumulative_gain_at_25",
                "next_recall_at_20", "next_mrr_at_20")


def _order(values: list) -> list[float]:
    """Ranks (0 = lowest) of sortable values (numbers or tuples), ties averaged: Spearman needs numbers."""
    keys = sorted(set(values))
    return [float(keys.index(v)) for v in values]


def hpo_seed(seed: int, users: int, items: int, trials: int, parallel: int, epochs: int, out: Path) -> dict:
    """One search without early stopping; every trial's final model scored on the test users."""
    import ray

    from bench_hpo_common import checkpoint_model, interactions_file, load_data, quality, request_document
    from tuning.hpo import run_hpo
    from tuning.ray_env import init_ray
    from tuning.request import parse_create_solution

    request = parse_create_solution(request_document("objective", trials, parallel, epochs, seed))
    data, splits = load_data(interactions_file(users, items, seed), request)
    storage = tempfile.mkdtemp(prefix="hrnn-hpo-objective-")
    init_ray(num_cpus=parallel, num_gpus=0)
    result = run_hpo(data, splits, request, storage=storage, name="objective", seed=seed, quiet=True)
    ray.shutdown()
    train = splits.training_data(data)
    rows = []
    for trial in result.trials:
        hp = request.hyperparameters.replace(**{k: v for k, v in _typed(trial.params).items()})
        model = checkpoint_model(_checkpoint(result.experiment_path, trial.trial_id), hp, data.n_items)
        rows.append({"trial_id": trial.trial_id, "params": trial.params, "validation": trial.metrics,
                     "test": quality(model, train, data, splits.test), "seconds": trial.seconds,
                     "history": trial.history})
    record = {"seed": seed, "users": users, "items": items, "epochs": epochs, "parallel": parallel,
              "validation_users": int(len(splits.validation.users)), "test_users": int(len(splits.test.users)),
              "trials": rows}
    from bench_hpo_common import write_json

    write_json(out / f"objective-seed{seed}.json", record)
    return record


def _typed(params: dict) -> dict:
    from hrnn.recipe import HRNN_RECIPE

    return {k: HRNN_RECIPE.lookup(k).parse(v) for k, v in params.items()}


def _checkpoint(experiment: str, trial_id: str) -> Path:
    from bench_hpo_common import trial_checkpoint

    return trial_checkpoint(experiment, trial_id)


def report_ranking(records: list[dict]) -> str:
    """Per candidate objective: Spearman with each test metric (mean +- s.e. over seeds) and the test
    metrics of the trial it picks, relative to the best trial on that test metric (regret)."""
    from bench_hpo_common import mean_se, spearman

    head = " | ".join(f"rho {m}" for m in TEST_METRICS)
    lines = [f"| validation objective | {head} | picked trial: next_recall_at_20 / next_mrr_at_20 / precision_at_25 "
             "(share of the best trial's) |", "|---|" + "---|" * (len(TEST_METRICS) + 1)]
    for name, key in CANDIDATES.items():
        cells = []
        for metric in TEST_METRICS:
            rhos = [spearman(_order([key(t["validation"]) for t in r["trials"]]), [t["test"][metric] for t in r["trials"]])
                    for r in records]
            m, se = mean_se(rhos)
            cells.append(f"{m:+.2f} ± {se:.2f}")
        shares = []
        for metric in ("next_recall_at_20", "next_mrr_at_20", "precision_at_25"):
            ratios = []
            for r in records:
                picked = max(range(len(r["trials"])), key=lambda i: (key(r["trials"][i]["validation"]), -i))
                best = max(t["test"][metric] for t in r["trials"])
                ratios.append(r["trials"][picked]["test"][metric] / best)
            m, se = mean_se(ratios)
            shares.append(f"{m:.3f} ± {se:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " | " + " / ".join(shares) + " |")
    r0 = records[0]
    lines.append(f"\n{len(records)} searches (seeds {', '.join(str(r['seed']) for r in records)}), "
                 f"{len(r0['trials'])} trials each, {r0['users']} users x {r0['items']} items, {r0['epochs']} epochs, "
                 f"{r0['validation_users']} validation users, {r0['test_users']} test users")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("noise", "hpo", "report"))
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--items", type=int, default=1000, help="hpo: catalogue size")
    parser.add_argument("--seeds", type=int, default=3, help="noise: training seeds per configuration; hpo: searches")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=16, help="hpo: maxNumberOfTrainingJobs")
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "hrnn-bench-hpo-objective",
                        help="hpo: where each search's trials and test metrics are kept (JSON); report: read them")
    args = parser.parse_args(argv)
    if args.mode in ("hpo", "report"):
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        records = []
        for seed in seeds:
            cached = args.out / f"objective-seed{seed}.json"
            if cached.exists():
                records.append(json.loads(cached.read_text()))
            elif args.mode == "hpo":
                records.append(hpo_seed(seed, args.users, args.items, args.trials, args.parallel, args.epochs, args.out))
        print(report_ranking(records))
        return 0
    tasks = [(c, s, args.users) for c, s in itertools.product(range(len(CONFIGS)), range(args.seeds))]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        cells = list(pool.map(noise_cell, tasks))
    print(json.dumps(cells), file=sys.stderr)
    print(report_noise(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
