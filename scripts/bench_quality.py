"""Recommendation quality over seeds: does the hierarchy pay, does recency_mask pay, and by how much?

Writes a table (mean +- standard deviation over seeds, with the number of targets) for

* models: the HRNN with recency_mask true and false, its session-only ablation, most-popular, and the
  item-to-next-item transition counts;
* protocols: next-item within test sessions (time split), next-session (a returning user's next session,
  ranked from their history alone: its first item, and its first 5 distinct items), and the service's
  held-out-user metrics (GetSolutionMetrics);
* data: generated data with planted cross-session tastes, the same without them (the null case), and data
  whose popularity drifts at the end (a trend).

A paired difference between two models counts only when it exceeds 2 standard errors of the per-seed
differences; below that it is "no difference".

    python scripts/bench_quality.py                    # 3 seeds, 2 worker processes, about 10 minutes
    python scripts/bench_quality.py --seeds 5 --jobs 2 --out quality.md
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout without installing

DATASETS = {
    "planted": dict(trend_strength=0.0),
    "null": dict(trend_strength=0.0, persistent_tastes=False),
    "drift": dict(trend_fraction=0.35, pattern_shift=True),
}
NEURAL = {
    "hrnn rm=false": dict(hierarchical=True, recency_mask=False),
    "hrnn rm=true": dict(hierarchical=True, recency_mask=True),
    "session-only": dict(hierarchical=False),
}
BASELINES = ("most-popular", "transitions")
PROTOCOL_METRICS = {
    "next-item": ("recall_at_20", "mrr_at_20"),
    "next-session": ("first_item_recall_at_20", "first_item_mrr_at_20", "first_5_recall_at_20"),
    "service": ("precision_at_25", "mean_reciprocal_rank_at_25", "normalized_discounted_cumulative_gain_at_25"),
}


def _data(kind: str, seed: int, users: int, items: int):
    from hrnn.data import DataConfig, build_interactions
    from hrnn.synth import generate_interactions

    table = generate_interactions(n_users=users, n_items=items, seed=seed, **DATASETS[kind])
    return build_interactions(table, DataConfig(max_user_history_length_percentile=1.0))


def _scorer(model: str, train, seed: int, overrides: dict):
    import torch

    from hrnn.evaluation import HRNNScorer, PopularityScorer
    from hrnn.evaluation.baselines import TransitionScorer
    from hrnn.recipe import HRNN_RECIPE
    from hrnn.training import fit

    if model == "most-popular":
        return PopularityScorer(train.item_counts())
    if model == "transitions":
        return TransitionScorer.fit(train)
    settings = dict(NEURAL[model])
    hierarchical = settings.pop("hierarchical")
    hp = HRNN_RECIPE.values(seed=seed, **settings, **overrides)
    trained = fit(train, hp, hierarchical=hierarchical, device="cpu").model
    return HRNNScorer(trained, torch.device("cpu"), item_mask=torch.as_tensor(train.item_counts() > 0),
                      session_timeout_seconds=60.0 * hp.session_timeout_minutes)


def run_cell(task: tuple) -> dict:
    """One (data kind, seed, model): train once per split and score every protocol."""
    import torch

    from hrnn.data.splits import next_item_split, service_split
    from hrnn.evaluation import evaluate_next_item, evaluate_service
    from hrnn.evaluation.next_session import evaluate_next_session

    kind, seed, model, users, items, overrides = task
    torch.set_num_threads(1)
    started = time.perf_counter()
    data = _data(kind, seed, users, items)
    split = next_item_split(data)
    scorer = _scorer(model, split.train, seed, overrides)
    result = {"next-item": evaluate_next_item(scorer, split, ks=(20,)),
              "next-session": evaluate_next_session(scorer, split)}
    result["next-item"]["targets"] = int(split.test.n_events - split.test.n_sequences)
    held = service_split(data, seed)
    scorer = _scorer(model, data.take(held.train), seed, overrides)
    result["service"] = evaluate_service(scorer, data, held.holdout)
    result["service"]["targets"] = int(len(held.holdout.users))
    return {"kind": kind, "seed": seed, "model": model, "metrics": result,
            "seconds": time.perf_counter() - started}


def _mean_std(values: list[float]) -> tuple[float, float]:
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def paired(cells: list[dict], kind: str, protocol: str, metric: str, a: str, b: str) -> tuple[float, float, str]:
    """Mean and standard error of (a - b) over seeds, relative to b's mean, and a verdict."""
    by = {(c["model"], c["seed"]): c["metrics"][protocol].get(metric) for c in cells if c["kind"] == kind}
    seeds = sorted({s for (_, s) in by if (a, s) in by and (b, s) in by})
    diffs = [by[(a, s)] - by[(b, s)] for s in seeds]
    base = float(np.mean([by[(b, s)] for s in seeds]))
    mean, sd = _mean_std(diffs)
    se = sd / math.sqrt(len(diffs)) if len(diffs) > 1 else float("inf")
    verdict = "no difference" if abs(mean) <= 2 * se else (f"{a} better" if mean > 0 else f"{b} better")
    return mean / base if base else float("nan"), se / base if base else float("nan"), verdict


