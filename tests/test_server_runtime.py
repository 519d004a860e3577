"""GetRecommendations under load, without a server: batching of concurrent requests, and the top-k that
scores them (linear in the catalogue, with the full sort's order)."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from hrnn.artifact import _top
from tuning.server.runtime import RecommendationBatcher


class _SlowModel:
    """Answers ``k`` items per user, named after the user, after a pause; records each batch."""

    def __init__(self, pause: float = 0.05):
        self.pause = pause
        self.batches: list[list[str]] = []
        self.threads: set[str] = set()

    def recommend(self, users: list[str], k: int) -> list[dict]:
        self.batches.append(list(users))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.pause)
        if "bad" in users:
            raise ValueError("bad user")
        return [{"itemList": [{"itemId": f"{u}-{i}", "score": 1.0 / (i + 1)} for i in range(k)]} for u in users]


def _run(coroutine):
    return asyncio.run(coroutine)


def test_requests_that_arrive_while_a_batch_is_scored_form_the_next_batch():
    model = _SlowModel()
    batcher = RecommendationBatcher(ThreadPoolExecutor(1, thread_name_prefix="infer"))

    async def main():
        first = asyncio.ensure_future(batcher.recommend(model, "u0", 3))
        await asyncio.sleep(0.01)  # u0 is being scored
        rest = [batcher.recommend(model, f"u{i}", 2 + i % 3) for i in range(1, 10)]
        return await asyncio.gather(first, *rest)

    rows = _run(main())
    assert model.batches == [["u0"], [f"u{i}" for i in range(1, 10)]]
    assert model.threads == {"infer_0"}  # scored off the event loop
    for i, row in enumerate(rows):
        assert row["itemList"][0]["itemId"] == f"u{i}-0"
        assert len(row["itemList"]) >= (3 if i == 0 else 2 + i % 3)  # at least what was asked (a prefix)


def test_a_batch_is_capped_and_a_failure_reaches_only_its_batch():
    model = _SlowModel(pause=0.02)
    batcher = RecommendationBatcher(ThreadPoolExecutor(1), max_batch=4)

    async def main():
        blocker = asyncio.ensure_future(batcher.recommend(model, "first", 1))
        await asyncio.sleep(0.005)
        calls = [batcher.recommend(model, u, 1) for u in ("a", "b", "c", "bad", "d", "e")]
        results = await asyncio.gather(blocker, *calls, return_exceptions=True)
        return results

    results = _run(main())
    assert [len(b) for b in model.batches] == [1, 4, 2]
    assert all(isinstance(r, ValueError) for r in results[1:5])  # the batch with "bad"
    assert [r["itemList"][0]["itemId"] for r in (results[0], results[5], results[6])] == ["first-0", "d-0", "e-0"]


@pytest.mark.parametrize("kind", ["softmax", "quantised", "constant"])
def test_the_linear_top_k_orders_exactly_as_a_full_stable_sort(kind):
    rng = np.random.default_rng(7)
    if kind == "softmax":
        probs = torch.softmax(torch.from_numpy(rng.normal(size=(4, 20_000))).float(), dim=1)
    elif kind == "quantised":  # large tie groups at the k-th score
        probs = torch.from_numpy(np.round(rng.random((4, 5_000)) * 3) / 3)
    else:
        probs = torch.full((2, 1_000), 1e-3)
    for k in (1, 25, 500):
        full = torch.argsort(probs, dim=1, descending=True, stable=True)[:, :k]
        scores, items = _top(probs, k)
        np.testing.assert_array_equal(items, full.numpy())
        np.testing.assert_array_equal(scores, probs.gather(1, full).numpy())
