"""Does the HPO spend its budget well? Early stopping off/on and the final refit off/on, measured end to end.

``run``: for each seed, generated interactions (``--users`` x ``--items``, cached) and a 16-trial HPO over the
recipe's default ranges, 2 trials at once, through the ``hrnn`` command (``create-solution-version``), once
with ``--no-early-stopping`` and once with early stopping (paired: same data, request and seed). Both run the
final refit, and a version keeps the best trial's own model beside the refit's, so refit off/on share one
search: "refit off" is the best trial's model, "refit on" the served one. Measured: the command's wall time,
the search's span (first trial start to last trial end), trial-seconds, ``trainingHours``, the refit's
seconds, and the quality of both models on the held-out test users (the service's metrics and next-item
Recall@20/MRR@20, ``bench_hpo_common.quality``). The search without early stopping also scores every trial's
final model on the test users (for ``replay``). Each run is kept as JSON in ``--out``; a rerun skips what is
there.

``replay``: stopping rules (ASHA with several reduction factors and grace periods, HyperBand brackets)
replayed on the learning curves of the searches without early stopping (these and ``--also`` directories of
``bench_hpo_objective.py hpo``): the share of trial-seconds each would have kept, the simulated span of the
search, and the test quality of the trial it would have picked (a stopped trial's model is trained again
for its epochs: training is deterministic on the CPU), relative to the pick without stopping. The
searcher's suggestions are taken as they were (with stopping, TPE would have seen fewer full results).

``report``: the tables (paired differences: mean +- standard error over seeds; "within noise" below 2 s.e.).

    nice -n 10 python scripts/bench_hpo_budget.py run --seeds 3
    python scripts/bench_hpo_budget.py replay --also /tmp/hrnn-bench-hpo-objective
    python scripts/bench_hpo_budget.py report
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_hpo_common import (ROOT, checkpoint_model, directory_model, interactions_file, load_data,  # noqa: E402
                              mean_se, quality, request_document, trial_checkpoint, write_json)

HRNN = Path(sys.executable).with_name("hrnn")
MODES = {"off": ["--no-early-stopping"], "on": []}
QUALITY = ("next_recall_at_20", "next_mrr_at_20", "precision_at_25", "mean_reciprocal_rank_at_25",
           "normalized_discounted_cumulative_gain_at_25")


def _hrnn(workspace: Path, *args: str) -> dict:
    done = subprocess.run([str(HRNN), "--workspace", str(workspace), *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0:
        raise RuntimeError(f"hrnn {args[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def run_one(seed: int, mode: str, args, out: Path) -> dict:
    """One solution version (the search, the refit), then both of its models scored on the test users."""
    from tuning.request import parse_create_solution

    record_path = out / f"budget-{mode}-seed{seed}.json"
    if record_path.exists():
        return json.loads(record_path.read_text())
    document = request_document(f"budget-{mode}-{seed}", args.trials, args.parallel, args.epochs, seed)
    data_file = interactions_file(args.users, args.items, seed)
    workspace = out / f"ws-{mode}-seed{seed}"
    request_file = out / f"request-{mode}-{seed}.json"
    request_file.write_text(json.dumps(document))
    solution = _hrnn(workspace, "create-solution", "--cli-input-json", f"file://{request_file}")["solutionArn"]
    load_before, started = os.getloadavg(), time.perf_counter()
    arn = _hrnn(workspace, "create-solution-version", "--solution-arn", solution, "--interactions", str(data_file),
                "--quiet", *MODES[mode])["solutionVersionArn"]
    wall = time.perf_counter() - started
    load_after = os.getloadavg()
    version = workspace / "solutions" / document["name"] / "versions" / arn.rsplit("/", 1)[1]
    described = json.loads((version / "describe.json").read_text())["solutionVersion"]
    rows = json.loads((version / "trials.json").read_text())["trials"]
    trials = [r for r in rows if r["role"] != "refit"]
    refit = next(r for r in rows if r["role"] == "refit")
    best = next(r for r in rows if r["role"] == "best")

    request = parse_create_solution(document)
    data, splits = load_data(data_file, request)
    scored = {"best_trial": quality(directory_model(version / "best_trial_model"), splits.training_data(data), data,
                                    splits.test),
              "refit": quality(directory_model(version / "model"), data.take(splits.train), data, splits.test)}
    per_trial = []
    if mode == "off":  # every trial's final model, for the replay of stopping rules
        experiment = next((version / "ray").glob("hpo-*"))
        for row in trials:
            hp = request.hyperparameters.replace(**_typed(row))
            model = checkpoint_model(trial_checkpoint(experiment, row["trial_id"]), hp, data.n_items)
            per_trial.append(quality(model, splits.training_data(data), data, splits.test))
    record = {
        "seed": seed, "mode": mode, "users": args.users, "items": args.items, "trials_requested": args.trials,
        "parallel": args.parallel, "epochs": args.epochs, "data": data.summary(),
        "wall_seconds": wall, "load_before": load_before, "load_after": load_after,
        "training_hours": described.get("trainingHours"), "tuned": described.get("tunedHPOParams"),
        "trial_seconds": sum(r["seconds"] for r in trials), "refit_seconds": refit["seconds"],
        "refit_epochs": refit["epochs"], "search_span": max(r["ended_at"] for r in trials) - min(r["started_at"] for r in trials),
        "stopped": sum(r["stopped_at_epoch"] is not None for r in trials), "epochs_trained": sum(r["epochs"] for r in trials),
        "best": best["trial_id"], "served_metrics": json.loads((version / "metrics.json").read_text())["metrics"],
        "quality": scored, "trial_quality": per_trial,
        "trials": [{k: r[k] for k in ("trial_id", "role", "hidden_dimension", "bptt", "recency_mask", "objective",
                                      "epochs", "stopped_at_epoch", "peak_epoch", "seconds", "history")} for r in trials],
    }
    write_json(record_path, record)
    return record


def _typed(params: dict) -> dict:
    from hrnn.recipe import HRNN_RECIPE

    return {k: HRNN_RECIPE.lookup(k).parse(params[k]) for k in ("hidden_dimension", "bptt", "recency_mask")}


# ---- replay of stopping rules ------------------------------------------------------------------------------------

def rules():
    from tuning.hpo.stopping import EarlyStopping

    return {
        "none": None,
        "ASHA eta 2, grace 1": EarlyStopping(1, 2),
        "ASHA eta 3, grace 1": EarlyStopping(1, 3),
        "ASHA eta 4, grace 1": EarlyStopping(1, 4),
        "ASHA eta 3, grace 2": EarlyStopping(2, 3),
        "HyperBand eta 3, 2 brackets": EarlyStopping(1, 3, 2),
        "HyperBand eta 3, 3 brackets": EarlyStopping(1, 3, 3),
    }


def simulated_wall(durations: list[float], parallel: int) -> float:
    """The span of a search whose trial i waits for a free slot and for trials 0..i-parallel to finish."""
    slots, finish = [0.0] * parallel, []
    for i, seconds in enumerate(durations):
        ready = max(finish[:max(0, i - parallel + 1)], default=0.0)
        slot = min(range(parallel), key=lambda k: slots[k])
        start = max(slots[slot], ready)
        finish.append(start + seconds)
        slots[slot] = finish[-1]
    return max(finish, default=0.0)


def _seconds_at(history: list[dict], epoch: int) -> float:
    return max(h["trial_seconds"] for h in history if h["epoch"] <= epoch)


def _curve(history: list[dict], objective: str | None) -> list[dict]:
    """A learning curve of another objective than the search's, from the metrics each report holds."""
    if objective is None:
        return history
    return [{**h, "objective": h["metrics"][objective]} for h in history]


