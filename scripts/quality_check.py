"""The project's quality checks (tests/test_quality.py) with several training seeds, to compare engines.

The two scenarios of the tests, on the same generated data: cross-session tastes (precision@25 of the
HRNN, the session-only model and most-popular on the service's split) and a popularity shift (recall@20 of
the next-item protocol with recency_mask true and false). Prints one row per seed and the means. Works
with any checkout that has the library's public API (``PYTHONPATH=<checkout>``).

    python scripts/quality_check.py --seeds 7 8 9
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

if "hrnn" not in sys.modules:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hrnn.data import DataConfig, build_interactions  # noqa: E402
from hrnn.data.splits import next_item_split, service_split  # noqa: E402
from hrnn.evaluation import HRNNScorer, PopularityScorer, evaluate_next_item, evaluate_service  # noqa: E402
from hrnn.recipe import HRNN_RECIPE  # noqa: E402
from hrnn.synth import generate_interactions  # noqa: E402
from hrnn.training import fit  # noqa: E402

CPU = torch.device("cpu")


def _data(**kwargs):
    return build_interactions(generate_interactions(**kwargs), DataConfig(max_user_history_length_percentile=1.0))


def cross_session(seed: int) -> dict:
    hp = HRNN_RECIPE.values(hidden_dimension=32, bptt=8, epochs=4, batch_size=16, num_negatives=64,
                            learning_rate=0.1, seed=seed)
    data = _data(n_users=800, n_items=200, n_topics=10, seed=0, mean_session_length=2.5, max_session_length=4,
                 sessions_per_user_median=8, two_topic_fraction=1.0, follow=0.0, noise=0.02, start_prob=0.0,
                 trend_strength=0.0)
    split = service_split(data, seed=0, fraction=0.3)
    train = data.take(split.train)
    known = torch.as_tensor(train.item_counts() > 0)
    out = {}
    for name, hierarchical in (("hrnn", True), ("session_only", False)):
        model = fit(train, hp, hierarchical=hierarchical, device="cpu", quiet=True).model
        scorer = HRNNScorer(model, CPU, item_mask=known, session_timeout_seconds=1800.0)
        out[name] = evaluate_service(scorer, data, split.holdout)["precision_at_25"]
    out["popular"] = evaluate_service(PopularityScorer(train.item_counts()), data, split.holdout)["precision_at_25"]
    return out


def recency(seed: int) -> dict:
    hp = HRNN_RECIPE.values(hidden_dimension=32, bptt=8, epochs=4, batch_size=16, num_negatives=64,
                            learning_rate=0.1, seed=seed, recency_half_life_days=30.0)
    data = _data(n_users=700, n_items=200, n_topics=10, seed=0, trend_strength=0.6, trend_fraction=0.25)
    split = next_item_split(data, test_fraction=0.1)
    known = torch.as_tensor(split.train.item_counts() > 0)
    out = {}
    for mask in (True, False):
        model = fit(split.train, hp.replace(recency_mask=mask), device="cpu", quiet=True).model
        out[f"recency_{str(mask).lower()}"] = evaluate_next_item(HRNNScorer(model, CPU, item_mask=known),
                                                                split)["recall_at_20"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[7, 8])
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    import hrnn

    print(f"library: {Path(hrnn.__file__).parent}")
    rows = []
    for seed in args.seeds:
        started = time.perf_counter()
        row = {"seed": seed, **cross_session(seed), **recency(seed), "seconds": 0.0}
        row["seconds"] = round(time.perf_counter() - started, 1)
        rows.append(row)
        print(json.dumps(row))
    keys = [k for k in rows[0] if k not in ("seed", "seconds")]
    print("mean " + " ".join(f"{k}={sum(r[k] for r in rows) / len(rows):.4f}" for k in keys))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
