"""Benchmark training: events/s, operations per window, the output layer's share of the machine's GEMM rate,
and the memory of a catalogue of a given size.

Generates ``--events`` synthetic interactions over ``--data-items`` items (:func:`hrnn.synth.generate_interactions`,
cached, in a child process), pads the catalogue to ``--items`` items that nobody interacted with (the
events are the same; only the item tables grow), warms up on a short epoch over a slice of the users, then
times ``Trainer.train_epoch`` for ``--epochs`` epochs over all of them. Reported:

* events/s (wall) and events per CPU-second of the process;
* operations per window, counted with ``torch.profiler`` over the windows of a short profiled epoch:
  ``dispatched`` (ATen operations called from Python or autograd, views excluded) and ``kernels`` (the
  leaves: about what a GPU would launch), on the engine this device runs and on the masked engine CUDA
  runs (``--masked`` runs it for the timing too);
* the output layer's share of the machine's GEMM rate. The output layer (session states against in-batch
  targets plus the shared sampled negatives) costs ``3 * 2 * hidden * (batch + negatives)`` FLOPs per event,
  forward and backward; the script times fp32 matrix multiplies of the same shapes (forward ``S @ E^T``,
  backward ``G @ E`` and ``G^T @ S``) with the same thread count:
  ``fraction = output-layer FLOPs per event * events/s / measured GEMM FLOP/s``;
* peak resident memory of the process and the bytes of the item tables (embedding, bias and their
  Adagrad state).

    python scripts/bench_train.py --threads 1
    python scripts/bench_train.py --items 1000000            # the same events in a 1M-item catalogue
    python scripts/bench_train.py --negatives 0 --batch 32 --json
    python scripts/bench_train.py --profile 15                # top ops by self time
    python scripts/bench_train.py --device cuda --hidden 256 --batch 512
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import (cached_data, count_ops, pad_catalogue, peak_rss_bytes, profile_epoch, sync,  # noqa: E402
                          warmup_subset)
from hrnn.model import ModelConfig  # noqa: E402
from hrnn.training import EngineSettings, Trainer, TrainConfig  # noqa: E402


def matmul_rate(m: int, k: int, n: int, device: torch.device, min_seconds: float = 0.5) -> dict:
    """fp32 FLOP/s of the output layer's three multiplies (forward and the two backward ones)."""
    gen = torch.Generator(device="cpu").manual_seed(0)
    s = torch.randn(m, k, generator=gen).to(device)  # states   [batch*bptt, hidden]
    e = torch.randn(n, k, generator=gen).to(device)  # targets + negatives [batch+negatives, hidden]
    g = torch.randn(m, n, generator=gen).to(device)  # grad of the logits
    ops = {
        "forward": (lambda: s @ e.t(), 2.0 * m * k * n),
        "grad_states": (lambda: g @ e, 2.0 * m * n * k),
        "grad_weights": (lambda: g.t() @ s, 2.0 * n * m * k),
    }
    out, total_flops, total_seconds = {}, 0.0, 0.0
    for name, (fn, flops) in ops.items():
        for _ in range(3):
            fn()
        sync(device)
        reps, started = 0, time.perf_counter()
        while time.perf_counter() - started < min_seconds / len(ops) or reps < 3:
            fn()
            reps += 1
        sync(device)
        per_call = (time.perf_counter() - started) / reps
        out[name] = flops / per_call
        total_flops += flops
        total_seconds += per_call
    out["step"] = total_flops / total_seconds
    return out


def make_trainer(args, data, engine: str = "auto") -> Trainer:
    config = TrainConfig(bptt=args.bptt, batch_size=args.batch, num_negatives=args.negatives, epochs=args.epochs,
                         loss="sampled", seed=args.seed, device=args.device, momentum=args.momentum,
                         engine=EngineSettings(kind=engine, precision=args.precision))
    return Trainer.create(ModelConfig(n_items=data.n_items, hidden_dimension=args.hidden, dropout=args.dropout,
                                      hierarchical=not args.session_only), config)


def ops_per_window(args, data, engine: str) -> dict:
    """Profiler counts per window over a short epoch (about ``--count-events`` events)."""
    trainer = make_trainer(args, data, engine)
    subset = warmup_subset(data, args.count_events)
    trainer.train_epoch(subset)
    events, windows, _ = profile_epoch(trainer, subset, torch.device(args.device))
    counts = count_ops(events)
    n = max(windows, 1)
    return {"windows": windows, "dispatched": sum(counts["dispatched"].values()) / n,
            "kernels": sum(counts["kernels"].values()) / n,
            "top": {k: round(v / n, 1) for k, v in counts["dispatched"].most_common(12)}}


