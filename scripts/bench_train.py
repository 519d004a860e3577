"""Benchmark training throughput (events/s) and how close the output layer runs to the machine's matmul rate.

Generates ``--events`` synthetic interactions over ``--items`` items (:func:`hrnn.synth.generate_interactions`,
untimed), builds the training arrays, warms up on a short epoch over a slice of the users, then times
``Trainer.train_epoch`` for ``--epochs`` epochs over all of them.

The output layer (session states against in-batch targets plus the shared sampled negatives) is the only
large matrix multiply of a step; its cost per event, forward and backward, is about
``3 * 2 * hidden * (batch + negatives)`` FLOPs. The script times fp32 matrix multiplies of the same shapes
with the same thread count and reports the achieved fraction::

    fraction = output-layer FLOPs per event * events/s / measured matmul FLOP/s

``matmul`` is measured as the three multiplies of one output-layer step (forward ``S @ E^T``, backward
``G @ E`` and ``G^T @ S``, with ``S`` = ``[batch*bptt, hidden]``, ``E`` = ``[batch+negatives, hidden]``), so a
fraction of 1.0 would mean the step does nothing but the output layer at full matmul speed. The forward
shape's rate alone is printed too.

    python scripts/bench_train.py --threads 1
    python scripts/bench_train.py --threads 2 --json
    python scripts/bench_train.py --events 100000 --profile 15      # torch.profiler, top ops by self CPU time
    python scripts/bench_train.py --device cuda --hidden 256 --batch 512
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout without installing

from hrnn.data import DataConfig, InteractionData, build_interactions  # noqa: E402
from hrnn.synth import generate_interactions  # noqa: E402
from hrnn.model import ModelConfig  # noqa: E402
from hrnn.training import Trainer, TrainConfig  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_data(events: int, items: int, seed: int = 0) -> InteractionData:
    table = generate_interactions(target_rows=events, n_items=items, seed=seed)
    # No history-length filter and no minimum checks: the benchmark trains on every generated event.
    config = DataConfig(max_user_history_length_percentile=1.0, check_minimums=False)
    return build_interactions(table, config, source="<synthetic>")


def warmup_subset(data: InteractionData, events: int) -> InteractionData:
    """The first users whose events add up to about ``events`` (at least one user)."""
    k = int(np.searchsorted(data.user_offsets[1:], events)) + 1
    return data.take(np.arange(min(k, data.n_sequences)))


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
    out = {}
    total_flops, total_seconds = 0.0, 0.0
    for name, (fn, flops) in ops.items():
        for _ in range(3):
            fn()
        _sync(device)
        reps, elapsed = 0, 0.0
        started = time.perf_counter()
        while elapsed < min_seconds / len(ops) or reps < 3:
            fn()
            reps += 1
            if device.type == "cuda" and reps % 10:
                continue
            _sync(device)
            elapsed = time.perf_counter() - started
        _sync(device)
        elapsed = time.perf_counter() - started
        per_call = elapsed / reps
        out[name] = flops / per_call
        total_flops += flops
        total_seconds += per_call
    out["step"] = total_flops / total_seconds
    return out


def bench(args) -> dict:
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    t0 = time.perf_counter()
    data = make_data(args.events, args.items, args.seed)
    gen_seconds = time.perf_counter() - t0
    config = TrainConfig(bptt=args.bptt, batch_size=args.batch, num_negatives=args.negatives, epochs=args.epochs,
                         loss="sampled", seed=args.seed, device=str(device))
    trainer = Trainer.create(ModelConfig(n_items=data.n_items, hidden_dimension=args.hidden), config)
    warm = warmup_subset(data, args.warmup_events)
    trainer.train_epoch(warm)
    _sync(device)

    epochs = []
    profile_table = None
    for _ in range(args.epochs):
        if args.profile:
            from torch.profiler import ProfilerActivity, profile

            activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
            with profile(activities=activities) as prof:
                stats = trainer.train_epoch(data)
            sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
            profile_table = prof.key_averages().table(sort_by=sort, row_limit=args.profile)
        else:
            stats = trainer.train_epoch(data)
        epochs.append({"epoch": stats.epoch - 1, "loss": stats.loss, "seconds": stats.seconds,
                       "events_per_second": stats.events_per_second})
    events_per_second = sum(e["events_per_second"] for e in epochs) / len(epochs)

    m, n = args.batch * args.bptt, args.batch + args.negatives
    rates = matmul_rate(m, args.hidden, n, device)
    flops_per_event = 3 * 2 * args.hidden * (args.batch + args.negatives)
    achieved = flops_per_event * events_per_second
    result = {
        "device": str(device),
        "threads": args.threads,
        "torch": torch.__version__,
        "hidden": args.hidden,
        "batch": args.batch,
        "negatives": args.negatives,
        "bptt": args.bptt,
        "events": data.n_events,
        "items": data.n_items,
        "users": data.n_sequences,
        "generate_seconds": round(gen_seconds, 2),
        "epochs": epochs,
        "events_per_second": events_per_second,
        "output_flops_per_event": flops_per_event,
        "output_gflops_achieved": achieved / 1e9,
        "matmul_gflops_forward": rates["forward"] / 1e9,
        "matmul_gflops_grad_states": rates["grad_states"] / 1e9,
        "matmul_gflops_grad_weights": rates["grad_weights"] / 1e9,
        "matmul_gflops_step": rates["step"] / 1e9,
        "matmul_fraction": achieved / rates["step"],
        "matmul_fraction_vs_forward": achieved / rates["forward"],
    }
    if profile_table is not None:
        result["profile"] = profile_table
    return result


def print_table(r: dict, stream=sys.stdout) -> None:
    rows = [
        ("device / threads", f"{r['device']} / {r['threads']}"),
        ("hidden, batch, negatives, bptt", f"{r['hidden']}, {r['batch']}, {r['negatives']}, {r['bptt']}"),
        ("events, users, items", f"{r['events']:,}, {r['users']:,}, {r['items']:,}"),
    ]
    for e in r["epochs"]:
        rows.append((f"epoch {e['epoch']}", f"{e['events_per_second']:,.0f} events/s  ({e['seconds']:.1f} s, "
                                             f"loss {e['loss']:.4f})"))
    rows += [
        ("events/s (mean)", f"{r['events_per_second']:,.0f}"),
        ("output layer FLOPs/event", f"{r['output_flops_per_event']:,}"),
        ("output layer achieved", f"{r['output_gflops_achieved']:.2f} GFLOP/s"),
        ("matmul fwd / dS / dE", f"{r['matmul_gflops_forward']:.2f} / {r['matmul_gflops_grad_states']:.2f} / "
                                 f"{r['matmul_gflops_grad_weights']:.2f} GFLOP/s"),
        ("matmul (the 3 together)", f"{r['matmul_gflops_step']:.2f} GFLOP/s"),
        ("fraction of matmul rate", f"{r['matmul_fraction']:.3f}  (vs forward shape: "
                                    f"{r['matmul_fraction_vs_forward']:.3f})"),
    ]
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
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--events", type=int, default=500_000)
    p.add_argument("--items", type=int, default=20_000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--warmup-events", type=int, default=20_000, help="events of the untimed warm-up epoch")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="profile the timed epoch(s) with torch.profiler and print the top N ops by self time")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    args = p.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.stderr.write("CUDA is not available on this machine.\n")
        return 2
    os.environ.setdefault("HRNN_QUIET", "1")
    result = bench(args)
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
