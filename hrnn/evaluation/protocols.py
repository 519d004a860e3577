"""Evaluation: the service's offline metrics on held-out users, and the field's next-item protocol.

Both warm a user's state up through that user's earlier interactions (no scoring) before scoring, and both
rank all items (no sampled candidates). Models plug in as a :class:`Scorer`, so the most-popular baseline
and the session-only model are measured by exactly the same code as the HRNN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data import InteractionData
from ..data.splits import NextItemSplit, UserHoldout
from ..model import HRNN, event_inputs
from .metrics import SERVICE_TOP_K, NextItemAccumulator, service_metrics, topk_items

SCORE_CHUNK = 512  # users (or events) scored at once: bounds memory at chunk x n_items floats
BLOCK_STEPS = 64  # steps whose input projection is computed at once when states are computed


def _index(array: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(array, dtype=np.int64)).to(device)


class Scorer:
    """A model as the evaluator sees it: states after events, and item scores from states."""

    def final_states(self, data: InteractionData, query_times: np.ndarray | None = None) -> torch.Tensor:
        """[M, d]: the state to score each sequence from after its last event, for a query at
        ``query_times`` (epoch seconds; None: right after the last event)."""
        raise NotImplementedError

    def event_states(self, data: InteractionData, collect: np.ndarray) -> torch.Tensor:  # [n_collect, d]
        raise NotImplementedError

    def scores(self, states: torch.Tensor) -> torch.Tensor:  # [n, n_items]
        raise NotImplementedError


@dataclass
class PopularityScorer(Scorer):
    """Most-popular baseline: every user gets the items ranked by their training interaction counts."""

    counts: np.ndarray

    def final_states(self, data, query_times=None):
        return torch.zeros(data.n_sequences, 1)

    def event_states(self, data, collect):
        return torch.zeros(int(collect.sum()), 1)

    def scores(self, states):
        return torch.as_tensor(self.counts, dtype=torch.float32).expand(states.shape[0], -1)


@dataclass
class HRNNScorer(Scorer):
    model: HRNN
    device: torch.device
    chunk: int = 1024
    item_mask: torch.Tensor | None = None  # False for items never seen in training: never recommended
    # A query later than this after a user's last event starts a new session; needed only for final_states
    # with query times (the recipe's session_timeout_minutes, in seconds).
    session_timeout_seconds: float | None = None

    @torch.no_grad()
    def _run(self, data: InteractionData, collect: np.ndarray | None):
        """Feed every sequence through the model's forward (:meth:`HRNN.encode`, :meth:`HRNN.advance`),
        ``chunk`` sequences at a time, longest first, in blocks of :data:`BLOCK_STEPS` steps: the input
        projection of a block is one multiply, the row-wise recurrence reads the session starts on the host
        (the user-level GRU runs only where a session starts), and a block runs only the sequences that still
        have events (a prefix, since they are sorted by length)."""
        model, dev = self.model, self.device
        model.eval()
        hidden = model.hidden
        finals = torch.zeros(data.n_sequences, hidden, device=dev)
        finals_u = torch.zeros(data.n_sequences, hidden, device=dev)
        collect_pos = np.cumsum(collect) - 1 if collect is not None else None
        collected = torch.zeros(int(collect.sum()) if collect is not None else 0, hidden, device=dev)
        items, gaps, _, _ = event_inputs(data, dev)
        session_start, user_start = data.session_start_mask(), data.user_start_mask()
        lengths = data.lengths
        order = np.argsort(-lengths, kind="stable")
        order = order[lengths[order] > 0]
        for lo in range(0, len(order), self.chunk):
            seqs = order[lo:lo + self.chunk]
            seq_len, heads = lengths[seqs], data.user_offsets[seqs]
            h_s, h_u = model.initial_state(len(seqs), dev)
            for b0 in range(0, int(seq_len[0]), BLOCK_STEPS):
                n = int(np.count_nonzero(seq_len > b0))
                if n < h_s.shape[0]:  # these sequences ended in an earlier block
                    finals_u[_index(seqs[n:h_s.shape[0]], dev)] = h_u[n:]
                    h_s, h_u = h_s[:n], h_u[:n]
                steps = b0 + np.arange(min(BLOCK_STEPS, int(seq_len[0]) - b0))[:, None]
                present = steps < seq_len[None, :n]
                ev = np.where(present, heads[None, :n] + steps, 0)
                ev_t = _index(ev, dev)
                gates = model.encode(items[ev_t], gaps[ev_t])
                # Past its end a sequence starts nothing, so its user state stays as it was.
                states, h_s, h_u = model.advance(gates, session_start[ev] & present, user_start[ev] & present,
                                                 h_s, h_u)
                last = seq_len[:n] - 1 - b0
                ends = np.flatnonzero(last < len(steps))
                finals[_index(seqs[ends], dev)] = states[_index(last[ends], dev), _index(ends, dev)]
                if collect is not None:
                    t, b = np.nonzero(collect[ev] & present)
                    collected[_index(collect_pos[ev[t, b]], dev)] = states[_index(t, dev), _index(b, dev)]
            finals_u[_index(seqs[:h_u.shape[0]], dev)] = h_u
        return finals, collected, finals_u

    def user_states(self, data) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Each sequence's session state and user-level state after its whole history, and the state its next
        session would start from (what a model directory stores per user)."""
        h_s, _, h_u = self._run(data, None)
        with torch.no_grad():
            return h_s, h_u, self.model.next_session_state(h_s, h_u)

    def final_states(self, data, query_times=None):
        """A query within the session timeout continues the user's last session; a later one (a returning
        user) is scored from the state the user's next session starts from."""
        if query_times is None or data.n_sequences == 0:
            return self._run(data, None)[0]
        if self.session_timeout_seconds is None:
            raise ValueError("HRNNScorer needs session_timeout_seconds to score queries at given times")
        h_s, _, start = self.user_states(data)
        last = data.times[data.user_offsets[1:] - 1]
        new_session = torch.as_tensor(np.asarray(query_times) - last > self.session_timeout_seconds).to(self.device)
        return torch.where(new_session.unsqueeze(1), start, h_s)

    def event_states(self, data, collect):
        return self._run(data, collect)[1]

    @torch.no_grad()
    def scores(self, states):
        scores = self.model.score(states.to(self.device)).float()
        if self.item_mask is not None:
            scores = scores.masked_fill(~self.item_mask.to(scores.device), float("-inf"))
        return scores


