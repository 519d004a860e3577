"""An epoch's windows, prepared in chunks of many windows at once, so a window itself only computes.

For every window of ``bptt`` steps the plan gathers the events' inputs, targets, loss weights and logQ
terms, draws the window's shared negatives, and lists the item rows the window touches (its inputs,
targets and negatives: ``rows``) with every lookup turned into an index into those rows. The training
step then gathers just those rows of the item tables, and the optimiser updates just those rows: the cost of
a window does not depend on the size of the catalogue.

All of it is vectorised over a chunk of windows (a per-row sort finds each window's distinct rows) and has
fixed shapes, so nothing is read back from the device: ``rows`` is padded to the number of lookups with
copies of the window's last row (``fill`` maps each pad to that row's slot). Where reading back is free (the
CPU), the plan instead cuts each window's ``rows`` to its exact length.

Negatives are drawn on the CPU from a generator seeded by (seed, epoch), so a CPU and a CUDA run of the same
seed train on the same negatives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import torch

from .layout import EventTensors
from .loss import MASKED

CHUNK_LOOKUPS = 1 << 22  # lookups prepared at once (bounds the plan's memory at about 40 bytes each)


@dataclass
class Sampling:
    """The epoch's item distributions: logQ of in-batch targets (training popularity) and of the sampled
    negatives (popularity ** sample_alpha), and the negatives' cumulative distribution (on the CPU)."""

    log_q_batch: torch.Tensor
    log_q_sample: torch.Tensor
    cdf: torch.Tensor
    mean_weight: torch.Tensor
    guide: torch.Tensor | None = None  # the cdf's guide table (see inverse_cdf)

    @classmethod
    def build(cls, counts: np.ndarray, alpha: float, tensors: EventTensors, device: torch.device) -> "Sampling":
        counts = torch.as_tensor(counts, dtype=torch.float64)
        log_q_batch = torch.log(counts.clamp(min=1) / counts.sum().clamp(min=1))
        sample_p = counts.clamp(min=0) ** alpha
        sample_p = sample_p / sample_p.sum().clamp(min=1e-300)
        valid_w = tensors.weight[tensors.target >= 0]
        mean_w = valid_w.mean().clamp(min=1e-12) if valid_w.numel() else torch.ones((), device=device)
        return cls(log_q_batch=log_q_batch.float().to(device),
                   log_q_sample=torch.log(sample_p.clamp(min=1e-12)).float().to(device),
                   cdf=(cdf := torch.cumsum(sample_p, 0)), mean_weight=mean_w, guide=guide_table(cdf))


@dataclass
class WindowBatch:
    """One window's inputs. ``items``/``targets``/``negatives`` index ``rows`` (sampled softmax) or are item
    indices (full softmax, where ``rows`` is None)."""

    items: torch.Tensor  # [T, B]
    gaps: torch.Tensor  # [T, B]
    session_start: torch.Tensor  # [T, B] bool; empty slots count as user starts
    user_start: torch.Tensor  # [T, B] bool
    targets: torch.Tensor  # [T, B]
    weight: torch.Tensor  # [T, B]: loss weight / (valid events * mean weight); 0 without a target
    n_valid: torch.Tensor  # []: events with a target
    target_bias: torch.Tensor | None = None  # [T, B]: -logQ of the target, MASKED without one
    negatives: torch.Tensor | None = None  # [N]
    negative_bias: torch.Tensor | None = None  # [N]: -logQ of the negative
    rows: torch.Tensor | None = None  # [U]: the item rows the window touches
    fill: torch.Tensor | None = None  # [U]: for each entry of rows, the slot whose gradient it takes

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