def searches(directories: list[Path], objective: str | None = None) -> list[dict]:
    """The searches without early stopping that these benchmarks kept, in one shape: seed, data size, epochs,
    parallel, and per trial its parameters, epochs, learning curve (of ``objective``, default the search's)
    and final model's test quality. Searches whose reports lack the metrics ``objective`` needs are left out."""
    found = []
    for directory in directories:
        for path in sorted(directory.glob("budget-off-seed*.json")):
            r = json.loads(path.read_text())
            found.append({"source": path.name, "seed": r["seed"], "users": r["users"], "items": r["items"],
                          "epochs": r["epochs"], "parallel": r["parallel"],
                          "trials": [{"params": {k: t[k] for k in ("hidden_dimension", "bptt", "recency_mask")},
                                      "epochs": t["epochs"], "history": t["history"], "test": q}
                                     for t, q in zip(r["trials"], r["trial_quality"])]})
        for path in sorted(directory.glob("objective-seed*.json")):
            r = json.loads(path.read_text())
            found.append({"source": path.name, "seed": r["seed"], "users": r["users"], "items": r["items"],
                          "epochs": r["epochs"], "parallel": r["parallel"],
                          "trials": [{"params": t["params"], "epochs": max(h["epoch"] for h in t["history"]),
                                      "history": t["history"], "test": t["test"]} for t in r["trials"]]})
    if objective is None:
        return found
    usable = [f for f in found if all("metrics" in h for t in f["trials"] for h in t["history"])]
    for f in usable:
        for t in f["trials"]:
            t["history"] = _curve(t["history"], objective)
    return usable


