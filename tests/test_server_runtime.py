"""GetRecommendations under load, without a server: batching of concurrent requests, and the top-k that
scores them (linear in the catalogue, with the full sort's order)."""

from __future__ import annotations

import gc
import threading
import time
import weakref

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


def _concurrently(batcher, model, requests: list[tuple[str, int]], first: tuple[str, int] | None = None):
    """Each request on its own thread (as the endpoint's request threads); ``first`` starts alone and is being
    scored when the others arrive. Results (or exceptions) in the order of ``[first] + requests``."""
    results: dict[int, object] = {}

    def ask(i: int, user: str, k: int) -> None:
        try:
            results[i] = batcher.recommend(model, user, k)
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            results[i] = exc

    threads = []
    if first is not None:
        threads.append(threading.Thread(target=ask, args=(0, *first)))
        threads[0].start()
        time.sleep(0.01)  # the first is being scored
    offset = len(threads)
    threads += [threading.Thread(target=ask, args=(offset + i, u, k)) for i, (u, k) in enumerate(requests)]
    for t in threads[offset:]:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return [results[i] for i in range(len(threads))]


def test_requests_that_arrive_while_a_batch_is_scored_form_the_next_batch():
    model = _SlowModel()
    batcher = RecommendationBatcher()
    rows = _concurrently(batcher, model, [(f"u{i}", 2 + i % 3) for i in range(1, 10)], first=("u0", 3))
    assert model.batches[0] == ["u0"] and sorted(model.batches[1]) == sorted(f"u{i}" for i in range(1, 10))
    assert len(model.batches) == 2  # the nine that arrived meanwhile were scored together
    for i, row in enumerate(rows):
        assert row["itemList"][0]["itemId"] == f"u{i}-0"
        assert len(row["itemList"]) >= (3 if i == 0 else 2 + i % 3)  # at least what was asked (a prefix)


def test_a_model_the_server_no_longer_serves_is_not_held_by_the_batcher():
    """After UpdateCampaign or DeleteCampaign drops a model, its memory is freed: the batcher keeps no lane
    (and no reference) for it."""
    batcher = RecommendationBatcher()
    model = _SlowModel(pause=0)
    assert batcher.recommend(model, "u1", 2)["itemList"][0]["itemId"] == "u1-0"
    gone = weakref.ref(model)
    del model
    gc.collect()
    assert gone() is None


def test_a_batch_is_capped_and_a_failure_reaches_only_its_batch():
    model = _SlowModel(pause=0.05)
    batcher = RecommendationBatcher(max_batch=4)
    users = ["a", "b", "c", "bad", "d", "e"]
    results = _concurrently(batcher, model, [(u, 1) for u in users], first=("first", 1))
    assert [len(b) for b in model.batches][0] == 1 and all(len(b) <= 4 for b in model.batches)
    assert sum(len(b) for b in model.batches) == 7
    failed = next(b for b in model.batches if "bad" in b)
    for user, result in zip(["first", *users], results):
        if user in failed:
            assert isinstance(result, ValueError)  # the batch with "bad"
        else:
            assert result["itemList"][0]["itemId"] == f"{user}-0"


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
