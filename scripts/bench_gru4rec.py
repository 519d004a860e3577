"""Training speed side by side with the official GRU4Rec (PyTorch) on the same events, interleaved runs.

The official code is not part of this project: fetch it yourself (``git clone
https://github.com/hidasib/GRU4Rec_PyTorch_Official /somewhere``) and pass its directory with ``--peer``.

Both sides train on the same generated interactions (:func:`hrnn.synth.generate_interactions`, the same
30-minute sessions): this project's HRNN on the users' histories, GRU4Rec on the same events grouped by
session (its ``SessionId`` is our session index). Hidden size 100, cross-entropy with the given number of
shared negatives, 1 thread, each run in a fresh process; the runs of the two sides alternate (A B A B ...)
so a change in the machine's load hits both. A rate is the number of events of the data divided by the
epoch's seconds (wall and process CPU time), the same numerator on both sides; GRU4Rec's own count (the
number of predictions, events minus sessions) is reported too. GRU4Rec runs with its defaults otherwise
(dropout 0, logq 0, constrained embedding); this project with its recipe defaults (dropout 0.1, logQ
correction, the user-level GRU).

    python scripts/bench_gru4rec.py --peer /work/peers/GRU4Rec_PyTorch_Official
    python scripts/bench_gru4rec.py --peer ... --settings 64:2048:32 64:0:32 --repeats 3
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import statistics
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SETTINGS = ["64:2048:32", "32:2048:32", "64:0:32", "32:0:32", "64:2048:1"]  # batch:negatives:bptt


def run_ours(path: Path, batch: int, negatives: int, bptt: int, epochs: int) -> dict:
    import torch

    from hrnn.data import load_dataset
    from hrnn.model import ModelConfig
    from hrnn.training import Trainer, TrainConfig

    data = load_dataset(path)
    config = TrainConfig(bptt=bptt, batch_size=batch, num_negatives=negatives, loss="sampled", epochs=epochs,
                         seed=0, device="cpu")
    trainer = Trainer.create(ModelConfig(n_items=data.n_items, hidden_dimension=100), config)
    warm = data.take(np.arange(min(200, data.n_sequences)))
    trainer.train_epoch(warm)
    walls, cpus = [], []
    for _ in range(epochs):
        c0 = time.process_time()
        stats = trainer.train_epoch(data)
        cpus.append(time.process_time() - c0)
        walls.append(stats.seconds)
    assert torch.get_num_threads() == 1
    return {"events": data.n_events, "wall": walls, "cpu": cpus}


class _Clock:
    """Stands in for the ``time`` module inside the peer's code: wall time as usual, and a record of the
    process CPU time at every call, so each epoch's CPU seconds can be read off its own t0/t1 calls."""

    def __init__(self):
        self.calls: list[tuple[float, float]] = []

    def __getattr__(self, name):
        return getattr(time, name)

    def time(self):
        self.calls.append((time.time(), time.process_time()))
        return self.calls[-1][0]


def run_gru4rec(path: Path, peer: Path, batch: int, negatives: int, epochs: int) -> dict:
    import pandas as pd
    import torch

    sys.path.insert(0, str(peer))
    import gru4rec_pytorch as g4r

    from hrnn.data import load_dataset

    data = load_dataset(path)
    session = np.repeat(np.arange(data.n_sessions), np.diff(data.session_offsets))
    frame = pd.DataFrame({"SessionId": session, "ItemId": data.items, "Time": data.times})
    clock = _Clock()
    g4r.time = clock
    model = g4r.GRU4Rec(layers=[100], loss="cross-entropy", batch_size=batch, n_sample=negatives, n_epochs=epochs,
                        device=torch.device("cpu"))
    out = io.StringIO()
    with redirect_stdout(out):
        model.fit(frame, compatibility_mode=False)  # its numpy init breaks under NumPy 2 (float64 weights)
    log = out.getvalue()
    walls = [float(x) for x in re.findall(r"\((\d+\.\d+)s\)", log)]
    own = [float(x) for x in re.findall(r"\| (\d+) e/s\]", log)]
    pairs = clock.calls[-2 * epochs:]
    cpus = [pairs[2 * i + 1][1] - pairs[2 * i][1] for i in range(epochs)]
    assert torch.get_num_threads() == 1
    return {"events": data.n_events, "wall": walls, "cpu": cpus, "own_events_per_second": own}


