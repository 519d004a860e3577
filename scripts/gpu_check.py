"""GPU check: does CUDA training agree with the CPU, and how fast, how busy and how big is it on this GPU?

Ready to run on one H100/H200 in under 5 minutes, without Ray:

1. **Agreement.** The same seed, data and initial weights, dropout 0, trained for ``AGREE_EPOCHS`` short
   epochs on the CPU (fp32) and on CUDA: fp32 (TF32 off) must agree with the CPU within relative 1e-4 per
   epoch loss; bf16 (autocast recurrence, fp32 logits and loss) is
   reported against fp32 (relative 2e-2). Cases: hierarchical with the full softmax, hierarchical with the
   sampled softmax, the session-only model. (The largest parameter difference is reported too, not checked:
   Adagrad's first steps move a weight by about the learning rate whatever the size of its gradient, so a
   gradient of 1e-9 computed with the opposite sign on the two sides moves a weight apart by 0.1.) The negatives are drawn on the CPU from the same seeded
   generator on both sides, so the runs see the same negatives. Also checked on CUDA: eager windows
   against CUDA-graph replays (same losses within 1e-5), and PyTorch's fused GRU kernels against the
   elementwise cell (forward and backward within 1e-5).
2. **Throughput.** Training events/s on 1,000,000 generated events (20,000 items, 2,048 negatives,
   bptt 32) at hidden 100 and 256 and batch 64 and 512, fp32 and bf16, each after a warm-up epoch; an epoch
   running past ``--seconds-per-config`` is stopped and measured on the windows done.
3. **Launches and busy time.** For hidden 100, batch 512: host operations dispatched per window and CUDA
   kernels per window (``torch.profiler``), and the GPU busy fraction (kernel time / wall time) over the
   profiled windows; with and without CUDA graphs.
4. **Memory.** Peak allocated CUDA memory of a short run in catalogues of 20K, 200K and 2M items (the
   same events, the catalogue padded with items nobody touched), with the item tables' own bytes.
5. **Packing.** Events/s of 1, 2 and 3 training processes sharing the GPU at the same time (hidden 100,
   batch 64, the size of an HPO trial); three packed trials should reach >= 2.5 times one trial's rate.

Prints a table, writes JSON to ``--out``. Exit code 0 when every agreement check passes, 1 otherwise.
Without CUDA it prints ``skipped: no CUDA``; ``--smoke`` then runs every part on the CPU at tiny sizes (the
"CUDA" side is the masked engine run on the CPU), to test the script itself.

    python scripts/gpu_check.py --out gpu_check.json
    python scripts/gpu_check.py --smoke --out /tmp/smoke.json        # anywhere, in seconds
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import count_ops, make_data, pad_catalogue, profile_epoch, sync, warmup_subset  # noqa: E402
from hrnn.atomic import atomic_write_text  # noqa: E402
from hrnn.data import InteractionData, load_dataset, save_dataset  # noqa: E402
from hrnn.model import ModelConfig  # noqa: E402
from hrnn.training import EngineSettings, Trainer, TrainConfig  # noqa: E402

FP32_TOL = 1e-4
BF16_TOL = 2e-2
GRAPH_TOL = 1e-5
LAUNCH_APIS = frozenset({"cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx",
                         "cudaGraphLaunch", "cudaMemcpyAsync", "cudaMemsetAsync"})
AGREE_EPOCHS = 2


class _Stop(Exception):
    pass


def _trainer(data, device, *, hidden, batch, bptt, loss, negatives, seed, precision="fp32", dropout=0.0,
             hierarchical=True, graphs=True, engine="auto") -> Trainer:
    config = TrainConfig(bptt=bptt, batch_size=batch, num_negatives=negatives, loss=loss, epochs=AGREE_EPOCHS,
                         seed=seed, device=str(device), recency_mask=True,
                         engine=EngineSettings(kind=engine, precision=precision, cuda_graphs=graphs))
    model = ModelConfig(n_items=data.n_items, hidden_dimension=hidden, dropout=dropout, hierarchical=hierarchical)
    return Trainer.create(model, config)


def _run(data, device, **kwargs) -> tuple[list[float], list[torch.Tensor], float]:
    trainer = _trainer(data, device, **kwargs)
    started = time.perf_counter()
    losses = [trainer.train_epoch(data).loss for _ in range(AGREE_EPOCHS)]
    params = [p.detach().float().cpu() for p in trainer.model.parameters()]
    return losses, params, time.perf_counter() - started


def _compare(a, b) -> dict:
    rel = [abs(x - y) / max(abs(x), 1e-12) for x, y in zip(a[0], b[0])]
    diff = max(float((p - q).abs().max()) for p, q in zip(a[1], b[1]))
    return {"reference_loss": a[0], "loss": b[0], "relative_difference": rel, "max_parameter_difference": diff,
            "finite": all(math.isfinite(x) for x in a[0] + b[0])}


def agreement(device: torch.device, smoke: bool, seed: int) -> list[dict]:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    size = dict(events=1_500, hidden=16, bptt=8, batch=16) if smoke else dict(events=16_000, hidden=100, bptt=32, batch=64)
    cases = [("hierarchical, full softmax", 200 if smoke else 1_000, "full", 0, True),
             ("hierarchical, sampled softmax", 600 if smoke else 5_000, "sampled", 64 if smoke else 512, True),
             ("session-only, sampled softmax", 600 if smoke else 5_000, "sampled", 64 if smoke else 512, False)]
    out = []
    for name, items, loss, negatives, hierarchical in cases:
        data = make_data(size["events"], items, seed)
        kw = dict(hidden=size["hidden"], batch=size["batch"], bptt=size["bptt"], loss=loss, negatives=negatives,
                  seed=seed, hierarchical=hierarchical)
        cpu = _run(data, torch.device("cpu"), **kw)
        dev_kw = dict(kw, engine="masked") if device.type == "cpu" else kw
        fp32 = _run(data, device, **dev_kw)
        bf16 = _run(data, device, precision="bf16", **dev_kw)
        row = {"case": name, "events": data.n_events, "items": data.n_items, **kw, "cpu_seconds": round(cpu[2], 3),
               "device_seconds": round(fp32[2], 3), "fp32": _compare(cpu, fp32), "bf16": _compare(fp32, bf16)}
        row["fp32"]["ok"] = row["fp32"]["finite"] and max(row["fp32"]["relative_difference"]) <= FP32_TOL
        row["bf16"]["ok"] = row["bf16"]["finite"] and max(row["bf16"]["relative_difference"]) <= BF16_TOL
        if device.type == "cuda":
            eager = _run(data, device, graphs=False, **kw)
            row["graphs_vs_eager"] = _compare(eager, fp32)
            row["graphs_vs_eager"]["ok"] = max(row["graphs_vs_eager"]["relative_difference"]) <= GRAPH_TOL
        out.append(row)
    return out


def fused_cell_check(device: torch.device) -> dict | None:
    """PyTorch's fused CUDA GRU kernels against the elementwise cell, forward and backward."""
    if device.type != "cuda":
        return None
    from hrnn.model.gru import gru_cell

    gen = torch.Generator().manual_seed(0)
    tensors = [torch.randn(*s, generator=gen).to(device).requires_grad_() for s in ((512, 300), (512, 100), (300, 100), (300,))]
    results = {}
    for fused in (True, False):
        out = gru_cell(*tensors, fused=fused)
        grads = torch.autograd.grad((out * out).sum(), tensors)
        results[fused] = [out.detach()] + [g.detach() for g in grads]
    diff = max(float((a - b).abs().max()) for a, b in zip(results[True], results[False]))
    return {"max_difference": diff, "ok": diff <= 1e-5}


