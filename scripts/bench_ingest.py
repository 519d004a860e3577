"""Benchmark the ingestion path: read, filter, encode, sessionize and split an Interactions file.

Generates ``--rows`` synthetic rows with :func:`hrnn.synth.generate_interactions` and writes them to a temporary
CSV or Parquet file (both untimed), then times ``load_interactions`` + ``hpo_splits`` + ``next_item_split`` and
prints rows, seconds, rows/s and peak resident memory. The generation is done in a child process so that the
peak RSS reported is that of the timed path alone (plus the interpreter and libraries), not of the generator.

    python scripts/bench_ingest.py --rows 10000000 --format csv
    python scripts/bench_ingest.py --rows 10000000 --format parquet --event-type click --threshold 0.2
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (VmHWM from /proc, else getrusage)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_rss_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _generate(rows: int, path: Path, seed: int) -> int:
    code = (
        "import sys; from hrnn.synth import generate_interactions, write_interactions; "
        f"t = generate_interactions(target_rows={rows}, seed={seed}); write_interactions(t, {str(path)!r}); "
        "print(t.num_rows)"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.PIPE, text=True)
    return int(done.stdout.strip().splitlines()[-1])


def _count_rows(path: Path) -> int | None:
    """Data rows of an existing file (untimed): Parquet metadata, or non-empty lines minus the header."""
    try:
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    except Exception:
        pass
    import numpy as np

    buf = np.memmap(path, dtype=np.uint8, mode="r")
    newlines = np.flatnonzero(buf == 10)
    blank = np.count_nonzero(np.diff(newlines) == 1)
    return int(len(newlines) - blank - 1 + (len(buf) > 0 and buf[-1] != 10))


def _load(path: Path, config, profile: bool, stages: dict):
    """(dataset, rows read or None): the timed ingest, per stage when profiling."""
    from hrnn.data import build_interactions, load_interactions
    from hrnn.data.interactions import read_interactions

    if not profile:
        return load_interactions(path, config), None
    table = _timed(stages, "read", lambda: read_interactions(path))
    return build_interactions(table, config, source=str(path), timings=stages), table.num_rows


def _timed(stages: dict, name: str, fn):
    s, c = time.perf_counter(), time.process_time()
    value = fn()
    stages[name] = time.perf_counter() - s
    stages[f"{name} cpu"] = time.process_time() - c
    return value


def _one_run(path: Path, config, args, generated_rows: int | None) -> dict:
    from hrnn.data.splits import hpo_splits, next_item_split

    gc.collect()
    base_rss = _current_rss_mb()
    _reset_peak_rss()
    cpu0, load0, t0 = os.times(), os.getloadavg()[0], time.perf_counter()
    stages: dict = {}
    data, rows_read = _load(path, config, args.profile, stages)
    hpo = _timed(stages, "hpo_splits", lambda: hpo_splits(data, seed=args.seed))
    nxt = _timed(stages, "next_item_split", lambda: next_item_split(data))
    seconds = time.perf_counter() - t0
    cpu1 = os.times()
    result = {
        "rows_in_file": rows_read if rows_read is not None else generated_rows,
        "format": args.format if not args.file else path.suffix.lstrip("."),
        "events_kept": data.n_events, "users": data.n_sequences, "items": data.n_items,
        "sessions": data.n_sessions, "test_users": len(hpo.test.users),
        "validation_users": len(hpo.validation.users), "next_item_test_events": nxt.test.n_events,
        "seconds": round(seconds, 2),
        "rows_per_second": round((rows_read or generated_rows or data.n_events) / seconds),
        "cpu_seconds": round((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system), 2),
        "peak_rss_mib": round(_peak_rss_mb()), "rss_before_mib": round(base_rss),
        "loadavg_1min_before": round(load0, 2), "loadavg_1min_after": round(os.getloadavg()[0], 2),
    }
    if args.profile:
        result["stages"] = {k: round(v, 3) for k, v in stages.items()}
    return result


def _print_run(run: int, result: dict) -> None:
    rows = result["rows_in_file"]
    print(f"run {run + 1}: {result['events_kept']:,} events kept of {rows if rows is None else f'{rows:,}'} rows "
          f"({result['format']}), {result['seconds']:.2f} s, {result['rows_per_second']:,} rows/s, "
          f"cpu {result['cpu_seconds']:.1f} s, peak RSS {result['peak_rss_mib']:,} MiB "
          f"(before {result['rss_before_mib']} MiB), "
          f"load {result['loadavg_1min_before']}->{result['loadavg_1min_after']}")
    if "stages" in result:
        st = result["stages"]
        print("  stages (wall/cpu s): " + ", ".join(
            f"{k} {v:.2f}/{st.get(k + ' cpu', float('nan')):.2f}" for k, v in st.items() if not k.endswith(" cpu")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows to generate (default 10,000,000)")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--event-type", default=None, help="eventType filter (e.g. click)")
    parser.add_argument("--threshold", type=float, default=None, help="eventValueThreshold (e.g. 0.2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1, help="time the path this many times (fresh each time)")
    parser.add_argument("--file", default=None, help="use this existing file instead of generating one")
    parser.add_argument("--profile", action="store_true", help="print per-stage timings")
    parser.add_argument("--json", action="store_true", help="print one JSON line per run")
    args = parser.parse_args(argv)

    from hrnn.data import DataConfig

    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        if args.file:
            path = Path(args.file)
            generated_rows = _count_rows(path)
        else:
            path = Path(tmp) / f"interactions.{args.format}"
            t0 = time.perf_counter()
            generated_rows = _generate(args.rows, path, args.seed)
            print(f"# generated {path.name} ({path.stat().st_size / 2**20:.0f} MiB) in "
                  f"{time.perf_counter() - t0:.1f} s (untimed)", file=sys.stderr)
        config = DataConfig(event_type=args.event_type, event_value_threshold=args.threshold)
        for run in range(args.repeat):
            result = _one_run(path, config, args, generated_rows)
            if args.json:
                print(json.dumps(result))
            else:
                _print_run(run, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
