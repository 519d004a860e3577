"""Live sessions: users' states advanced by their new events as they happen, and the states to score from.

A model directory stores, per known user, what the model knows after their history (:class:`UserStates`):
the session state, the user-level state and the time of their last event. :func:`advance` moves a batch
of users on by one event each through the model's public forward (:meth:`~hrnn.model.HRNN.encode`,
:meth:`~hrnn.model.HRNN.advance`): the computation that training and evaluation run over the same events,
with the same session rule (a gap above the session timeout closes the session through the user-level GRU)
and the same gap feature, so a user advanced event by event is where recomputing their whole history would
put them (``tests/test_serving.py`` checks states and recommendations). :func:`query_states` gives the state
to score a user from at a query time. Both are a few small multiplies for the whole batch, no Python loop
over its users.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .model import HRNN, gaps_from_elapsed


@dataclass
class UserStates:
    """Users' live states, one row each (on the CPU)."""

    h_s: torch.Tensor  # [B, H] float32: the session state after the user's last event
    h_u: torch.Tensor  # [B, H] float32: the user-level state (the sessions before the current one)
    last_time: torch.Tensor  # [B] int64: epoch seconds of the user's last event
    has_history: torch.Tensor  # [B] bool: False for a user without events (zero states: a new user)

    @classmethod
    def new_users(cls, n: int, hidden: int) -> "UserStates":
        """``n`` users the model has seen no event of."""
        return cls(torch.zeros(n, hidden), torch.zeros(n, hidden), torch.zeros(n, dtype=torch.int64),
                   torch.zeros(n, dtype=torch.bool))

    def __len__(self) -> int:
        return int(self.last_time.shape[0])

    def take(self, rows) -> "UserStates":
        """The states of some users (an index or a boolean mask), as a new object."""
        rows = torch.as_tensor(rows)
        return UserStates(self.h_s[rows], self.h_u[rows], self.last_time[rows], self.has_history[rows])

    def put(self, rows, states: "UserStates") -> None:
        """Write ``states`` into these rows (an index or a boolean mask), in place."""
        rows = torch.as_tensor(rows)
        self.h_s[rows], self.h_u[rows], self.last_time[rows], self.has_history[rows] = (
            states.h_s, states.h_u, states.last_time, states.has_history)

    def copy(self) -> "UserStates":
        return UserStates(self.h_s.clone(), self.h_u.clone(), self.last_time.clone(), self.has_history.clone())


@torch.no_grad()
def advance(model: HRNN, states: UserStates, items, times, session_timeout_seconds: float) -> UserStates:
    """The states after one more event of each user: ``items`` [B] item indices (-1: an item the model does
    not know; that user's state and last time stay as they were), ``times`` [B] epoch seconds.

    A user without history starts as a new user (zero states, no gap); an event more than
    ``session_timeout_seconds`` after the user's last one starts a new session (the finished one advances the
    user-level state, and the session starts from it); the gap feature is the model's own. Returns new
    states; ``states`` is not changed."""
    items = torch.as_tensor(np.asarray(items, dtype=np.int64))
    times = torch.as_tensor(np.asarray(times, dtype=np.int64))
    if items.shape != (len(states),) or times.shape != (len(states),):
        raise ValueError(f"advance needs one item and one time per user ({len(states)}), got {tuple(items.shape)} "
                         f"and {tuple(times.shape)}")
    known = items >= 0
    if bool(known.all()):  # the usual case: every user moves
        return _step(model, states, items, times, session_timeout_seconds)
    out = states.copy()
    rows = torch.nonzero(known).squeeze(1)
    if len(rows):
        out.put(rows, _step(model, states.take(rows), items[rows], times[rows], session_timeout_seconds))
    return out


def _step(model: HRNN, states: UserStates, items: torch.Tensor, times: torch.Tensor, timeout: float) -> UserStates:
    """One known item per user: one step of the model's forward (T = 1) for the whole batch."""
    return advance_window(model, states, items.unsqueeze(0), times.unsqueeze(0), timeout)


@torch.no_grad()
def advance_window(model: HRNN, states: UserStates, items, times, session_timeout_seconds: float) -> UserStates:
    """The states after ``T`` more events of each user, in one call of the model's forward: ``items`` and
    ``times`` [T, B] (every item known to the model, each user's events in time order). The same rules as
    :func:`advance`, event by event; a window costs about what one step does, so a user's several new events
    (a PutEvents of ten) move their state at the price of one."""
    items = torch.as_tensor(np.asarray(items, dtype=np.int64))
    times = torch.as_tensor(np.asarray(times, dtype=np.int64))
    previous = torch.cat([states.last_time.unsqueeze(0), times[:-1]])
    elapsed = times - previous
    user_start = torch.zeros_like(items, dtype=torch.bool)
    user_start[0] = ~states.has_history
    session_start = user_start.numpy() | (elapsed.numpy() > session_timeout_seconds)  # as ingest cuts sessions
    gates = model.encode(items, gaps_from_elapsed(elapsed, user_start))
    _, h_s, h_u = model.advance(gates, session_start, user_start.numpy(), states.h_s, states.h_u)
    return UserStates(h_s, h_u, times[-1].clone(), torch.ones_like(states.has_history))


@torch.no_grad()
def query_states(model: HRNN, states: UserStates, at_time: float, session_timeout_seconds: float) -> torch.Tensor:
    """[B, H]: the state to score each user from at ``at_time`` (epoch seconds): within the session timeout
    of the user's last event their session continues; later (a returning user) the state their next session
    starts from. (Users without history have zero states; callers give them another answer.)"""
    returning = torch.as_tensor(at_time - states.last_time.numpy() > session_timeout_seconds)
    out = states.h_s.clone()
    if returning.any():
        out[returning] = model.next_session_state(states.h_s[returning], states.h_u[returning])
    return out