def _timed_epoch(trainer: Trainer, data: InteractionData, seconds: float) -> dict:
    device = trainer.device
    done = {"windows": 0, "total": 1}
    deadline = time.perf_counter() + seconds

    def progress(w, total):
        done["windows"], done["total"] = w, total
        if time.perf_counter() > deadline and w < total:
            raise _Stop

    sync(device)
    started = time.perf_counter()
    try:
        stats = trainer.train_epoch(data, progress=progress)
        return {"events": stats.events, "seconds": stats.seconds, "partial": False, "loss": stats.loss}
    except _Stop:
        sync(device)
        n = int(data.n_events * done["windows"] / done["total"])
        return {"events": n, "seconds": time.perf_counter() - started, "partial": True, "loss": None}


def throughput(device, smoke: bool, seed: int, seconds: float) -> list[dict]:
    if smoke:
        events, items, negatives, warm, grid = 3_000, 1_000, 128, 1_000, [(16, 8, "fp32"), (32, 32, "bf16")]
    else:
        events, items, negatives, warm = 1_000_000, 20_000, 2_048, 30_000
        grid = [(h, b, p) for h in (100, 256) for b in (64, 512) for p in ("fp32", "bf16")]
    data = make_data(events, items, seed)
    rows = []
    for hidden, batch, precision in grid:
        trainer = _trainer(data, device, hidden=hidden, batch=batch, bptt=32, loss="sampled", negatives=negatives,
                           seed=seed, precision=precision, dropout=0.1)
        trainer.train_epoch(warmup_subset(data, warm))
        run = _timed_epoch(trainer, data, seconds)
        rows.append({"hidden": hidden, "batch": batch, "precision": precision, **run,
                     "events_per_second": run["events"] / max(run["seconds"], 1e-9)})
        del trainer
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def launches(device, smoke: bool, seed: int) -> list[dict]:
    """Host dispatches and CUDA kernels per window, and the GPU's busy fraction, with and without graphs."""
    data = make_data(3_000 if smoke else 200_000, 1_000 if smoke else 20_000, seed)
    batch, hidden, negatives = (16, 16, 64) if smoke else (512, 100, 2048)
    out = []
    for graphs in (True, False):
        trainer = _trainer(data, device, hidden=hidden, batch=batch, bptt=32, loss="sampled", negatives=negatives,
                           seed=seed, dropout=0.1, graphs=graphs, engine="masked")
        trainer.train_epoch(warmup_subset(data, 2_000 if smoke else 60_000))
        events, windows, wall = profile_epoch(trainer, data, device)
        ops = count_ops(events)
        n = max(windows, 1)
        device_side = [e for e in events if str(getattr(e, "device_type", "")).endswith("CUDA")]
        kernels = [e for e in device_side if not e.name.startswith(("Memcpy", "Memset"))]
        api = [e for e in events if e.name in LAUNCH_APIS]
        out.append({"cuda_graphs": graphs and device.type == "cuda", "windows": windows,
                    "host_dispatched_per_window": sum(ops["dispatched"].values()) / n,
                    "host_launches_per_window": len(api) / n if device.type == "cuda" else None,
                    "kernels_per_window": len(kernels) / n if device.type == "cuda" else sum(ops["kernels"].values()) / n,
                    "gpu_busy_fraction": _busy(kernels) / (wall * 1e6) if device.type == "cuda" else None,
                    "profiled_seconds": wall})
    return out


