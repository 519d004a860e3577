"""Shared by the benchmark scripts: generated data (cached, made in a child process so the benchmark's own peak
memory is its training's), a catalogue padded with never-seen items, a profiled epoch and operation counts
from the profiler."""

from __future__ import annotations

import collections
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hrnn.data import DataConfig, InteractionData, build_interactions, load_dataset  # noqa: E402

# Profiler events that dispatch no computation: views, metadata, allocations, no-op conversions.
NOT_COMPUTE = frozenset(
    "aten::" + name for name in (
        "as_strided view reshape _reshape_alias _unsafe_view view_as t transpose select slice split "
        "split_with_sizes unbind narrow chunk unsqueeze squeeze expand expand_as permute diagonal detach alias "
        "lift lift_fresh empty empty_like empty_strided new_empty new_empty_strided resize_ set_ to _to_copy "
        "contiguous flatten numpy_T result_type item _local_scalar_dense is_nonzero resolve_conj resolve_neg "
        "conj _neg_view"
    ).split())

MATMULS = frozenset("aten::" + n for n in "mm addmm addmm_ bmm baddbmm addmv mv addr matmul".split())


def make_data(events: int, items: int, seed: int = 0) -> InteractionData:
    """``events`` generated interactions over ``items`` items, every event kept (no history filter)."""
    from hrnn.synth import generate_interactions

    table = generate_interactions(target_rows=events, n_items=items, seed=seed)
    config = DataConfig(max_user_history_length_percentile=1.0, check_minimums=False)
    return build_interactions(table, config, source="<synthetic>")


def cached_data_path(events: int, items: int, seed: int = 0) -> Path:
    """Where :func:`make_data`'s result is cached (a :func:`hrnn.data.save_dataset` directory), generated first
    in a child process when it is not there yet."""
    path = Path(tempfile.gettempdir()) / "hrnn-bench-data" / f"{events}-{items}-{seed}"
    if not path.exists():
        code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / 'scripts')!r});"
                f"from bench_common import make_data; from hrnn.data import save_dataset; "
                f"save_dataset(make_data({events}, {items}, {seed}), {str(path)!r})")
        subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return path


def cached_data(events: int, items: int, seed: int = 0) -> InteractionData:
    """:func:`make_data`, generated once in a child process and loaded from a cache directory."""
    return load_dataset(cached_data_path(events, items, seed))


def pad_catalogue(data: InteractionData, n_items: int) -> InteractionData:
    """The same events in a catalogue of ``n_items`` items: the extra items are never interacted with."""
    extra = n_items - data.n_items
    if extra < 0:
        raise ValueError(f"--items {n_items} is smaller than the data's {data.n_items} items")
    if extra == 0:
        return data
    pad = pa.array([f"pad_{i}" for i in range(extra)])
    ids = pa.concat_arrays([data.item_ids.cast(pa.string()), pad])
    return InteractionData(items=data.items, times=data.times, weights=data.weights, user_offsets=data.user_offsets,
                           seq_users=data.seq_users, session_offsets=data.session_offsets, user_ids=data.user_ids,
                           item_ids=ids)


def warmup_subset(data: InteractionData, events: int) -> InteractionData:
    """The first users whose events add up to about ``events`` (at least one user)."""
    k = int(np.searchsorted(data.user_offsets[1:], events)) + 1
    return data.take(np.arange(min(k, data.n_sequences)))


def sync(device) -> None:
    """Wait for the device's queued work (a no-op on the CPU), so a timer or a profile covers it."""
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)


def profile_epoch(trainer, data: InteractionData, device) -> tuple[list, int, float]:
    """One epoch under ``torch.profiler`` (CPU, and CUDA on a GPU): the profiler's events, the number of
    windows trained and the wall seconds, the device's queued work included."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    windows = []
    sync(device)
    started = time.perf_counter()
    with profile(activities=activities) as prof:
        trainer.train_epoch(data, progress=lambda w, n: windows.append(w))
        sync(device)
    return prof.events(), len(windows), time.perf_counter() - started


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def count_ops(events) -> dict:
    """Operation counts of a profile (``prof.events()``):

    * ``dispatched``: ATen operations called from Python or from autograd's engine (top level), views and
      other metadata-only operations excluded: what each costs a dispatch on the CPU and, on CUDA without a
      graph, at least a kernel launch;
    * ``kernels``: ATen operations that call no other computing ATen operation (the leaves): about the kernels
      a GPU would run.
    """
    dispatched, kernels = collections.Counter(), collections.Counter()
    for e in events:
        if not e.name.startswith("aten::") or e.name in NOT_COMPUTE:
            continue
        parent = e.cpu_parent
        while parent is not None and not parent.name.startswith("aten::"):
            parent = parent.cpu_parent
        if parent is None:
            dispatched[e.name] += 1
        leaf = not any(c.name.startswith("aten::") and c.name not in NOT_COMPUTE for c in e.cpu_children)
        if leaf or e.name in MATMULS:  # a matmul with a bias is a copy of the bias and the GEMM
            kernels[e.name] += 1
    return {"dispatched": dispatched, "kernels": kernels}
