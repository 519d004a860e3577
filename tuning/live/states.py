"""A campaign's model with its users' live states: the stored states, advanced by the tracked events that
arrived after the model was trained (:mod:`hrnn.serving` does the step; this module keeps the table).

* **Whose state an event moves.** An event with a ``userId`` moves that user's state; one without moves its
  session's (anonymous) state. When an event of a session first carries a ``userId``, the session's earlier
  anonymous events are given to that user (in order, before the new one) and the session is joined to the
  user, so its later events move the user too; the anonymous state stays answerable under the session id (the
  service asks clients to pass the session id as the userId of an anonymous user).
* **In order, once.** Events are applied in the log's order, each once (``seq``); a gap (events this model has
  not seen) is filled from the log first, so a model loaded while events arrive misses none.
* **Batched.** The events that arrive together (one commit of the log) move their users' states in one call
  of the model's forward per distinct number of events (:func:`hrnn.serving.advance_window`: a window of
  ``T`` events for ``B`` users, a few small multiplies whatever ``B``).
* **Recommendations** for a user with a live state are scored from it (:meth:`LoadedModel.recommend_states`),
  for everyone else from the stored states, with the same scoring and top-k.
"""

from __future__ import annotations

import threading
from collections import defaultdict

import numpy as np
import torch

from hrnn.serving import UserStates, advance_window

from .eventlog import Event, EventLog


class LiveModel:
    def __init__(self, model, log: EventLog | None, trained_through: int = -1):
        self.model = model  # hrnn.artifact.LoadedModel
        self.live = model.user_level is not None  # a format 1 directory cannot advance users: it stays as stored
        self.log = log
        self.applied = trained_through  # the seq of the newest event in these states
        self._rows: dict[tuple[str, str], int] = {}  # ("u", userId) / ("s", sessionId) -> row
        self._joined: dict[str, str] = {}  # sessionId -> the userId it was joined to
        self._anonymous: dict[str, list[Event]] = defaultdict(list)  # sessionId -> events not yet joined
        self._states = UserStates.new_users(0, model.model.hidden)
        self._lock = threading.RLock()
        if log is not None:
            self.apply(log.events(after=trained_through))

    # ---- events ---------------------------------------------------------------------------------------
    def apply(self, events: list[Event]) -> None:
        """Advance the states by these events (from one log, in its order); already applied ones are skipped."""
        if not self.live:
            return
        with self._lock:
            if events and events[0].seq > self.applied + 1 and self.log is not None:
                events = self.log.events(after=self.applied)  # fill the gap from the log
            steps = self._steps([e for e in events if e.seq > self.applied])
            if events:
                self.applied = max(self.applied, events[-1].seq)
            self._advance(steps)

    def _steps(self, events: list[Event]) -> list[tuple[tuple[str, str], Event]]:
        """(whose state, event) for each state move, in order (joining sessions on the way)."""
        steps = []
        for e in events:
            if e.user_id is not None:
                user = ("u", e.user_id)
                if e.session_id not in self._joined:
                    self._joined[e.session_id] = e.user_id
                    steps += [(user, earlier) for earlier in self._anonymous.pop(e.session_id, [])]
                steps.append((user, e))
            elif e.session_id in self._joined:
                steps.append((("u", self._joined[e.session_id]), e))
            else:
                self._anonymous[e.session_id].append(e)
                steps.append((("s", e.session_id), e))
        return steps

    def _advance(self, steps: list[tuple[tuple[str, str], Event]]) -> None:
        """Rounds of one event per state: each round is one step of the model for all of them."""
        items = self.model.item_indices([e.item_id or "" for _, e in steps])
        known = [(key, e, item) for (key, e), item in zip(steps, items) if e.item_id is not None and item >= 0]
        if not known:
            return  # an item the model does not know moves no state (it is recorded all the same)
        queues: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
        for key, e, item in known:
            queues[key].append((int(item), int(e.sent_at)))
        rows = dict(zip(queues, self._ensure(list(queues))))
        by_length: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for key, queue in queues.items():
            by_length[len(queue)].append(key)
        s = self._states
        for keys in by_length.values():
            window = np.asarray([queues[k] for k in keys], dtype=np.int64).transpose(1, 0, 2)  # [T, B, (item, time)]
            index = torch.as_tensor([rows[k] for k in keys])
            s.put(index, advance_window(self.model.model, s.take(index), window[..., 0], window[..., 1],
                                        self.model.info["session_timeout_seconds"]))

    def _ensure(self, keys: list[tuple[str, str]]) -> list[int]:
        """Rows for these states, new ones from the model's stored states (a user it knows) or empty."""
        new = [k for k in keys if k not in self._rows]
        if new:
            users = [name if kind == "u" else "" for kind, name in new]
            fresh = self.model.states(users)
            anonymous = torch.as_tensor([kind == "s" for kind, _ in new])
            fresh.h_s[anonymous], fresh.h_u[anonymous] = 0.0, 0.0
            fresh.last_time[anonymous], fresh.has_history[anonymous] = 0, False
            base = len(self._rows)
            self._grow(base + len(new))
            self._states.put(torch.arange(base, base + len(new)), fresh)
            for i, key in enumerate(new):
                self._rows[key] = base + i
        return [self._rows[k] for k in keys]

    # ---- recommendations ------------------------------------------------------------------------------
    def recommend(self, user_ids: list[str], num_results: int = 25, at_time: float | None = None,
                  masks: torch.Tensor | None = None) -> list[dict]:
        """GetRecommendations for these users (the batcher's signature): live states where there are some.
        ``masks`` as :meth:`LoadedModel.recommend` takes them (a filter's allowed items)."""
        with self._lock:
            rows = [self._rows.get(("u", str(u)), self._rows.get(("s", str(u)))) for u in user_ids]
            live = [i for i, r in enumerate(rows) if r is not None]
            states = self._states.take(torch.as_tensor([rows[i] for i in live], dtype=torch.int64)) if live else None
        if not live:
            return self.model.recommend(user_ids, num_results, at_time, masks)
        out: list = [None] * len(user_ids)
        stored = [i for i in range(len(user_ids)) if rows[i] is None]
        pick = (lambda ids: None if masks is None else masks[torch.as_tensor(ids, dtype=torch.int64)])
        for i, row in zip(live, self.model.recommend_states(states, num_results, at_time, pick(live))):
            out[i] = row
        if stored:
            answers = self.model.recommend([user_ids[i] for i in stored], num_results, at_time, pick(stored))
            for i, row in zip(stored, answers):
                out[i] = row
        return out

    def _grow(self, size: int) -> None:
        """Room for ``size`` rows (capacity doubles: adding a user costs O(1) amortised)."""
        capacity = len(self._states)
        if size <= capacity:
            return
        bigger = UserStates.new_users(max(size, 2 * capacity, 64), self._states.h_s.shape[1])
        bigger.put(torch.arange(capacity), self._states)
        self._states = bigger

    def active_users(self) -> int:
        with self._lock:
            return len(self._rows)