def _busy(kernels) -> float:
    """Microseconds in which at least one kernel ran (the union of the kernels' intervals)."""
    spans = sorted((e.time_range.start, e.time_range.end) for e in kernels)
    total, end = 0.0, float("-inf")
    for lo, hi in spans:
        if hi > end:
            total += hi - max(lo, end)
            end = hi
    return total


def memory(device, smoke: bool, seed: int) -> list[dict]:
    sizes = (2_000, 200_000) if smoke else (20_000, 200_000, 2_000_000)
    base = make_data(3_000 if smoke else 100_000, 1_000 if smoke else 20_000, seed)
    rows = []
    for items in sizes:
        data = pad_catalogue(base, items)
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        trainer = _trainer(data, device, hidden=100, batch=512 if not smoke else 16, bptt=32, loss="sampled",
                           negatives=2048 if not smoke else 64, seed=seed, dropout=0.1, engine="masked")
        run = _timed_epoch(trainer, data, 1.0 if smoke else 10.0)
        tables = sum(p.numel() * p.element_size() for p in (trainer.model.item_embedding.weight, trainer.model.item_bias))
        row = {"items": items, "table_bytes": tables, "table_and_adagrad_bytes": 2 * tables,
               "events_per_second": run["events"] / max(run["seconds"], 1e-9)}
        if device.type == "cuda":
            row["peak_allocated_bytes"] = torch.cuda.max_memory_allocated(device)
        rows.append(row)
        del trainer
    return rows


