"""recency_mask: weigh the newest interactions more, to the degree that they depart from the older ones.

This project's reading of the service's "consider the latest popularity trends ... sudden changes in the
underlying patterns of interaction events". Weighting recent events always costs something: the model learns
from fewer effective examples, which loses accuracy on data whose patterns hold over time. So the weighting is
switched on by evidence of a trend:

* **How surprising is the newest window?** A first-order model of which item follows which (an interpolated
  bigram with a popularity backoff) is fit on the older events and scores the newest ``DRIFT_WINDOW`` of
  consecutive-event pairs, and, for comparison, an equally large random held-out part of the older pairs.
  ``drift = cross-entropy(newest) / cross-entropy(held-out older)``: about 1 when the data is stationary
  (measured 0.91-1.14 on generated data without drift, by seed and size), about 2 after a pattern shift.
* **How strongly to weigh.** ``strength = clip((drift - NO_DRIFT_UP_TO) / (FULL_DRIFT_AT - NO_DRIFT_UP_TO), 0, 1)``.
* **The weights.** ``1 - strength * (1 - curve)`` with ``curve = floor + (1 - floor) * 2^(-age / half_life)``,
  the age measured from the newest event. With strength 0 every event weighs 1 (the same training as
  ``recency_mask=false``); at full strength the oldest events weigh ``floor``, so the model keeps the patterns
  the old data still holds, and no weight can underflow to zero whatever the timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SECONDS_PER_DAY = 86400.0
DRIFT_WINDOW = 0.1  # the newest fraction of consecutive-event pairs that is tested for a trend
NO_DRIFT_UP_TO = 1.2  # drift ratios up to this are stationary data (sampling noise of small data included)
FULL_DRIFT_AT = 1.7  # from this ratio on the weighting is at full strength
MIN_WINDOW_PAIRS = 50  # fewer pairs in the newest window than this: no evidence either way, no weighting
_BACKOFF = 5.0  # a previous item seen n times trusts its own successor counts with weight n / (n + 5)


@dataclass(frozen=True)
class Recency:
    """What recency_mask decided for a training set (kept in the training record, for inspection)."""

    drift: float  # cross-entropy ratio newest / held-out older (nan when there was too little data)
    strength: float  # 0 = every event weighs 1; 1 = the full curve

    def to_dict(self) -> dict:
        return {"drift": None if np.isnan(self.drift) else round(float(self.drift), 4),
                "strength": round(float(self.strength), 4)}


def decide(items: np.ndarray, times: np.ndarray, user_start: np.ndarray, seed: int) -> Recency:
    """Measure the trend of a training set (events grouped by user, in time order) and the strength it earns."""
    drift = drift_ratio(items, times, user_start, seed)
    if np.isnan(drift):
        return Recency(drift, 0.0)
    return Recency(drift, float(np.clip((drift - NO_DRIFT_UP_TO) / (FULL_DRIFT_AT - NO_DRIFT_UP_TO), 0.0, 1.0)))


def drift_ratio(items: np.ndarray, times: np.ndarray, user_start: np.ndarray, seed: int) -> float:
    """Cross-entropy of the newest pairs over that of held-out older pairs, under a bigram fit on the rest."""
    same_user = ~user_start[1:]
    prev, nxt, when = items[:-1][same_user], items[1:][same_user], times[1:][same_user]
    if prev.size == 0:
        return float("nan")
    newest = when > np.quantile(when, 1.0 - DRIFT_WINDOW, method="lower")
    older = np.flatnonzero(~newest)
    if newest.sum() < MIN_WINDOW_PAIRS or older.size < 2 * newest.sum():
        return float("nan")
    held = np.random.default_rng(seed).random(older.size) < newest.sum() / older.size
    fit, check = older[~held], older[held]
    n_items = int(items.max()) + 1
    model = _Bigram.fit(prev[fit].astype(np.int64), nxt[fit].astype(np.int64), n_items)
    return model.cross_entropy(prev[newest], nxt[newest]) / model.cross_entropy(prev[check], nxt[check])


@dataclass(frozen=True)
class _Bigram:
    pairs: np.ndarray  # sorted keys prev * n_items + next
    counts: np.ndarray
    row_totals: np.ndarray  # occurrences of each item as a previous item
    unigram: np.ndarray  # add-half smoothed next-item distribution
    n_items: int

    @classmethod
    def fit(cls, prev: np.ndarray, nxt: np.ndarray, n_items: int) -> "_Bigram":
        pairs, counts = np.unique(prev * n_items + nxt, return_counts=True)
        unigram = np.bincount(nxt, minlength=n_items) + 0.5
        return cls(pairs, counts, np.bincount(prev, minlength=n_items), unigram / unigram.sum(), n_items)

    def cross_entropy(self, prev: np.ndarray, nxt: np.ndarray) -> float:
        keys = prev.astype(np.int64) * self.n_items + nxt
        pos = np.clip(np.searchsorted(self.pairs, keys), 0, max(len(self.pairs) - 1, 0))
        seen = self.counts[pos] * (self.pairs[pos] == keys) if len(self.pairs) else np.zeros(len(keys))
        total = self.row_totals[prev]
        trust = total / (total + _BACKOFF)
        p = trust * seen / np.maximum(total, 1) + (1.0 - trust) * self.unigram[nxt]
        return float(-np.log(p).mean())


def recency_weights(times: np.ndarray, half_life_days: float, floor: float, strength: float) -> np.ndarray:
    """float32 weights in [floor, 1]: 1 for the newest event, and 1 everywhere when ``strength`` is 0."""
    if times.size == 0 or strength <= 0.0:
        return np.ones(times.size, dtype=np.float32)
    age_days = (times.max() - times).astype(np.float64) / SECONDS_PER_DAY
    curve = floor + (1.0 - floor) * np.exp2(-age_days / half_life_days)
    return (1.0 - strength * (1.0 - curve)).astype(np.float32)
