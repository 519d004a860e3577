"""Offline metrics: the service's GetSolutionMetrics keys and the field's next-item metrics.

Two families live here, both vectorised (no Python loop per user or per event; at most a loop over K):

1. **Service metrics**, as the service defines them
   (https://docs.aws.amazon.com/personalize/latest/dg/working-with-training-metrics.html), computed from each
   test user's top-25 list and the user's relevant (held-out, newest 10%) item set:

   - ``coverage``: unique items in all users' top 25 / ``n_catalog_items``.
   - ``mean_reciprocal_rank_at_25``: mean over users of 1 / (rank of the first relevant item in the top
     25), 0 when none is there. Docs' example: ranks 4, 2, 6 -> (1/4 + 1/2 + 1/6) / 3 = 0.3056.
   - ``normalized_discounted_cumulative_gain_at_K`` (K = 5, 10, 25): binary relevance, weight
     ``1 / log(1 + position)`` with position 1 at the top; the ideal DCG puts ``min(|relevant|, K)`` relevant
     items at positions 1.. . The ratio does not depend on the log base (we use base 2). Docs' example:
     relevant at ranks 2 and 5, two relevant items, K = 5 -> 0.6241.
   - ``precision_at_K`` (K = 5, 10, 25): hits in the top K divided by K, always K (even when the user has
     fewer than K relevant items). Docs' example: 2 hits in the top 5 -> 0.4.

   Every metric but coverage is averaged over users (each user weighs the same).

   Decisions where the docs are silent:

   - A relevant set is a *set*: an item listed twice in a user's relevant items counts once (for hits and
     for ``|relevant|`` in the ideal DCG).
   - Negative entries in ``top_items`` are padding (a list shorter than K, e.g. when exclusions leave fewer
     items than K, see :func:`topk_items`): never a hit, never counted in coverage. A real item twice in a
     user's top 25 is rejected (``ValueError``): each position would otherwise count as a separate hit.
   - A user with an empty relevant set scores 0 on every per-user metric and still counts in the averages
     (the split in this project gives every test user at least one relevant item, so this does not occur).
   - Relevant items outside ``[0, n_catalog_items)`` (e.g. items never seen in training) are allowed: they
     can never be hit but still count in ``|relevant|``.

2. **Next-item metrics** (SESSION_RNN.md section 1.7, GRU4Rec's ``batch_eval``): full ranking over all items,
   one target per event. ``optimistic`` rank = 1 + #items with a strictly higher score (GRU4Rec's
   ``standard``); ``pessimistic`` rank = #items with score >= the target's (GRU4Rec's ``conservative``); they
   differ by exactly the number of other items tied with the target. Recall@K = share of events with rank
   <= K; MRR@K = mean of 1/rank if rank <= K else 0; micro-averaged over events.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import torch

__all__ = [
    "SERVICE_METRIC_NAMES",
    "SERVICE_TOP_K",
    "NDCG_PRECISION_KS",
    "DEFAULT_NEXT_ITEM_KS",
    "to_csr",
    "in_sets",
    "service_metrics",
    "topk_items",
    "ranks_from_scores",
    "next_item_metrics",
    "NextItemAccumulator",
]

#: The GetSolutionMetrics keys for HRNN (no ``average_rewards_at_k``: no optimizationObjective), in order.
SERVICE_METRIC_NAMES: tuple[str, ...] = (
    "coverage",
    "mean_reciprocal_rank_at_25",
    "normalized_discounted_cumulative_gain_at_5",
    "normalized_discounted_cumulative_gain_at_10",
    "normalized_discounted_cumulative_gain_at_25",
    "precision_at_5",
    "precision_at_10",
    "precision_at_25",
)

#: List length used for coverage and MRR (and the longest K); every top-items row needs at least this many.
SERVICE_TOP_K = 25
NDCG_PRECISION_KS: tuple[int, ...] = (5, 10, 25)
DEFAULT_NEXT_ITEM_KS: tuple[int, ...] = (5, 10, 20)


# ---------------------------------------------------------------------------------------------------------
# CSR helpers and hit matrix
# ---------------------------------------------------------------------------------------------------------


def to_csr(sets: Sequence[Iterable[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Build ``(offsets, items)`` (int64, CSR) from a list of per-user item lists. Convenience for callers
    and tests; not used in the hot path."""
    lists = [np.asarray(list(s), dtype=np.int64) for s in sets]
    lengths = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    offsets = np.zeros(len(lists) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    items = np.concatenate(lists) if lists else np.zeros(0, dtype=np.int64)
    return offsets, items.astype(np.int64, copy=False)


def _check_csr(relevant_offsets: np.ndarray, relevant_items: np.ndarray, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.asarray(relevant_offsets)
    items = np.asarray(relevant_items)
    if offsets.ndim != 1 or offsets.shape[0] != n_users + 1:
        raise ValueError(f"relevant_offsets must have shape [n_users + 1] = [{n_users + 1}], got {offsets.shape}")
    if items.ndim != 1:
        raise ValueError(f"relevant_items must be 1-D, got shape {items.shape}")
    if not (np.issubdtype(offsets.dtype, np.integer) and (items.size == 0 or np.issubdtype(items.dtype, np.integer))):
        raise ValueError("relevant_offsets and relevant_items must be integer arrays")
    offsets = offsets.astype(np.int64, copy=False)
    items = items.astype(np.int64, copy=False)
    if offsets[0] != 0 or offsets[-1] != items.shape[0] or np.any(np.diff(offsets) < 0):
        raise ValueError(
            "relevant_offsets must start at 0, be non-decreasing and end at len(relevant_items) "
            f"({items.shape[0]})"
        )
    if items.size and items.min() < 0:
        raise ValueError("relevant_items must be non-negative item indices")
    return offsets, items


def _unique_relevant_keys(offsets: np.ndarray, items: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique ``user * base + item`` keys, and the number of unique relevant items per user."""
    n_users = offsets.shape[0] - 1
    users = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(offsets))
    keys = np.unique(users * base + items)  # sorted, duplicates (same user, same item) removed
    n_relevant = np.bincount(keys // base, minlength=n_users).astype(np.int64)
    return keys, n_relevant


def _key_base(top_items: np.ndarray, items: np.ndarray) -> int:
    hi = 0
    if top_items.size:
        hi = max(hi, int(top_items.max()))
    if items.size:
        hi = max(hi, int(items.max()))
    return hi + 1


def _hits(top_items: np.ndarray, keys: np.ndarray, base: int) -> np.ndarray:
    n_users = top_items.shape[0]
    valid = top_items >= 0
    query = np.arange(n_users, dtype=np.int64)[:, None] * base + np.where(valid, top_items, 0)
    if keys.size == 0:
        return np.zeros(top_items.shape, dtype=bool)
    pos = np.searchsorted(keys, query)
    found = keys[np.minimum(pos, keys.size - 1)] == query
    return found & valid


def in_sets(top_items: np.ndarray, relevant_offsets: np.ndarray, relevant_items: np.ndarray) -> np.ndarray:
    """Boolean matrix shaped like ``top_items``: ``hits[u, j]`` is True when ``top_items[u, j]`` is in user
    ``u``'s relevant set (CSR rows). Vectorised: (user, item) pairs are encoded as one int64 key
    ``user * base + item``, the relevant keys are sorted/deduplicated and the recommended keys looked up with
    ``np.searchsorted``. Negative entries of ``top_items`` (padding) are never hits."""
    top = np.asarray(top_items)
    if top.ndim != 2:
        raise ValueError(f"top_items must be 2-D [n_users, k], got shape {top.shape}")
    top = top.astype(np.int64, copy=False)
    offsets, items = _check_csr(relevant_offsets, relevant_items, top.shape[0])
    base = _key_base(top, items)
    keys, _ = _unique_relevant_keys(offsets, items, base)
    return _hits(top, keys, base)


# ---------------------------------------------------------------------------------------------------------
# Service metrics
# ---------------------------------------------------------------------------------------------------------


def _ideal_dcg_table(k: int) -> np.ndarray:
    """``table[n]`` = ideal DCG with n relevant items at positions 1..n (n = 0..k)."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))  # position p -> 1 / log2(1 + p)
    return np.concatenate([[0.0], np.cumsum(discounts)])


def service_metrics(
    top_items: np.ndarray,
    relevant_offsets: np.ndarray,
    relevant_items: np.ndarray,
    n_catalog_items: int,
) -> dict[str, float]:
    """The GetSolutionMetrics values (keys :data:`SERVICE_METRIC_NAMES`, in that order).

    ``top_items``: int ``[n_users, >= 25]``, each row one user's recommendations best first (item indices;
    negative = padding); only the first 25 columns are used. ``relevant_offsets`` / ``relevant_items``: CSR of
    each user's relevant item set (row ``u`` = ``relevant_items[offsets[u]:offsets[u + 1]]``; duplicates count
    once). ``n_catalog_items``: the coverage denominator (unique items in the training data). See the module
    docstring for the exact definitions and the decisions made where the docs are silent.
    """
    top = np.asarray(top_items)
    if top.ndim != 2:
        raise ValueError(f"top_items must be 2-D [n_users, k], got shape {top.shape}")
    if top.shape[0] == 0:
        raise ValueError("service_metrics needs at least one user")
    if top.shape[1] < SERVICE_TOP_K:
        raise ValueError(f"top_items needs at least {SERVICE_TOP_K} columns (pad with -1), got {top.shape[1]}")
    if not np.issubdtype(top.dtype, np.integer):
        raise ValueError("top_items must be an integer array")
    if int(n_catalog_items) <= 0:
        raise ValueError(f"n_catalog_items must be positive, got {n_catalog_items}")
    n_catalog_items = int(n_catalog_items)
    top = top[:, :SERVICE_TOP_K].astype(np.int64, copy=False)
    if top.max() >= n_catalog_items:
        raise ValueError(f"top_items holds item index {int(top.max())} >= n_catalog_items ({n_catalog_items})")
    # A real item twice in one user's list would count twice; reject it (padding may repeat).
    srt = np.sort(top, axis=1)
    if np.any((srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)):
        raise ValueError("an item appears more than once in a user's top 25")

    n_users = top.shape[0]
    offsets, items = _check_csr(relevant_offsets, relevant_items, n_users)
    base = _key_base(top, items)
    keys, n_relevant = _unique_relevant_keys(offsets, items, base)
    hits = _hits(top, keys, base)  # [n_users, 25] bool

    out: dict[str, float] = {}
    recommended = top[top >= 0]
    out["coverage"] = float(np.unique(recommended).size / n_catalog_items)

    any_hit = hits.any(axis=1)
    first = hits.argmax(axis=1)  # 0-based position of the first hit (0 when none; masked below)
    rr = np.where(any_hit, 1.0 / (first + 1.0), 0.0)
    out["mean_reciprocal_rank_at_25"] = float(rr.mean())

    discounts = 1.0 / np.log2(np.arange(2, SERVICE_TOP_K + 2, dtype=np.float64))
    idcg_table = _ideal_dcg_table(SERVICE_TOP_K)
    gains = hits * discounts  # [n_users, 25]
    for k in NDCG_PRECISION_KS:
        dcg = gains[:, :k].sum(axis=1)
        idcg = idcg_table[np.minimum(n_relevant, k)]
        ndcg = np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0)
        out[f"normalized_discounted_cumulative_gain_at_{k}"] = float(ndcg.mean())
    for k in NDCG_PRECISION_KS:
        out[f"precision_at_{k}"] = float((hits[:, :k].sum(axis=1) / k).mean())
    return {name: out[name] for name in SERVICE_METRIC_NAMES}


# ---------------------------------------------------------------------------------------------------------
# Top-K with deterministic tie-breaking
# ---------------------------------------------------------------------------------------------------------


def _exclusion_mask(exclude, n_users: int, n_items: int, device: torch.device) -> torch.Tensor:
    if isinstance(exclude, torch.Tensor) and exclude.dtype == torch.bool:
        if tuple(exclude.shape) != (n_users, n_items):
            raise ValueError(f"exclude mask must have shape [{n_users}, {n_items}], got {tuple(exclude.shape)}")
        return exclude.to(device)
    if isinstance(exclude, np.ndarray) and exclude.dtype == np.bool_:
        return _exclusion_mask(torch.from_numpy(exclude), n_users, n_items, device)
    if isinstance(exclude, (tuple, list)) and len(exclude) == 2:
        offsets = torch.as_tensor(np.asarray(exclude[0]), dtype=torch.int64)
        items = torch.as_tensor(np.asarray(exclude[1]), dtype=torch.int64)
        if (
            offsets.ndim != 1
            or offsets.shape[0] != n_users + 1
            or int(offsets[0]) != 0
            or int(offsets[-1]) != items.shape[0]
            or bool((offsets.diff() < 0).any())
        ):
            raise ValueError(
                "exclude CSR offsets must have shape [n_users + 1], start at 0, be non-decreasing and end at len(items)"
            )
        if items.numel() and (int(items.min()) < 0 or int(items.max()) >= n_items):
            raise ValueError(f"exclude items must lie in [0, {n_items})")
        rows = torch.repeat_interleave(torch.arange(n_users, dtype=torch.int64), offsets.diff())
        mask = torch.zeros((n_users, n_items), dtype=torch.bool, device=device)
        mask[rows.to(device), items.to(device)] = True
        return mask
    raise TypeError("exclude must be None, a bool mask [n_users, n_items] or a CSR tuple (offsets, items)")


def _stable_desc_order(values: torch.Tensor, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sort each row by (-value, index): order by index first, then a stable descending sort by value."""
    idx_sorted, perm = torch.sort(indices, dim=1)
    vals = values.gather(1, perm)
    vals, perm2 = torch.sort(vals, dim=1, descending=True, stable=True)
    return vals, idx_sorted.gather(1, perm2)


def topk_items(scores: torch.Tensor, k: int, exclude=None) -> np.ndarray:
    """Top-``k`` item indices per row of a ``[n_users, n_items]`` score tensor, best first, as int64 numpy.

    Order is by ``(-score, item index)``: ties are broken by the lower item index, so the result is
    deterministic and independent of the device and of ``torch.topk``'s internal order. How: ``torch.topk``
    fetches ``k + margin`` candidates, which are re-sorted by (-score, index) (index sort, then a stable
    descending value sort); rows whose tie group at the k-th score may extend past the candidates fall back
    to a full stable descending sort of that row. NaN scores are treated as ``-inf``.

    ``exclude`` (optional) removes items (e.g. a user's input history): a bool tensor/array
    ``[n_users, n_items]`` (True = excluded) or a CSR tuple ``(offsets, items)``. Positions that would hold an
    excluded item (only when fewer than ``k`` items remain), and positions past ``n_items`` when
    ``k > n_items``, are ``-1`` (padding; :func:`service_metrics` ignores it). The output is always
    ``[n_users, k]``. (Excluded items are scored ``-inf``; a non-excluded item whose own score is ``-inf`` or
    NaN ties with them and may land after a ``-1``.)
    """
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D [n_users, n_items], got shape {tuple(scores.shape)}")
    k = int(k)
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    n_users, n_items = scores.shape
    if n_users == 0 or n_items == 0:
        return np.full((n_users, k), -1, dtype=np.int64)

    with torch.no_grad():
        s = scores
        if s.is_floating_point():
            s = torch.nan_to_num(s, nan=float("-inf"), posinf=float("inf"), neginf=float("-inf"))
        else:
            s = s.to(torch.float64)
        mask = None
        if exclude is not None:
            mask = _exclusion_mask(exclude, n_users, n_items, s.device)
            s = s.masked_fill(mask, float("-inf"))

        k_eff = min(k, n_items)
        n_cand = min(n_items, 2 * k_eff + 8)
        cand_vals, cand_idx = torch.topk(s, n_cand, dim=1, largest=True, sorted=True)
        vals, idx = _stable_desc_order(cand_vals, cand_idx)
        top_idx = idx[:, :k_eff]
        if n_cand < n_items:
            # Every item with score >= the k-th score is a candidate iff the last candidate is strictly lower.
            unsafe = cand_vals[:, -1] >= vals[:, k_eff - 1]
            if bool(unsafe.any()):
                rows = unsafe.nonzero(as_tuple=True)[0]
                # torch.sort(stable=True, descending=True) keeps equal scores in index order.
                _, full = torch.sort(s[rows], dim=1, descending=True, stable=True)
                top_idx = top_idx.clone()
                top_idx[rows] = full[:, :k_eff]
        if mask is not None:
            top_idx = torch.where(mask.gather(1, top_idx), torch.full_like(top_idx, -1), top_idx)
        out = top_idx.to("cpu", torch.int64).numpy()
    if k_eff < k:
        out = np.concatenate([out, np.full((n_users, k - k_eff), -1, dtype=np.int64)], axis=1)
    return out


# ---------------------------------------------------------------------------------------------------------
# Next-item metrics (GRU4Rec protocol)
# ---------------------------------------------------------------------------------------------------------


def ranks_from_scores(scores: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Optimistic and pessimistic rank of each event's target among all items, on the scores' device.

    ``scores``: ``[n, n_items]``; ``targets``: ``[n]`` item indices. ``optimistic = 1 + #{items with a strictly
    higher score}``, ``pessimistic = #{items with score >= the target's}`` (includes the target itself), int64
    tensors ``[n]``; ``pessimistic - optimistic`` is the number of *other* items tied with the target. A NaN
    target score raises ``ValueError`` (NaN compares false both ways and would silently give rank 1).
    """
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D [n, n_items], got shape {tuple(scores.shape)}")
    targets = torch.as_tensor(targets, device=scores.device)
    if targets.ndim != 1 or targets.shape[0] != scores.shape[0]:
        raise ValueError(f"targets must have shape [{scores.shape[0]}], got {tuple(targets.shape)}")
    if targets.numel() == 0:
        empty = torch.zeros(0, dtype=torch.int64, device=scores.device)
        return empty, empty.clone()
    targets = targets.to(torch.int64)
    n_items = scores.shape[1]
    if bool(((targets < 0) | (targets >= n_items)).any()):
        raise ValueError(f"targets must lie in [0, {n_items})")
    with torch.no_grad():
        target_scores = scores.gather(1, targets[:, None])  # [n, 1]
        if scores.is_floating_point() and bool(torch.isnan(target_scores).any()):
            raise ValueError("NaN score for a target item; ranks are undefined")
        optimistic = (scores > target_scores).sum(dim=1, dtype=torch.int64) + 1
        pessimistic = (scores >= target_scores).sum(dim=1, dtype=torch.int64)
    return optimistic, pessimistic


def _check_ks(ks: Iterable[int]) -> tuple[int, ...]:
    ks = tuple(int(k) for k in ks)
    if not ks or any(k <= 0 for k in ks):
        raise ValueError(f"ks must be a non-empty sequence of positive integers, got {ks}")
    return ks


def next_item_metrics(
    optimistic: np.ndarray,
    pessimistic: np.ndarray,
    ks: Sequence[int] = DEFAULT_NEXT_ITEM_KS,
) -> dict[str, float]:
    """Recall@K and MRR@K, micro-averaged over events, for both rank variants.

    Keys, for each K in ``ks`` (in order): ``recall_at_K``, ``mrr_at_K`` (optimistic ranks) then
    ``recall_at_K_pessimistic``, ``mrr_at_K_pessimistic``; plus ``n_events`` (int). With no events every
    metric is 0.0 and ``n_events`` is 0 (check ``n_events`` before trusting them).
    """
    ks = _check_ks(ks)
    opt = np.asarray(optimistic).reshape(-1).astype(np.int64, copy=False)
    pes = np.asarray(pessimistic).reshape(-1).astype(np.int64, copy=False)
    if opt.shape != pes.shape:
        raise ValueError(f"optimistic and pessimistic must have the same length, got {opt.shape} and {pes.shape}")
    if opt.size and (opt.min() < 1 or pes.min() < 1):
        raise ValueError("ranks must be >= 1")
    n = int(opt.size)
    out: dict[str, float] = {}
    for suffix, ranks in (("", opt), ("_pessimistic", pes)):
        inv = 1.0 / ranks if n else np.zeros(0)
        for k in ks:
            within = ranks <= k
            out[f"recall_at_{k}{suffix}"] = float(within.mean()) if n else 0.0
            out[f"mrr_at_{k}{suffix}"] = float(np.where(within, inv, 0.0).mean()) if n else 0.0
    ordered = {}
    for k in ks:
        ordered[f"recall_at_{k}"] = out[f"recall_at_{k}"]
        ordered[f"mrr_at_{k}"] = out[f"mrr_at_{k}"]
    for k in ks:
        ordered[f"recall_at_{k}_pessimistic"] = out[f"recall_at_{k}_pessimistic"]
        ordered[f"mrr_at_{k}_pessimistic"] = out[f"mrr_at_{k}_pessimistic"]
    ordered["n_events"] = n
    return ordered


class NextItemAccumulator:
    """Streams next-item evaluation over batches.

    ``add(scores, targets)`` computes both ranks on the scores' device (see :func:`ranks_from_scores`) and
    moves only the two int64 rank vectors to the CPU; ``result()`` returns :func:`next_item_metrics` over all
    events added so far. ``ranks()`` gives the concatenated ``(optimistic, pessimistic)`` numpy arrays.
    """

    def __init__(self, ks: Sequence[int] = DEFAULT_NEXT_ITEM_KS):
        self.ks = _check_ks(ks)
        self._optimistic: list[np.ndarray] = []
        self._pessimistic: list[np.ndarray] = []

    def add(self, scores: torch.Tensor, targets: torch.Tensor) -> None:
        optimistic, pessimistic = ranks_from_scores(scores, targets)
        self._optimistic.append(optimistic.cpu().numpy())
        self._pessimistic.append(pessimistic.cpu().numpy())

    def reset(self) -> None:
        self._optimistic.clear()
        self._pessimistic.clear()

    @property
    def n_events(self) -> int:
        return int(sum(x.size for x in self._optimistic))

    def ranks(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._optimistic:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(self._optimistic), np.concatenate(self._pessimistic)

    def result(self) -> dict[str, float]:
        optimistic, pessimistic = self.ranks()
        return next_item_metrics(optimistic, pessimistic, self.ks)
