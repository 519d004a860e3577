"""The next-session protocol: what will a returning user do first?

Why a protocol of its own: within-session next-item recall is dominated by the session's own items, which a
session-only model sees too. The user-level GRU earns its place only where the current session says nothing
yet: at the start of the user's next session. Each test user's state is warmed up through their training
history; at the time their first test session starts, the model ranks every training item, and we score the
session's first item and its first few distinct items.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.splits import NextItemSplit
from .metrics import in_sets, ranks_from_scores, topk_items
from .protocols import SCORE_CHUNK, Scorer


def next_session_targets(split: NextItemSplit, first_n: int = 5):
    """(test sequences with a history, query times, first items, first-n distinct items as CSR offsets/items).

    A test user qualifies when they have training history (a warm-up) and a first test session.
    """
    test, warm = split.test, split.warmup
    has_history = (warm.lengths > 0) & (test.lengths > 0)
    seqs = np.flatnonzero(has_history)
    heads = test.user_offsets[:-1][seqs]
    first_session_end = test.session_offsets[np.searchsorted(test.session_offsets, heads, side="right")]
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    items: list[np.ndarray] = []
    for k, (lo, hi) in enumerate(zip(heads, first_session_end)):
        distinct = list(dict.fromkeys(test.items[lo:hi].tolist()))[:first_n]
        items.append(np.asarray(distinct, dtype=np.int64))
        offsets[k + 1] = offsets[k] + len(distinct)
    flat = np.concatenate(items) if items else np.zeros(0, dtype=np.int64)
    return seqs, test.times[heads], test.items[heads].astype(np.int64), offsets, flat


def evaluate_next_session(scorer: Scorer, split: NextItemSplit, k: int = 20, first_n: int = 5) -> dict[str, float]:
    """Recall@k and MRR@k of the next session's first item (ties counted pessimistically), and the share of
    its first ``first_n`` distinct items found in the top k, over every qualifying test user."""
    seqs, query_times, first, offsets, flat = next_session_targets(split, first_n)
    if len(seqs) == 0:
        return {"targets": 0}
    states = scorer.final_states(split.warmup.take(seqs), query_times=query_times)
    ranks, tops = [], []
    for lo in range(0, states.shape[0], SCORE_CHUNK):
        scores = scorer.scores(states[lo:lo + SCORE_CHUNK]).float().cpu()
        _, pessimistic = ranks_from_scores(scores, torch.as_tensor(first[lo:lo + SCORE_CHUNK]))
        ranks.append(pessimistic.numpy())
        tops.append(topk_items(scores, k))
    rank = np.concatenate(ranks)
    hit = in_sets(np.concatenate(tops), offsets, flat)
    found = hit.sum(axis=1) / np.maximum(np.diff(offsets), 1)
    return {
        f"first_item_recall_at_{k}": float(np.mean(rank <= k)),
        f"first_item_mrr_at_{k}": float(np.mean(np.where(rank <= k, 1.0 / rank, 0.0))),
        f"first_{first_n}_recall_at_{k}": float(np.mean(found)),
        "targets": int(len(seqs)),
    }