class _StoppedModels:
    """The test quality of a trial's model after an earlier epoch than its last: training is deterministic on
    the CPU, so the configuration trained again for that many epochs is the model the trial had then."""

    def __init__(self):
        self.cache: dict = {}

    def quality(self, search: dict, trial: dict, epoch: int) -> dict:
        import torch

        from hrnn.training import fit
        from tuning.request import parse_create_solution

        key = (search["source"], json.dumps(trial["params"], sort_keys=True), epoch)
        if key not in self.cache:
            torch.set_num_threads(1)  # as in a trial
            request = parse_create_solution(request_document("replay", 16, search["parallel"], search["epochs"],
                                                             search["seed"]))
            data, splits = load_data(interactions_file(search["users"], search["items"], search["seed"]), request)
            hp = request.hyperparameters.replace(**_typed(trial["params"]))
            train = splits.training_data(data)
            model = fit(train, hp, device="cpu", max_epochs=epoch).model
            self.cache[key] = quality(model, train, data, splits.test)
        return self.cache[key]


def replay_one(search: dict, rule, stopped_models: _StoppedModels) -> dict:
    from tuning.hpo.stopping import objective_at, replay

    trials, parallel, epochs = search["trials"], search["parallel"], search["epochs"]
    histories = [t["history"] for t in trials]
    stops = replay(rule, histories, parallel, epochs, maximize=True)
    reached = [s["epoch"] if s else t["epochs"] for s, t in zip(stops, trials)]
    full = [_seconds_at(h, t["epochs"]) for h, t in zip(histories, trials)]
    kept = [_seconds_at(h, e) for h, e in zip(histories, reached)]
    objectives = [objective_at(h, e) for h, e in zip(histories, reached)]
    picked = max(range(len(trials)), key=lambda i: (objectives[i], reached[i], -i))
    baseline = max(range(len(trials)), key=lambda i: (objective_at(histories[i], trials[i]["epochs"]),
                                                      trials[i]["epochs"], -i))
    chosen = (stopped_models.quality(search, trials[picked], reached[picked]) if stops[picked]
              else trials[picked]["test"])
    reference = trials[baseline]["test"]
    return {"kept_seconds": sum(kept) / sum(full), "wall": simulated_wall(kept, parallel) / simulated_wall(full, parallel),
            "stopped": sum(s is not None for s in stops), "picked_stopped": stops[picked] is not None,
            "same_best": picked == baseline,
            **{m: chosen[m] / reference[m] for m in ("next_recall_at_20", "next_mrr_at_20", "precision_at_25")}}


def report_replay(found: list[dict]) -> str:
    n = len(found[0]["trials"]) if found else 0
    lines = [f"| rule | trials stopped (of {n}) | trial-seconds kept | simulated search span | picks a stopped trial | "
             "picked model's next-item recall@20 / MRR@20 / precision@25 (relative to no stopping's pick) |",
             "|---|---|---|---|---|---|"]
    stopped_models = _StoppedModels()
    for name, rule in rules().items():
        rows = [replay_one(s, rule, stopped_models) for s in found]
        cells = []
        for key in ("stopped", "kept_seconds", "wall"):
            m, se = mean_se([row[key] for row in rows])
            cells.append(f"{m:.1f} ± {se:.1f}" if key == "stopped" else f"{m:.2f} ± {se:.2f}")
        picks = f"{sum(row['picked_stopped'] for row in rows)}/{len(rows)}"
        quality_cells = []
        for metric in ("next_recall_at_20", "next_mrr_at_20", "precision_at_25"):
            m, se = mean_se([row[metric] - 1.0 for row in rows])
            quality_cells.append(f"{m:+.1%} ± {se:.1%}")
        lines.append(f"| {name} | {' | '.join(cells)} | {picks} | {' / '.join(quality_cells)} |")
    lines.append("\nsearches: " + ", ".join(f"{s['source']} ({s['users']} users x {s['items']} items)" for s in found))
    return "\n".join(lines)


# ---- report ---------------------------------------------------------------------------------------------------------

def _paired(off: list[float], on: list[float], relative: bool = False) -> str:
    diffs = [(b - a) / a if relative else b - a for a, b in zip(off, on)]
    m, se = mean_se(diffs)
    verdict = "within noise" if abs(m) <= 2 * se else ("higher" if m > 0 else "lower")
    return f"{m:+.1%} ± {se:.1%} ({verdict})" if relative else f"{m:+.4f} ± {se:.4f} ({verdict})"


