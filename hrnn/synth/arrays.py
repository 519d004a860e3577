"""Small numpy helpers shared by the stages, so that every stage builds its distributions the same way."""

from __future__ import annotations

import numpy as np


def halving_weights(k: int) -> np.ndarray:
    """Weights 1, 1/2, 1/4, ... normalised (4:2:1 for three): the first choice dominates without being sure."""
    w = 0.5 ** np.arange(k, dtype=np.float64)
    return w / w.sum()


def closed_cdf(weights: np.ndarray) -> np.ndarray:
    """Cumulative sum ending at exactly 1.0, so ``searchsorted(cdf, u, "right")`` never runs past the end."""
    cdf = np.cumsum(weights)
    cdf[-1] = 1.0
    return cdf


def segment_cumsum(x: np.ndarray, seg_start: np.ndarray, seg_id: np.ndarray) -> np.ndarray:
    """Inclusive cumulative sum of ``x`` restarted at each segment (segments contiguous, non-empty)."""
    c = np.cumsum(x)
    base = c[seg_start] - x[seg_start]
    c -= base[seg_id]
    return c