def _child(args) -> int:
    """One of the packed processes: warm up, wait for the others, train for ``--child-seconds``."""
    device = torch.device(args.device if torch.cuda.is_available() else "cpu")
    data = load_dataset(args.child_data)
    trainer = _trainer(data, device, hidden=100, batch=64, bptt=32, loss="sampled", negatives=2048 if not args.smoke else 64,
                       seed=args.seed, dropout=0.1, engine="masked")
    trainer.train_epoch(warmup_subset(data, 2_000 if args.smoke else 30_000))
    Path(args.child_barrier, f"ready-{os.getpid()}").touch()
    while len(list(Path(args.child_barrier).glob("ready-*"))) < args.child_count:
        time.sleep(0.05)
    run = _timed_epoch(trainer, data, args.child_seconds)
    print("RESULT " + json.dumps({"events_per_second": run["events"] / max(run["seconds"], 1e-9)}))
    return 0


def packing(device, smoke: bool, seed: int, seconds: float) -> list[dict]:
    data = make_data(3_000 if smoke else 300_000, 1_000 if smoke else 20_000, seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        save_dataset(data, Path(tmp) / "data")
        for count in ((1, 2) if smoke else (1, 2, 3)):
            barrier = Path(tmp) / f"barrier-{count}"
            barrier.mkdir()
            cmd = [sys.executable, __file__, "--child-data", str(Path(tmp) / "data"), "--child-barrier", str(barrier),
                   "--child-count", str(count), "--child-seconds", str(seconds), "--device", str(device),
                   "--seed", str(seed)] + (["--smoke"] if smoke else [])
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
            procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                     for _ in range(count)]
            rates = []
            for proc in procs:
                stdout, stderr = proc.communicate(timeout=600)
                line = [x for x in stdout.splitlines() if x.startswith("RESULT ")]
                if proc.returncode or not line:
                    raise RuntimeError(f"packed process failed: {stderr[-2000:]}")
                rates.append(json.loads(line[-1][7:])["events_per_second"])
            rows.append({"processes": count, "events_per_second_each": rates, "total": sum(rates)})
    for row in rows:
        row["speedup_over_one"] = row["total"] / rows[0]["total"]
    return rows


def print_report(r: dict, stream=sys.stdout) -> None:
    w = stream.write
    w(f"device: {r['device_name']}  torch {r['torch']}  {'(smoke: tiny sizes)' if r['smoke'] else ''}\n\n")
    w(f"agreement (fp32 vs CPU: relative {FP32_TOL:g} per epoch loss; bf16 vs fp32: "
      f"relative {BF16_TOL:g})\n")
    for c in r["agreement"]:
        for key in ("fp32", "bf16", "graphs_vs_eager"):
            if key in c:
                x = c[key]
                w(f"  {c['case']:<32} {key:<16} max rel loss diff {max(x['relative_difference']):.2e}  "
                  f"max param diff {x['max_parameter_difference']:.2e}  {'ok' if x['ok'] else 'FAILED'}\n")
    if r.get("fused_cell"):
        w(f"  fused CUDA GRU kernels vs elementwise cell: max diff {r['fused_cell']['max_difference']:.2e}  "
          f"{'ok' if r['fused_cell']['ok'] else 'FAILED'}\n")
    w("\ntraining throughput (sampled softmax, bptt 32)\n")
    for t in r.get("throughput", []):
        w(f"  hidden {t['hidden']:>4} batch {t['batch']:>4} {t['precision']:<5} {t['events_per_second']:>12,.0f} events/s"
          f"{'  (partial epoch)' if t['partial'] else ''}\n")
    for x in r.get("launches", []):
        busy = f"{x['gpu_busy_fraction']:.2f}" if x["gpu_busy_fraction"] is not None else "-"
        launches = f", {x['host_launches_per_window']:,.0f} launches" if x["host_launches_per_window"] is not None else ""
        w(f"  graphs {str(x['cuda_graphs']):<5}: {x['host_dispatched_per_window']:,.0f} host dispatches{launches}/window, "
          f"{x['kernels_per_window']:,.0f} kernels/window, GPU busy {busy}\n")
    for m in r.get("memory", []):
        peak = f"{m['peak_allocated_bytes'] / 2**30:.2f} GiB" if "peak_allocated_bytes" in m else "-"
        w(f"  {m['items']:>9,} items: peak {peak}, tables + Adagrad {m['table_and_adagrad_bytes'] / 2**30:.2f} GiB, "
          f"{m['events_per_second']:,.0f} events/s\n")
    for p in r.get("packing", []):
        w(f"  {p['processes']} process(es): {p['total']:,.0f} events/s in total ({p['speedup_over_one']:.2f}x one)\n")
    w(f"\n{r['status']}: {r['message']}  ({r['seconds']:.1f} s)\n")
    stream.flush()


