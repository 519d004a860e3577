"""Non-neural baselines measured through the same evaluator as the HRNN.

Why: a recommender's figures mean little without the simple models next to them. Most-popular ranks by
training counts (:class:`~hrnn.evaluation.protocols.PopularityScorer`); the transition baseline here ranks the
items that followed the user's last item in the training data (a first-order Markov chain over each user's
consecutive events, session boundaries included), popularity breaking ties.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data import InteractionData
from .protocols import Scorer


@dataclass
class TransitionScorer(Scorer):
    """Scores item j after item i by the count of (i -> j) among consecutive training events of one user."""

    offsets: np.ndarray  # CSR over the previous item: successors[offsets[i]:offsets[i+1]]
    successors: np.ndarray
    counts: np.ndarray
    popularity: np.ndarray  # training counts, scaled into [0, 1) to break ties only

    @classmethod
    def fit(cls, train: InteractionData) -> "TransitionScorer":
        n = train.n_items
        same_user = ~train.user_start_mask()[1:]
        prev, nxt = train.items[:-1][same_user].astype(np.int64), train.items[1:][same_user].astype(np.int64)
        pairs, counts = np.unique(prev * n + nxt, return_counts=True)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(pairs // n, minlength=n), out=offsets[1:])
        popularity = train.item_counts().astype(np.float64)
        return cls(offsets, pairs % n, counts.astype(np.float64), popularity / (popularity.max(initial=0) + 1))

    def final_states(self, data: InteractionData, query_times=None) -> torch.Tensor:
        last = np.full(data.n_sequences, -1, dtype=np.int64)
        nonempty = data.lengths > 0
        last[nonempty] = data.items[data.user_offsets[1:][nonempty] - 1]
        return torch.as_tensor(last).unsqueeze(1)

    def event_states(self, data: InteractionData, collect: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(data.items[collect].astype(np.int64)).unsqueeze(1)

    def scores(self, states: torch.Tensor) -> torch.Tensor:
        previous = states[:, 0].numpy()
        scores = np.tile(self.popularity, (len(previous), 1))
        for row, item in enumerate(previous):
            if item >= 0:
                lo, hi = self.offsets[item], self.offsets[item + 1]
                scores[row, self.successors[lo:hi]] += self.counts[lo:hi]
        return torch.as_tensor(scores, dtype=torch.float32)