def bench(args) -> dict:
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    t0 = time.perf_counter()
    data = pad_catalogue(cached_data(args.events, args.data_items, args.seed), args.items)
    load_seconds = time.perf_counter() - t0
    rss_before = peak_rss_bytes()
    trainer = make_trainer(args, data, "masked" if args.masked else "auto")
    trainer.train_epoch(warmup_subset(data, args.warmup_events))
    sync(device)
    epochs, profile_table = [], None
    for _ in range(args.epochs):
        c0 = time.process_time()
        if args.profile:
            from torch.profiler import ProfilerActivity, profile

            activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
            with profile(activities=activities) as prof:
                stats = trainer.train_epoch(data)
            sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
            profile_table = prof.key_averages().table(sort_by=sort, row_limit=args.profile)
        else:
            stats = trainer.train_epoch(data)
        cpu = time.process_time() - c0
        epochs.append({"epoch": stats.epoch - 1, "loss": stats.loss, "seconds": stats.seconds, "cpu_seconds": cpu,
                       "events_per_second": stats.events_per_second, "events_per_cpu_second": stats.events / cpu})
    peak = peak_rss_bytes()
    events_per_second = sum(e["events_per_second"] for e in epochs) / len(epochs)
    m, n = args.batch * args.bptt, args.batch + args.negatives
    rates = matmul_rate(m, args.hidden, n, device)
    flops_per_event = 3 * 2 * args.hidden * (args.batch + args.negatives)
    achieved = flops_per_event * events_per_second
    state_tables = 2 if args.momentum else 1
    table_bytes = data.n_items * (args.hidden + 1) * 4 * (1 + state_tables)
    result = {
        "device": str(device), "threads": args.threads, "torch": torch.__version__, "hidden": args.hidden,
        "batch": args.batch, "negatives": args.negatives, "bptt": args.bptt, "momentum": args.momentum,
        "precision": trainer.engine.precision, "engine": trainer.engine.name, "events": data.n_events,
        "items": data.n_items, "data_items": args.data_items, "users": data.n_sequences,
        "load_seconds": round(load_seconds, 2), "epochs": epochs, "events_per_second": events_per_second,
        "events_per_cpu_second": sum(e["events_per_cpu_second"] for e in epochs) / len(epochs),
        "output_flops_per_event": flops_per_event, "output_gflops_achieved": achieved / 1e9,
        "matmul_gflops_forward": rates["forward"] / 1e9, "matmul_gflops_grad_states": rates["grad_states"] / 1e9,
        "matmul_gflops_grad_weights": rates["grad_weights"] / 1e9, "matmul_gflops_step": rates["step"] / 1e9,
        "matmul_fraction": achieved / rates["step"], "peak_rss_bytes": peak, "rss_before_training_bytes": rss_before,
        "table_bytes": table_bytes, "load_average": os.getloadavg()[0],
    }
    if not args.no_count:
        result["ops_per_window"] = ops_per_window(args, data, "auto")
        if device.type == "cpu":
            result["ops_per_window_masked"] = ops_per_window(args, data, "masked")
    if profile_table is not None:
        result["profile"] = profile_table
    return result


def print_table(r: dict, stream=sys.stdout) -> None:
    rows = [
        ("device / threads", f"{r['device']} / {r['threads']}  ({r['precision']}, "
                             f"{r['engine']} engine)"),
        ("hidden, batch, negatives, bptt", f"{r['hidden']}, {r['batch']}, {r['negatives']}, {r['bptt']}"),
        ("events, users, items", f"{r['events']:,}, {r['users']:,}, {r['items']:,} ({r['data_items']:,} generated)"),
    ]
    for e in r["epochs"]:
        rows.append((f"epoch {e['epoch']}", f"{e['events_per_second']:,.0f} events/s, "
                                            f"{e['events_per_cpu_second']:,.0f} per CPU-s  ({e['seconds']:.1f} s, "
                                            f"loss {e['loss']:.4f})"))
    rows += [
        ("events/s (mean)", f"{r['events_per_second']:,.0f}  ({r['events_per_cpu_second']:,.0f} per CPU-s; "
                            f"load average {r['load_average']:.2f})"),
        ("output layer FLOPs/event", f"{r['output_flops_per_event']:,}"),
        ("output layer achieved", f"{r['output_gflops_achieved']:.2f} GFLOP/s"),
        ("GEMM fwd / dS / dE", f"{r['matmul_gflops_forward']:.2f} / {r['matmul_gflops_grad_states']:.2f} / "
                               f"{r['matmul_gflops_grad_weights']:.2f} GFLOP/s"),
        ("fraction of GEMM rate", f"{r['matmul_fraction']:.3f}  (of {r['matmul_gflops_step']:.2f} GFLOP/s)"),
        ("peak RSS", f"{r['peak_rss_bytes'] / 2**30:.2f} GiB  (before training {r['rss_before_training_bytes'] / 2**30:.2f}"
                     f" GiB; item tables with Adagrad state {r['table_bytes'] / 2**30:.2f} GiB)"),
    ]
    for key, label in (("ops_per_window", "ops/window (this path)"), ("ops_per_window_masked", "ops/window (CUDA path)")):
        if key in r:
            o = r[key]
            rows.append((label, f"{o['dispatched']:,.0f} dispatched, {o['kernels']:,.0f} kernels  ({o['windows']} windows)"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        stream.write(f"{k:<{width}}  {v}\n")
    if r.get("profile"):
        stream.write("\n" + r["profile"] + "\n")
    stream.flush()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--negatives", type=int, default=2048)
    p.add_argument("--bptt", type=int, default=32)
    p.add_argument("--momentum", type=float, default=0.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--events", type=int, default=500_000)
    p.add_argument("--data-items", type=int, default=20_000, help="items of the generated data")
    p.add_argument("--items", type=int, default=None, help="catalogue size: pads the data's catalogue")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--warmup-events", type=int, default=20_000, help="events of the untimed warm-up epoch")
    p.add_argument("--count-events", type=int, default=20_000, help="events of the epoch profiled for op counts")
    p.add_argument("--no-count", action="store_true", help="skip the operation counts")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--masked", action="store_true", help="time the masked (CUDA) engine on this device")
    p.add_argument("--session-only", action="store_true", help="hierarchical=False")
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="profile the timed epoch(s) with torch.profiler and print the top N ops by self time")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    args = p.parse_args(argv)
    args.items = args.items or args.data_items
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.stderr.write("CUDA is not available on this machine.\n")
        return 2
    result = bench(args)
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