class EpochPlan:
    def __init__(self, tensors: EventTensors, layout: np.ndarray, bptt: int, sampling: Sampling, *,
                 num_negatives: int, full_softmax: bool, exact_rows: bool, generator: torch.Generator,
                 device: torch.device):
        self.tensors, self.sampling, self.device = tensors, sampling, device
        self.bptt, self.batch = bptt, layout.shape[1]
        self.n_windows = math.ceil(layout.shape[0] / bptt)
        padded = np.full((self.n_windows * bptt, self.batch), -1, dtype=np.int64)
        padded[:layout.shape[0]] = layout
        self.layout = torch.as_tensor(padded).to(device)
        self.full, self.exact = full_softmax, exact_rows
        self.n_neg = num_negatives  # 0 with the full softmax (Trainer.num_negatives)
        self.generator = generator
        lookups = 2 * bptt * self.batch + self.n_neg
        self.chunk = max(1, min(256, CHUNK_LOOKUPS // lookups))

    def windows(self):
        """Every window of the epoch, in order."""
        for lo in range(0, self.n_windows, self.chunk):
            yield from self._chunk(lo, min(self.n_windows, lo + self.chunk))

    def _chunk(self, lo: int, hi: int):
        ev = self.layout[lo * self.bptt:hi * self.bptt].reshape(hi - lo, self.bptt, self.batch)
        t, present = self.tensors, ev >= 0
        e = ev.clamp(min=0)
        items, target = t.items[e], t.target[e]
        valid = present & (target >= 0)
        n_valid = valid.sum(dim=(1, 2))
        weight = torch.where(valid, t.weight[e], 0.0)
        weight = weight / (n_valid.clamp(min=1) * self.sampling.mean_weight).reshape(-1, 1, 1)
        common = dict(gaps=t.gaps[e], session_start=t.session_start[e] | ~present,
                      user_start=t.user_start[e] | ~present, weight=weight)
        if self.full:
            targets = torch.where(valid, target, 0)
            for k in range(hi - lo):
                yield WindowBatch(items=items[k], targets=targets[k], n_valid=n_valid[k],
                                  **{name: v[k] for name, v in common.items()})
            return
        target = torch.where(valid, target, items)  # a row the window touches anyway
        target_bias = torch.where(valid, -self.sampling.log_q_batch[target], MASKED)
        negatives = self._negatives(hi - lo)
        rows, inverse, n_rows = _distinct_rows(torch.cat([items.flatten(1), target.flatten(1), negatives], 1))
        steps_slots = self.bptt * self.batch
        items_i = inverse[:, :steps_slots].reshape(items.shape)
        targets_i = inverse[:, steps_slots:2 * steps_slots].reshape(items.shape)
        negatives_i = inverse[:, 2 * steps_slots:]
        negative_bias = -self.sampling.log_q_sample[negatives]
        counts = n_rows.tolist() if self.exact else None
        positions = torch.arange(rows.shape[1], device=self.device)
        for k in range(hi - lo):
            if counts is not None:
                window_rows, fill = rows[k, :counts[k]], None
            else:
                window_rows, fill = rows[k], torch.minimum(positions, n_rows[k] - 1)
            yield WindowBatch(items=items_i[k], targets=targets_i[k], n_valid=n_valid[k],
                              target_bias=target_bias[k], negatives=negatives_i[k], negative_bias=negative_bias[k],
                              rows=window_rows, fill=fill, **{name: v[k] for name, v in common.items()})

    def _negatives(self, n_windows: int) -> torch.Tensor:
        u = torch.rand(n_windows, self.n_neg, generator=self.generator, dtype=torch.float64)
        return inverse_cdf(self.sampling.cdf, self.sampling.guide, u).to(self.device)


def guide_table(cdf: torch.Tensor) -> torch.Tensor:
    """For each of ``len(cdf)`` equal buckets of [0, 1), the first index whose cdf reaches the bucket."""
    n = cdf.shape[0]
    return torch.searchsorted(cdf, torch.arange(n, dtype=cdf.dtype) / n)


def inverse_cdf(cdf: torch.Tensor, guide: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """``searchsorted(cdf, u)`` (the first index with ``cdf >= u``) clamped to the last index, with a guide
    table (Chen 1974): start at the first index of u's bucket and step forward while the cdf is below u.
    With as many buckets as items that is about one step, instead of a binary search's ~log2(items) cache
    misses; the result is the same."""
    n = cdf.shape[0]
    flat = u.reshape(-1)
    bucket = (flat * n).long().clamp_(0, n - 1)
    bucket -= (bucket.to(cdf.dtype) / n > flat).long()  # u * n rounded up onto the next bucket
    index = guide.index_select(0, bucket.clamp_(min=0))
    todo = torch.nonzero((cdf.index_select(0, index) < flat) & (index < n - 1)).squeeze(1)
    while todo.numel():
        stepped = index.index_select(0, todo) + 1
        index.index_copy_(0, todo, stepped)
        todo = todo[(cdf.index_select(0, stepped) < flat.index_select(0, todo)) & (stepped < n - 1)]
    return index.reshape(u.shape)


def _distinct_rows(lookups: torch.Tensor):
    """Per row of ``lookups`` [K, L]: the distinct values in ascending order, padded to L with the largest
    (``rows``), each lookup's position among them (``inverse``), and how many there are (``n_rows``)."""
    ordered, perm = _sort_rows(lookups)
    first = torch.ones_like(ordered, dtype=torch.bool)
    first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    slot = first.cumsum(1) - 1
    inverse = torch.empty_like(lookups).scatter_(1, perm, slot)
    rows = ordered[:, -1:].expand_as(ordered).clone().scatter_(1, slot, ordered)
    return rows, inverse, slot[:, -1] + 1


def _sort_rows(lookups: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``lookups.sort(dim=1)``; on the CPU numpy's sort of (value, position) keys, about ten times faster."""
    if lookups.device.type != "cpu":
        return lookups.sort(dim=1)
    width = lookups.shape[1]
    keys = lookups.numpy() * width + np.arange(width)  # item indices and widths are far below 2**31
    keys.sort(axis=1)
    return torch.from_numpy(keys // width), torch.from_numpy(keys % width)