def table(cells: list[dict]) -> str:
    models = sorted({c["model"] for c in cells}, key=lambda m: list(NEURAL).index(m) if m in NEURAL else 9)
    lines = []
    for kind in DATASETS:
        rows = [c for c in cells if c["kind"] == kind]
        if not rows:
            continue
        lines += [f"\n**{kind}** ({len({c['seed'] for c in rows})} seeds)\n",
                  "| protocol | metric | targets | " + " | ".join(models) + " |",
                  "|---|---|---|" + "---|" * len(models)]
        for protocol, metrics in PROTOCOL_METRICS.items():
            targets = int(np.mean([c["metrics"][protocol].get("targets", 0) for c in rows]))
            for metric in metrics:
                cells_text = []
                for m in models:
                    values = [c["metrics"][protocol][metric] for c in rows if c["model"] == m]
                    mean, sd = _mean_std(values) if values else (float("nan"), 0.0)
                    cells_text.append(f"{mean:.4f} ± {sd:.4f}")
                lines.append(f"| {protocol} | {metric} | {targets} | " + " | ".join(cells_text) + " |")
    return "\n".join(lines)


def _default_hrnn() -> str:
    """The HRNN with the recipe's recency_mask: the session-only ablation uses the same default."""
    from hrnn.recipe import HRNN_RECIPE

    return "hrnn rm=true" if HRNN_RECIPE.defaults.recency_mask else "hrnn rm=false"


HRNN = _default_hrnn()
GOALS = [
    ("hierarchy pays on planted data", "planted", "next-session", "first_item_recall_at_20", HRNN, "session-only"),
    ("hierarchy pays (first 5)", "planted", "next-session", "first_5_recall_at_20", HRNN, "session-only"),
    ("hierarchy costs nothing within sessions (null)", "null", "next-item", "recall_at_20", HRNN,
     "session-only"),
    ("hierarchy on the null case's next session", "null", "next-session", "first_item_recall_at_20", HRNN,
     "session-only"),
    ("recency_mask without drift (planted)", "planted", "next-item", "recall_at_20", "hrnn rm=true",
     "hrnn rm=false"),
    ("recency_mask without drift (null)", "null", "next-item", "recall_at_20", "hrnn rm=true", "hrnn rm=false"),
    ("recency_mask without drift (service)", "planted", "service", "precision_at_25", "hrnn rm=true",
     "hrnn rm=false"),
    ("recency_mask with drift (next-item)", "drift", "next-item", "recall_at_20", "hrnn rm=true", "hrnn rm=false"),
    ("recency_mask with drift (service)", "drift", "service", "precision_at_25", "hrnn rm=true", "hrnn rm=false"),
]


def goals(cells: list[dict]) -> str:
    lines = ["\n| check | data | metric | relative difference (± s.e.) | verdict |", "|---|---|---|---|---|"]
    for name, kind, protocol, metric, a, b in GOALS:
        if not any(c["kind"] == kind and c["model"] in (a, b) for c in cells):
            continue
        rel, se, verdict = paired(cells, kind, protocol, metric, a, b)
        lines.append(f"| {name} | {kind} | {protocol} {metric} | {rel:+.1%} ± {se:.1%} | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (one torch thread each)")
    parser.add_argument("--kinds", default=",".join(DATASETS))
    parser.add_argument("--models", default="hrnn rm=true,hrnn rm=false,session-only,most-popular,transitions")
    parser.add_argument("--set", default="{}", help='JSON of hyperparameter overrides, e.g. \'{"epochs": 5}\'')
    parser.add_argument("--out", default=None, help="also write the table (markdown) and the raw cells (.json)")
    args = parser.parse_args(argv)
    overrides = json.loads(args.set)
    tasks = [(kind, seed, model, args.users, args.items, overrides)
             for kind, seed, model in itertools.product(args.kinds.split(","), range(args.seeds),
                                                        args.models.split(","))]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        cells = []
        for cell in pool.map(run_cell, tasks):
            cells.append(cell)
            print(f"{cell['kind']:<8} seed {cell['seed']} {cell['model']:<14} {cell['seconds']:6.1f}s", file=sys.stderr)
    text = table(cells) + "\n" + goals(cells) + f"\n\n{len(tasks)} cells in {time.perf_counter() - started:.0f} s\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
        Path(args.out).with_suffix(".json").write_text(json.dumps(cells, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
