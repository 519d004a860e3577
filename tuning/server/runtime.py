"""GetRecommendations under load: concurrent requests for one model are scored together.

Why: scoring one user is a [1, H] x [H, items] product that streams the whole item matrix from memory
(8 MB for 20K items at H = 100); scoring the requests that arrived meanwhile in one [B, H] product costs
little more than one. Requests run on the endpoint's request threads; for each model the first request
thread to find nobody scoring becomes the scorer: it scores everything queued (up to ``max_batch`` at a
time) until its own answer is ready, then hands the queue to a waiting thread. There is no waiting window:
an idle server scores a lone request at once.
"""

from __future__ import annotations

import threading
import weakref
from concurrent.futures import Future

MAX_BATCH = 64


class _Lane:
    def __init__(self):
        self.pending: list[tuple[str, int, Future]] = []
        self.scoring = False
        self.cond = threading.Condition()


class RecommendationBatcher:
    def __init__(self, max_batch: int = MAX_BATCH):
        self.max_batch = max_batch
        # A lane per model, gone with the model (an UpdateCampaign or DeleteCampaign lets the old one go).
        self._lanes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._guard = threading.Lock()

    def _lane(self, model) -> _Lane:
        with self._guard:
            lane = self._lanes.get(model)
            if lane is None:
                lane = self._lanes[model] = _Lane()
            return lane

    def recommend(self, model, user_id: str, num_results: int) -> dict:
        """The model's row for one user (``{"itemList": [...]}``, at least ``num_results`` items if it has them)."""
        lane = self._lane(model)
        future: Future = Future()
        with lane.cond:
            lane.pending.append((user_id, num_results, future))
            while not future.done() and lane.scoring:
                lane.cond.wait()
            if future.done():
                return future.result()
            lane.scoring = True
        try:
            while not future.done():
                with lane.cond:
                    batch, lane.pending = lane.pending[:self.max_batch], lane.pending[self.max_batch:]
                self._score(model, batch)
                with lane.cond:
                    lane.cond.notify_all()  # the answered requests return
        finally:
            with lane.cond:
                lane.scoring = False
                lane.cond.notify_all()
        return future.result()

    @staticmethod
    def _score(model, batch: list[tuple[str, int, Future]]) -> None:
        if not batch:
            return
        users = [user for user, _, _ in batch]
        largest = max(k for _, k, _ in batch)  # a shorter list is a prefix of a longer one
        try:
            rows = model.recommend(users, largest)
        except Exception as exc:  # noqa: BLE001 - the failure reaches only this batch's requests
            for _, _, future in batch:
                future.set_exception(exc)
            return
        for (_, _, future), row in zip(batch, rows):
            future.set_result(row)
