"""Live-session events per second on the CPU: ``LoadedModel.advance`` moving users on by one event each.

A model of ``--items`` items at ``--hidden`` (random weights: the speed does not depend on them) and
``--users`` known users is built in memory; batches of ``--batch`` users (distinct users, one event each)
are advanced for ``--seconds``. A quarter of the events come more than the session timeout after the
user's last one (their session closes through the user-level GRU), and ``--new-users`` of the users have no
history. Reported: events per second per batch size, and the time of ``LoadedModel.states`` (looking the
users' stored states up by id) per event.

    python scripts/bench_live.py
    python scripts/bench_live.py --threads 1 --batch 1 16 256
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_recommend import build  # noqa: E402


def bench(loaded, batch: int, users: int, new_users: float, seconds: float, rng) -> dict:
    ids = [str(u) for u in rng.choice(users, size=batch, replace=False)]
    states = loaded.states(ids)
    states.has_history[torch.as_tensor(rng.random(batch) < new_users)] = False
    items = rng.integers(0, loaded.model.config.n_items, size=batch)
    steps, started = 0, time.perf_counter()
    now = int(time.time())
    while time.perf_counter() - started < seconds:
        later = np.where(rng.random(batch) < 0.25, 7200, 60)  # a quarter start a new session
        states = loaded.advance(states, items, now + steps * 7200 + later)
        steps += 1
    elapsed = time.perf_counter() - started
    lookup = time.perf_counter()
    for _ in range(20):
        loaded.states(ids)
    lookup = (time.perf_counter() - lookup) / 20
    return {"batch": batch, "steps": steps, "events_per_second": steps * batch / elapsed,
            "microseconds_per_call": 1e6 * elapsed / steps, "states_lookup_microseconds_per_user": 1e6 * lookup / batch}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=20_000)
    p.add_argument("--users", type=int, default=50_000)
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--batch", type=int, nargs="+", default=[1, 16, 256])
    p.add_argument("--new-users", type=float, default=0.05, help="share of the users without history")
    p.add_argument("--seconds", type=float, default=3.0, help="per batch size")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    loaded = build(args.items, args.users, args.hidden)
    loaded.user_level = torch.randn(args.users, args.hidden) * 0.5
    rng = np.random.default_rng(0)
    bench(loaded, 16, args.users, args.new_users, 0.3, rng)  # warm-up
    rows = [bench(loaded, b, args.users, args.new_users, args.seconds, rng) for b in args.batch]
    if args.json:
        print(json.dumps({"threads": torch.get_num_threads(), "hidden": args.hidden, "rows": rows}, indent=2))
    else:
        for r in rows:
            print(f"batch {r['batch']:>5}: {r['events_per_second']:>10,.0f} events/s "
                  f"({r['microseconds_per_call']:,.0f} us per call; states lookup "
                  f"{r['states_lookup_microseconds_per_user']:.1f} us per user), {torch.get_num_threads()} thread(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
