"""Batch recommendations per second on the CPU: ``LoadedModel.recommend`` for many known users at once.

A model of ``--items`` items at ``--hidden`` (random weights: the speed does not depend on them) and
``--users`` known users (random states, half of them returning users scored from their next-session start
state) is built in memory; ``recommend`` is then called on batches of ``--batch`` user ids (as the batch
inference job does) until every user has had ``--results`` recommendations. Reported: users per second,
and the time split between scoring (the multiply, top-k and the softmax normaliser) and writing the
result dictionaries.

    python scripts/bench_recommend.py
    python scripts/bench_recommend.py --items 200000 --threads 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hrnn.artifact import LoadedModel  # noqa: E402
from hrnn.model import HRNN, ModelConfig  # noqa: E402


def build(items: int, users: int, hidden: int, seed: int = 0) -> LoadedModel:
    torch.manual_seed(seed)
    model = HRNN(ModelConfig(n_items=items, hidden_dimension=hidden)).eval()
    with torch.no_grad():
        model.item_embedding.weight.normal_(0, 0.3)
        model.item_bias.normal_(0, 1)
    rng = np.random.default_rng(seed)
    now = time.time()
    last = np.where(rng.random(users) < 0.5, now - 60, now - 86400).astype(np.int64)
    return LoadedModel(
        model=model, item_ids=pa.array([f"i_{i:07d}" for i in range(items)]),
        item_counts=rng.integers(0, 50, items), user_ids=pa.array([str(u) for u in range(users)]),
        user_states=torch.randn(users, hidden) * 0.5, start_states=torch.randn(users, hidden) * 0.5,
        last_time=torch.as_tensor(last), known=torch.ones(users, dtype=torch.bool),
        info={"session_timeout_seconds": 1800.0})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=20_000)
    p.add_argument("--users", type=int, default=50_000)
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--batch", type=int, default=10_000, help="user ids per recommend() call")
    p.add_argument("--results", type=int, default=25)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    loaded = build(args.items, args.users, args.hidden)
    ids = [str(u) for u in range(args.users)]
    loaded.recommend(ids[:100], args.results)  # warm-up (and the user lookup table)
    started = time.perf_counter()
    scoring = 0.0
    original = loaded._score_top

    def timed(states, k):
        nonlocal scoring
        t0 = time.perf_counter()
        result = original(states, k)
        scoring += time.perf_counter() - t0
        return result

    loaded._score_top = timed
    n = 0
    for lo in range(0, args.users, args.batch):
        n += len(loaded.recommend(ids[lo:lo + args.batch], args.results))
    seconds = time.perf_counter() - started
    result = {"items": args.items, "hidden": args.hidden, "users": n, "results": args.results,
              "threads": torch.get_num_threads(), "seconds": round(seconds, 3), "users_per_second": n / seconds,
              "scoring_seconds": round(scoring, 3), "other_seconds": round(seconds - scoring, 3)}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{n:,} users, {args.items:,} items, hidden {args.hidden}, top {args.results}, "
              f"{result['threads']} thread(s): {result['users_per_second']:,.0f} users/s "
              f"(scoring {scoring:.2f} s, lookups and output {seconds - scoring:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