def _cell(values: list[float], digits: int = 4) -> str:
    m, se = mean_se(values)
    return f"{m:.{digits}f} ± {se:.{digits}f}"


def report(records: dict[tuple[str, int], dict]) -> str:
    seeds = sorted({s for (_, s) in records if ("off", s) in records and ("on", s) in records})
    off = [records[("off", s)] for s in seeds]
    on = [records[("on", s)] for s in seeds]
    lines = [f"Seeds {', '.join(map(str, seeds))}; {off[0]['data']['users']:,} users, {off[0]['data']['items']:,} items, "
             f"{off[0]['data']['interactions']:,} interactions; {off[0]['trials_requested']} trials, "
             f"{off[0]['parallel']} at once, {off[0]['epochs']} epochs. Machine: {platform.machine()}, "
             f"{os.cpu_count()} cores; load average (1 min) before/after each run: "
             + ", ".join(f"{r['mode']}/{r['seed']} {r['load_before'][0]:.1f}/{r['load_after'][0]:.1f}" for r in off + on),
             "", "| | early stopping off | early stopping on | on vs off (paired, relative) |", "|---|---|---|---|"]
    for r in off + on:
        r["wall_without_refit"] = r["wall_seconds"] - r["refit_seconds"]
    for label, key, digits in (("command wall time (s), search + refit", "wall_seconds", 0),
                               ("command wall time without the refit (s)", "wall_without_refit", 0),
                               ("search span (s), first trial start to last trial end", "search_span", 0),
                               ("trial-seconds", "trial_seconds", 0), ("epochs trained (of 160)", "epochs_trained", 0),
                               ("trials stopped", "stopped", 1), ("refit seconds", "refit_seconds", 0)):
        a, b = [r[key] for r in off], [r[key] for r in on]
        ratio = "-"
        if key != "stopped" and min(b) > 0:
            m, se = mean_se([x / y for x, y in zip(a, b)])
            ratio = f"{m:.2f}x less ± {se:.2f}"  # off / on, per seed
        lines.append(f"| {label} | {_cell(a, digits)} | {_cell(b, digits)} | {ratio} |")
    for model, label in (("best_trial", "best trial's model (refit off)"), ("refit", "refit model (refit on)")):
        for metric in QUALITY:
            a = [r["quality"][model][metric] for r in off]
            b = [r["quality"][model][metric] for r in on]
            lines.append(f"| {label}: {metric} | {_cell(a)} | {_cell(b)} | {_paired(a, b, relative=True)} |")
    lines += ["", "| refit vs the best trial's model (paired, relative) | early stopping off | early stopping on |",
              "|---|---|---|"]
    for metric in QUALITY:
        cells = [_paired([r["quality"]["best_trial"][metric] for r in rs], [r["quality"]["refit"][metric] for r in rs],
                         relative=True) for rs in (off, on)]
        lines.append(f"| {metric} | {cells[0]} | {cells[1]} |")
    lines.append("\nrefit epochs (the best trial's peak): off " + ", ".join(str(r["refit_epochs"]) for r in off)
                 + "; on " + ", ".join(str(r["refit_epochs"]) for r in on))
    lines.append("tuned (off / on): " + "; ".join(
        f"seed {s}: {_params(records[('off', s)])} / {_params(records[('on', s)])}" for s in seeds))
    return "\n".join(lines)


def _params(record: dict) -> str:
    p = (record.get("tuned") or {}).get("algorithmHyperParameters", {})
    return f"{p.get('hidden_dimension')}/{p.get('bptt')}/{p.get('recency_mask')}"


def _records(out: Path) -> dict[tuple[str, int], dict]:
    found = {}
    for path in sorted(out.glob("budget-*-seed*.json")):
        record = json.loads(path.read_text())
        found[(record["mode"], record["seed"])] = record
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("run", "replay", "report"))
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--modes", default="off,on", help="run: which searches, in order (off: no early stopping)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "hrnn-bench-hpo-budget")
    parser.add_argument("--objective", default=None,
                        help="replay: stop on this offline metric's curve (default: the searches' objective)")
    parser.add_argument("--also", type=Path, nargs="*", default=[],
                        help="replay: more directories of searches without early stopping (bench_hpo_objective.py's)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.mode == "run":
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for mode in args.modes.split(","):
                record = run_one(seed, mode, args, args.out)
                print(f"seed {seed} {mode}: {record['wall_seconds']:.0f} s, {record['stopped']} stopped, "
                      f"refit recall@20 {record['quality']['refit']['next_recall_at_20']:.4f}", flush=True)
    if args.mode == "replay":
        print(report_replay(searches([args.out, *args.also], args.objective)))
        return 0
    print(report(_records(args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