def _write(path: str | None, report: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(report, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help="write the JSON report here")
    p.add_argument("--device", default="cuda", help="the CUDA device to check (cuda or cuda:N)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes; without CUDA, run everything on the CPU")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--seconds-per-config", type=float, default=10.0, help="cap on each timed throughput epoch")
    p.add_argument("--skip", nargs="*", default=[], choices=["throughput", "launches", "memory", "packing"])
    for name in ("--child-data", "--child-barrier"):
        p.add_argument(name, help=argparse.SUPPRESS)
    p.add_argument("--child-count", type=int, help=argparse.SUPPRESS)
    p.add_argument("--child-seconds", type=float, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child_data:
        return _child(args)
    started = time.perf_counter()
    report = {"torch": torch.__version__, "cuda": torch.version.cuda, "smoke": args.smoke}
    if args.smoke:
        torch.set_num_threads(1)  # tiny sizes: threads only add synchronisation (CI machines are small)
    if not torch.cuda.is_available():
        if not args.smoke:
            message = "skipped: no CUDA (torch.cuda.is_available() is False); nothing was checked"
            print(message)
            _write(args.out, {**report, "status": "skipped", "message": message})
            return 0
        print("skipped: no CUDA; --smoke runs the check on the CPU at tiny sizes instead")
        device = torch.device("cpu")
        report["device_name"] = "cpu (smoke stand-in for CUDA)"
    else:
        device = torch.device(args.device)
        report["device_name"] = torch.cuda.get_device_name(device)
    report["agreement"] = agreement(device, args.smoke, args.seed)
    report["fused_cell"] = fused_cell_check(device)
    seconds = 1.0 if args.smoke else args.seconds_per_config
    if "throughput" not in args.skip:
        report["throughput"] = throughput(device, args.smoke, args.seed, seconds)
    if "launches" not in args.skip:
        report["launches"] = launches(device, args.smoke, args.seed)
    if "memory" not in args.skip:
        report["memory"] = memory(device, args.smoke, args.seed)
    if "packing" not in args.skip:
        report["packing"] = packing(device, args.smoke, args.seed, 1.0 if args.smoke else 10.0)
    checks = [(c["case"] + " " + k, c[k]["ok"]) for c in report["agreement"] for k in ("fp32", "bf16", "graphs_vs_eager")
              if k in c]
    if report["fused_cell"] is not None:
        checks.append(("fused GRU cell", report["fused_cell"]["ok"]))
    failed = [name for name, ok in checks if not ok]
    report["status"] = "failed" if failed else "ok"
    report["message"] = ("disagreeing: " + "; ".join(failed)) if failed else "every agreement check passed"
    report["seconds"] = round(time.perf_counter() - started, 2)
    print_report(report)
    _write(args.out, report)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
