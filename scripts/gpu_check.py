"""CUDA check: does a short CUDA run agree with the CPU run, and how fast does CUDA train?

1. Agreement. The same seed, the same generated data and the same initial weights are trained for
   ``AGREE_EPOCHS`` epochs of a few ``bptt`` windows each, once on the CPU (fp32) and once on CUDA (bf16
   autocast, as ``Trainer`` runs there). Every epoch's mean training loss must agree within a relative
   tolerance of ``REL_TOL`` = 2e-2 (bf16 keeps 8 significant bits, about 3 decimal digits, in the matmuls;
   the weights then drift a little further apart with every optimiser step). Two cases:

   * ``full softmax``: 1,000 items, the full softmax loss, dropout 0: no randomness at all after the
     (shared) initialisation.
   * ``sampled softmax``: 5,000 items, 512 popularity-sampled negatives, dropout 0. The negatives are drawn
     from the same CPU random stream in both runs (``torch.rand`` is replaced, for ``hrnn.train`` only, by a
     draw from a CPU generator with the seed of the one ``train_epoch`` passes), so both runs see the same
     negatives.

2. Throughput. Training events/s on 1,000,000 generated events (20,000 items, sampled softmax with 2,048
   negatives, bptt 32) at hidden 100 and 256 and batch 64 and 512, each after a short warm-up epoch,
   timed with ``torch.cuda.synchronize`` on both sides. An epoch that would run past
   ``--seconds-per-config`` is stopped and its rate measured on the windows done (``partial`` in the output),
   so the whole script stays under 5 minutes.

Prints a table, writes JSON to ``--out``. Exit code 0 when every agreement case passes, 1 when one fails.
Without CUDA it prints ``skipped: no CUDA`` and exits 0; ``--smoke`` then runs the same code on the CPU at
tiny sizes (the "CUDA" side is the CPU), to check the script itself.

    python scripts/gpu_check.py --out gpu_check.json
    python scripts/gpu_check.py --smoke --out /tmp/smoke.json        # anywhere, in seconds
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout without installing

import hrnn.training.trainer as train_module  # noqa: E402
from hrnn.data import DataConfig, InteractionData, build_interactions  # noqa: E402
from hrnn.synth import generate_interactions  # noqa: E402
from hrnn.model import ModelConfig  # noqa: E402
from hrnn.training import Trainer, TrainConfig  # noqa: E402

REL_TOL = 2e-2
AGREE_EPOCHS = 2


class _Stop(Exception):
    pass


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_data(events: int, items: int, seed: int) -> InteractionData:
    table = generate_interactions(target_rows=events, n_items=items, seed=seed)
    config = DataConfig(max_user_history_length_percentile=1.0, check_minimums=False)
    return build_interactions(table, config, source="<synthetic>")


class _SharedNegatives:
    """Stands in for the ``torch`` module inside ``hrnn.train``: everything is torch's, except ``rand``,
    which draws on the CPU from a generator seeded like the one passed in, then moves to the device, so a CPU
    and a CUDA run sample the same negatives."""

    def __init__(self):
        self._streams: dict[int, tuple[torch.Generator, torch.Generator]] = {}

    def __getattr__(self, name):
        return getattr(torch, name)

    def rand(self, *size, generator=None, device=None, **kwargs):
        if generator is None:
            return torch.rand(*size, device=device, **kwargs)
        key = id(generator)
        if key not in self._streams or self._streams[key][0] is not generator:
            cpu = torch.Generator(device="cpu").manual_seed(generator.initial_seed())
            self._streams[key] = (generator, cpu)
        return torch.rand(*size, generator=self._streams[key][1], **kwargs).to(device)


def _train_losses(data: InteractionData, device: str, *, hidden: int, batch: int, bptt: int, loss: str,
                  negatives: int, epochs: int, seed: int) -> tuple[list[float], float]:
    config = TrainConfig(bptt=bptt, batch_size=batch, num_negatives=negatives, loss=loss, epochs=epochs,
                         seed=seed, device=device, recency_mask=True)
    trainer = Trainer.create(ModelConfig(n_items=data.n_items, hidden_dimension=hidden, dropout=0.0), config)
    started = time.perf_counter()
    losses = [trainer.train_epoch(data).loss for _ in range(epochs)]
    return losses, time.perf_counter() - started


def agreement(device: torch.device, smoke: bool, seed: int) -> list[dict]:
    if smoke:
        cases = [("full softmax", 3_000, 200, "full", 0, 16, 8, 16),
                 ("sampled softmax", 3_000, 600, "sampled", 64, 16, 8, 16)]
    else:
        cases = [("full softmax", 16_000, 1_000, "full", 0, 100, 32, 64),
                 ("sampled softmax", 16_000, 5_000, "sampled", 512, 100, 32, 64)]
    out = []
    for name, events, items, loss, negatives, hidden, bptt, batch in cases:
        data = make_data(events, items, seed)
        kwargs = dict(hidden=hidden, batch=batch, bptt=bptt, loss=loss, negatives=negatives, epochs=AGREE_EPOCHS,
                      seed=seed)
        original = train_module.torch
        train_module.torch = _SharedNegatives()
        try:
            cpu, cpu_s = _train_losses(data, "cpu", **kwargs)
            dev, dev_s = _train_losses(data, str(device), **kwargs)
        finally:
            train_module.torch = original
        rel = [abs(a - b) / max(abs(a), 1e-12) for a, b in zip(cpu, dev)]
        finite = all(math.isfinite(x) for x in cpu + dev)
        windows = math.ceil(math.ceil(data.n_events / max(1, min(batch, data.n_sequences))) / bptt)
        out.append({"case": name, "events": data.n_events, "items": data.n_items, "hidden": hidden, "batch": batch,
                    "bptt": bptt, "windows_per_epoch_approx": windows, "cpu_loss": cpu, "device_loss": dev,
                    "relative_difference": rel, "tolerance": REL_TOL,
                    "ok": finite and all(r <= REL_TOL for r in rel),
                    "cpu_seconds": round(cpu_s, 3), "device_seconds": round(dev_s, 3)})
    return out


def throughput(device: torch.device, smoke: bool, seed: int, seconds_per_config: float) -> list[dict]:
    if smoke:
        events, items, negatives, bptt, warm_events = 6_000, 1_000, 128, 8, 1_000
        grid = [(16, 8), (16, 32), (32, 8), (32, 32)]
    else:
        events, items, negatives, bptt, warm_events = 1_000_000, 20_000, 2_048, 32, 30_000
        grid = [(100, 64), (100, 512), (256, 64), (256, 512)]
    data = make_data(events, items, seed)
    k = int(np.searchsorted(data.user_offsets[1:], warm_events)) + 1
    warm = data.take(np.arange(min(k, data.n_sequences)))
    rows = []
    for hidden, batch in grid:
        config = TrainConfig(bptt=bptt, batch_size=batch, num_negatives=negatives, loss="sampled", epochs=1,
                             seed=seed, device=str(device))
        trainer = Trainer.create(ModelConfig(n_items=data.n_items, hidden_dimension=hidden), config)
        trainer.train_epoch(warm)
        _sync(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        done = {"windows": 0, "total": 1}
        deadline = time.perf_counter() + seconds_per_config

        def progress(w, total):
            done["windows"], done["total"] = w, total
            if time.perf_counter() > deadline and w < total:
                raise _Stop

        _sync(device)
        started = time.perf_counter()
        partial = False
        try:
            stats = trainer.train_epoch(data, progress=progress)
            seconds, n_events, loss = stats.seconds, stats.events, stats.loss
        except _Stop:
            _sync(device)
            seconds = time.perf_counter() - started
            partial = True
            n_events = int(data.n_events * done["windows"] / done["total"])
            loss = None
        row = {"hidden": hidden, "batch": batch, "bptt": bptt, "negatives": negatives, "events": n_events,
               "seconds": round(seconds, 3), "events_per_second": n_events / max(seconds, 1e-9),
               "partial": partial, "loss": loss}
        if device.type == "cuda":
            row["peak_memory_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
        rows.append(row)
        del trainer
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def print_report(report: dict, stream=sys.stdout) -> None:
    stream.write(f"device: {report['device_name']}  torch {report['torch']}  "
                 f"{'(smoke: tiny sizes)' if report['smoke'] else ''}\n\n")
    stream.write(f"agreement with the CPU run (relative tolerance {REL_TOL:g} per epoch loss)\n")
    stream.write(f"{'case':<16} {'epoch':>5} {'cpu loss':>10} {'device loss':>12} {'rel diff':>9}  ok\n")
    for case in report["agreement"]:
        for i, (a, b, r) in enumerate(zip(case["cpu_loss"], case["device_loss"], case["relative_difference"])):
            stream.write(f"{case['case']:<16} {i + 1:>5} {a:>10.5f} {b:>12.5f} {r:>9.2e}  "
                         f"{'yes' if r <= REL_TOL else 'NO'}\n")
    stream.write("\ntraining throughput\n")
    stream.write(f"{'hidden':>6} {'batch':>6} {'events':>10} {'seconds':>8} {'events/s':>12} {'peak MiB':>9}\n")
    for row in report["throughput"]:
        mem = f"{row['peak_memory_mib']:>9.0f}" if "peak_memory_mib" in row else f"{'-':>9}"
        stream.write(f"{row['hidden']:>6} {row['batch']:>6} {row['events']:>10,} {row['seconds']:>8.2f} "
                     f"{row['events_per_second']:>12,.0f} {mem}{'  (partial epoch)' if row['partial'] else ''}\n")
    stream.write(f"\n{report['status']}: {report['message']}  ({report['seconds']:.1f} s)\n")
    stream.flush()


def _write(path: str | None, report: dict) -> None:
    if path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        tmp.replace(target)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help="write the JSON report here")
    p.add_argument("--device", default="cuda", help="the CUDA device to check (cuda or cuda:N)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny sizes; without CUDA, run the whole check on the CPU (tests the script)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--seconds-per-config", type=float, default=40.0,
                   help="stop a throughput epoch after this many seconds (its rate is still measured)")
    p.add_argument("--skip-throughput", action="store_true")
    args = p.parse_args(argv)
    started = time.perf_counter()
    report = {"torch": torch.__version__, "cuda": torch.version.cuda, "smoke": args.smoke, "tolerance": REL_TOL}
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
    report["throughput"] = [] if args.skip_throughput else throughput(device, args.smoke, args.seed,
                                                                        args.seconds_per_config)
    failed = [c["case"] for c in report["agreement"] if not c["ok"]]
    report["status"] = "failed" if failed else "ok"
    report["message"] = (f"{', '.join(failed)} disagree(s) with the CPU run beyond relative {REL_TOL:g}" if failed
                         else f"{device.type.upper()} losses agree with the CPU run within relative {REL_TOL:g}")
    report["seconds"] = round(time.perf_counter() - started, 2)
    print_report(report)
    _write(args.out, report)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
