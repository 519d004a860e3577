"""``python -m hrnn.synth`` (and ``hrnn generate-data``): write a synthetic Interactions file."""

from __future__ import annotations

import argparse
import time

import pyarrow.compute as pc

from ..errors import InvalidInputException
from .generate import describe_planted_structure, generate_interactions, write_interactions


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, generate, write, and print what was written; returns the exit status."""
    return run(_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Generate and write as the parsed arguments (:func:`add_arguments`) say."""
    if args.describe:
        print(describe_planted_structure())
        return 0
    t0 = time.perf_counter()
    try:
        table = generate_interactions(
            n_users=args.users, n_items=args.items, n_topics=args.topics, seed=args.seed,
            target_rows=args.rows, days=args.days,
        )
    except ValueError as exc:  # the generator's argument checks: a user error, not a crash
        raise InvalidInputException(f"generate-data: {exc}") from None
    t1 = time.perf_counter()
    path = write_interactions(table, args.out)
    t2 = time.perf_counter()
    n_users = pc.count_distinct(table["USER_ID"]).as_py()
    n_items = pc.count_distinct(table["ITEM_ID"]).as_py()
    print(
        f"wrote {table.num_rows} rows, {n_users} users, {n_items} items to {path} "
        f"(generate {t1 - t0:.2f} s, write {t2 - t1:.2f} s)"
    )
    return 0


DESCRIPTION = "Generate a synthetic Amazon Personalize Interactions dataset with planted structure."


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hrnn.synth", description=DESCRIPTION)
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The generator's options, shared by ``python -m hrnn.synth`` and ``hrnn generate-data``."""
    parser.add_argument("--users", type=int, default=2000, help="number of users (default 2000)")
    parser.add_argument("--items", type=int, default=1000, help="number of items (default 1000)")
    parser.add_argument("--topics", type=int, default=25, help="number of topics (default 25)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--rows", type=int, default=None, help="aim for about this many rows (overrides --users)")
    parser.add_argument("--days", type=float, default=120.0, help="length of the time range in days (default 120)")
    parser.add_argument("--out", default="data/sample_interactions.csv", help="output .csv, .csv.gz, .parquet or .pq")
    parser.add_argument("--describe", action="store_true", help="print the planted structure and exit")