def evaluate_service(scorer: Scorer, data: InteractionData, holdout: UserHoldout) -> dict[str, float]:
    """GetSolutionMetrics on held-out users: warm up through each user's input, score, compare with the
    user's newest interactions."""
    inputs = holdout.inputs(data)
    offsets, relevant = holdout.relevant(data)
    # The query happens when the user's first held-out interaction does.
    states = scorer.final_states(inputs, query_times=data.times[holdout.cuts])
    top = np.concatenate([
        topk_items(scorer.scores(states[lo:lo + SCORE_CHUNK]), SERVICE_TOP_K)  # on the scores' device
        for lo in range(0, states.shape[0], SCORE_CHUNK)
    ]) if states.shape[0] else np.zeros((0, SERVICE_TOP_K), dtype=np.int64)
    return service_metrics(top, offsets, relevant, data.n_items)


def next_item_sequences(split: NextItemSplit) -> tuple[InteractionData, np.ndarray, np.ndarray]:
    """Each test user's training sessions followed by their test sessions, plus which events are scored
    (those with a next event in the same test session) and those targets."""
    warm, test = split.warmup, split.test
    lw, lt = warm.lengths, test.lengths
    total = lw + lt
    offsets = np.zeros(len(total) + 1, dtype=np.int64)
    np.cumsum(total, out=offsets[1:])
    n = int(offsets[-1])
    warm_pos = np.repeat(offsets[:-1] - warm.user_offsets[:-1], lw) + np.arange(warm.n_events)
    test_pos = np.repeat(offsets[:-1] + lw - test.user_offsets[:-1], lt) + np.arange(test.n_events)
    items = np.empty(n, dtype=np.int32)
    times = np.empty(n, dtype=np.int64)
    session_start = np.zeros(n, dtype=bool)
    items[warm_pos], times[warm_pos] = warm.items, warm.times
    items[test_pos], times[test_pos] = test.items, test.times
    session_start[warm_pos] = warm.session_start_mask()
    session_start[test_pos] = test.session_start_mask()
    is_test = np.zeros(n, dtype=bool)
    is_test[test_pos] = True
    collect = np.zeros(n, dtype=bool)
    collect[:-1] = is_test[:-1] & is_test[1:] & ~session_start[1:]
    targets = items[1:][collect[:-1]].astype(np.int64)
    combined = InteractionData(
        items=items, times=times, weights=np.ones(n, dtype=np.float32), user_offsets=offsets,
        seq_users=test.seq_users, session_offsets=np.append(np.flatnonzero(session_start), n).astype(np.int64),
        user_ids=test.user_ids, item_ids=test.item_ids,
    )
    return combined, collect, targets


def evaluate_next_item(scorer: Scorer, split: NextItemSplit, ks=(5, 10, 20)) -> dict[str, float]:
    """Recall@K and MRR@K over every next event of the test sessions, ranked against all items, with
    optimistic and pessimistic tie handling."""
    combined, collect, targets = next_item_sequences(split)
    states = scorer.event_states(combined, collect)
    acc = NextItemAccumulator(ks)
    target_t = torch.as_tensor(targets)
    for lo in range(0, states.shape[0], SCORE_CHUNK):
        scores = scorer.scores(states[lo:lo + SCORE_CHUNK]).float()
        acc.add(scores, target_t[lo:lo + SCORE_CHUNK].to(scores.device))
    return acc.result()