def _child(args) -> int:
    import torch

    torch.set_num_threads(1)
    batch, negatives, bptt = (int(x) for x in args.child_setting.split(":"))
    if args.child == "ours":
        result = run_ours(Path(args.child_data), batch, negatives, bptt, args.epochs)
    else:
        result = run_gru4rec(Path(args.child_data), Path(args.peer), batch, negatives, args.epochs)
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    return 0


def _spawn(side: str, setting: str, data: Path, args) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, __file__, "--child", side, "--child-setting", setting, "--child-data", str(data),
           "--epochs", str(args.epochs), "--peer", str(args.peer)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode or not line:
        raise SystemExit(f"{side} {setting} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    r = json.loads(line[-1][len("RESULT "):])
    r["wall_rate"] = [r["events"] / s for s in r["wall"]]
    r["cpu_rate"] = [r["events"] / s for s in r["cpu"]]
    return r


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peer", required=True, help="directory of the official GRU4Rec PyTorch checkout")
    p.add_argument("--events", type=int, default=140_000)
    p.add_argument("--items", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=2, help="timed epochs per run (GRU4Rec: its epochs)")
    p.add_argument("--repeats", type=int, default=2, help="interleaved runs per side and setting")
    p.add_argument("--settings", nargs="+", default=SETTINGS, help="batch:negatives:bptt")
    p.add_argument("--json", default=None, help="write every run's figures here")
    p.add_argument("--child", choices=["ours", "gru4rec"], help=argparse.SUPPRESS)
    p.add_argument("--child-setting", help=argparse.SUPPRESS)
    p.add_argument("--child-data", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return _child(args)
    if not (Path(args.peer) / "gru4rec_pytorch.py").exists():
        raise SystemExit(f"--peer {args.peer}: no gru4rec_pytorch.py there")
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_common import cached_data_path

    data = cached_data_path(args.events, args.items, args.seed)
    runs: dict[str, dict[str, list]] = {s: {"ours": [], "gru4rec": []} for s in args.settings}
    for rep in range(args.repeats):
        for setting in args.settings:
            for side in (("ours", "gru4rec") if rep % 2 == 0 else ("gru4rec", "ours")):
                r = _spawn(side, setting, data, args)
                runs[setting][side].append(r)
                sys.stderr.write(f"{setting:>12} {side:>8}: {statistics.median(r['wall_rate']):>9,.0f} ev/s  "
                                 f"{statistics.median(r['cpu_rate']):>9,.0f} ev/CPU-s  (load {os.getloadavg()[0]:.2f})\n")
    print(f"{'batch:neg:bptt':>14} {'ours ev/s':>10} {'GRU4Rec':>9} {'ratio':>6}   {'ours ev/CPU-s':>13} "
          f"{'GRU4Rec':>9} {'ratio':>6}")
    for setting in args.settings:
        o, g = runs[setting]["ours"], runs[setting]["gru4rec"]
        ow = statistics.median(x for r in o for x in r["wall_rate"])
        gw = statistics.median(x for r in g for x in r["wall_rate"])
        oc = statistics.median(x for r in o for x in r["cpu_rate"])
        gc = statistics.median(x for r in g for x in r["cpu_rate"])
        print(f"{setting:>14} {ow:>10,.0f} {gw:>9,.0f} {ow / gw:>6.2f}   {oc:>13,.0f} {gc:>9,.0f} {oc / gc:>6.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
