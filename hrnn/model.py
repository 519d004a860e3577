"""The hierarchical RNN of Quadrana et al. (RecSys 2017, "HRNN-Init"), in PyTorch.

A session-level GRU reads the user's items; a user-level GRU reads each finished session's final state.
At a session start the session state is initialised from the user state, ``tanh(W h_u + b)``; at a user
start both states are zero. The session GRU's input is the item embedding plus the log-scaled time gap to the
user's previous event, so the gates are "a learnable function of the items and timestamps". Scores are the
dot product of the session state with the (tied) item embedding plus an item bias.

Where the hierarchy lives: :meth:`HRNN.user_update` (what the user-level GRU reads and how it advances) and
:meth:`HRNN.session_start_state` (the state a session starts from), which :meth:`HRNN.recur_masked` and
scoring call. :mod:`hrnn.recurrence` writes the same two steps out again, forward and backward, for the
CPU's one-node window; a change to what the user GRU reads or how a session is initialised is a change in
both places (``tests/test_recurrence.py`` checks that they agree).

The input projection of a whole ``bptt`` window is one matrix multiply; each step costs the recurrent
multiply and a fused GRU cell (:mod:`hrnn.gru`). Two recurrences compute the same states:

* :meth:`HRNN.recur_masked`: the per-step resets are arithmetic masks and the user-level GRU runs on every
  slot, so nothing is read on the host: the path for CUDA (and CUDA graphs);
* :meth:`HRNN.recur_rows`: the start masks are read on the host and the user-level GRU runs only on the rows
  where a session starts (about one slot in six), the whole window one autograd node with a hand-written
  backward through time (:mod:`hrnn.recurrence`): the path for the CPU.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from .gru import DeferredGrad, gru_cell, linear
from .recurrence import Resets, recur_window
from .recipe import HRNN_RECIPE, HyperParameterValues

_DEFAULTS = HRNN_RECIPE.defaults


@dataclass(frozen=True)
class ModelConfig:
    n_items: int
    hidden_dimension: int = _DEFAULTS.hidden_dimension
    hierarchical: bool = True  # False: the session-only baseline (user GRU off, sessions start from zero)
    dropout: float = _DEFAULTS.dropout

    @classmethod
    def from_hyperparameters(cls, hp: HyperParameterValues, n_items: int, hierarchical: bool = True) -> "ModelConfig":
        return cls(n_items=n_items, hidden_dimension=hp.hidden_dimension, hierarchical=hierarchical,
                   dropout=hp.dropout)

    def to_dict(self) -> dict:
        return asdict(self)


GAP_SCALE = 0.1  # log1p(minutes) is ~0..12 over a year; scale it to the range of the embeddings


def gap_feature(times: torch.Tensor, user_start: torch.Tensor) -> torch.Tensor:
    """log1p(minutes since the user's previous event), zero at a user's first event."""
    prev = torch.cat([times[:1], times[:-1]])
    minutes = (times - prev).clamp(min=0).to(torch.float32) / 60.0
    return torch.where(user_start, torch.zeros_like(minutes), torch.log1p(minutes) * GAP_SCALE)


def event_inputs(data, device: torch.device):
    """The model's per-event inputs on ``device``, indexed by absolute event index: item indices, gap
    features, and the session-start and user-start masks of an :class:`~hrnn.data.InteractionData`."""
    user_start = torch.as_tensor(data.user_start_mask())
    return (torch.as_tensor(data.items.astype(np.int64)).to(device),
            gap_feature(torch.as_tensor(data.times), user_start).to(device),
            torch.as_tensor(data.session_start_mask()).to(device),
            user_start.to(device))


def _gru(gi: torch.Tensor, h: torch.Tensor, hh: nn.Linear, deferred: Deferred | None = None) -> torch.Tensor:
    """One GRU step (PyTorch's gate layout r, z, n) from precomputed input gates ``gi``."""
    return gru_cell(gi, h, hh.weight, hh.bias, deferred[hh] if deferred is not None else None)


def _linear(layer: nn.Linear, x: torch.Tensor, deferred: Deferred | None = None) -> torch.Tensor:
    return linear(x, layer, deferred[layer] if deferred is not None else None)


class Deferred:
    """The deferred weight gradients of one training window, one :class:`hrnn.gru.DeferredGrad` per layer
    used at every step (``deferred[layer]``); :meth:`flush` after the backward adds them all."""

    def __init__(self):
        self.grads: dict[int, DeferredGrad] = {}

    def __getitem__(self, layer: nn.Linear) -> DeferredGrad:
        if id(layer) not in self.grads:
            self.grads[id(layer)] = DeferredGrad(layer.weight, layer.bias)
        return self.grads[id(layer)]

    def flush(self) -> None:
        for grad in self.grads.values():
            grad.flush()


class HRNN(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        h = config.hidden_dimension
        self.item_embedding = nn.Embedding(config.n_items, h)
        self.item_bias = nn.Parameter(torch.zeros(config.n_items))
        self.session_ih = nn.Linear(h + 1, 3 * h)
        self.session_hh = nn.Linear(h, 3 * h)
        self.user_ih = nn.Linear(h, 3 * h)
        self.user_hh = nn.Linear(h, 3 * h)
        self.session_init = nn.Linear(h, h)
        self.dropout = nn.Dropout(config.dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform +-sqrt(6 / (fan_in + fan_out)) per gate block, zero biases (as the reference code)."""
        h = self.config.hidden_dimension
        bound = math.sqrt(6.0 / (self.config.n_items + h))
        nn.init.uniform_(self.item_embedding.weight, -bound, bound)
        for layer in (self.session_ih, self.session_hh, self.user_ih, self.user_hh):
            fan_in = layer.in_features
            b = math.sqrt(6.0 / (fan_in + h))
            nn.init.uniform_(layer.weight, -b, b)
            nn.init.zeros_(layer.bias)
        b = math.sqrt(6.0 / (2 * h))
        nn.init.uniform_(self.session_init.weight, -b, b)
        nn.init.zeros_(self.session_init.bias)

    @property
    def hidden(self) -> int:
        return self.config.hidden_dimension

    def initial_state(self, batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = torch.zeros(batch, self.hidden, device=device)
        return zeros, zeros.clone()

    # ---- the hierarchy: what the user GRU reads, and where a session starts from -----------------------
    def user_update(self, h_session_end: torch.Tensor, h_u: torch.Tensor,
                    deferred: Deferred | None = None) -> torch.Tensor:
        """The user state after a session that ended in ``h_session_end``."""
        return _gru(_linear(self.user_ih, h_session_end, deferred), h_u, self.user_hh, deferred)

    def session_start_state(self, h_u: torch.Tensor, deferred: Deferred | None = None) -> torch.Tensor:
        """The state a session of a user with state ``h_u`` starts from (HRNN-Init)."""
        return torch.tanh(_linear(self.session_init, h_u, deferred))

    # ---- inputs ------------------------------------------------------------------------------------------
    def gates_from_embeddings(self, x: torch.Tensor, gaps: torch.Tensor) -> torch.Tensor:
        """Session-GRU input projections ``[x, gap] W_ih^T + b_ih`` of ``[..., H]`` embeddings (no concat)."""
        weight = self.session_ih.weight
        flat = x.reshape(-1, self.hidden)
        base = torch.addr(self.session_ih.bias.expand(flat.shape[0], -1), gaps.reshape(-1).to(flat.dtype),
                          weight[:, -1])
        return torch.addmm(base, flat, weight[:, :-1].t()).reshape(*x.shape[:-1], -1)

    def input_gates(self, items: torch.Tensor, gaps: torch.Tensor) -> torch.Tensor:
        """Session-GRU input projections for a whole window: [T, B] -> [T, B, 3H]."""
        return self.gates_from_embeddings(self.dropout(self.item_embedding(items)), gaps)

    # ---- one step (evaluation and the reference for the tests) -------------------------------------------
    def step(self, gi: torch.Tensor, h_s: torch.Tensor, h_u: torch.Tensor,
             session_start: torch.Tensor, user_start: torch.Tensor):
        """Advance every slot by one event. ``session_start``/``user_start`` are [B, 1] float masks.

        Returns the new session state, the user state, and ``h_start``: the state this step's session
        starts from (zero for the session-only model), which is what the model knows about the user before
        it sees the session's first item.
        """
        h_s, h_u, h_start = self._start(h_s, h_u, session_start, 1.0 - user_start, None)
        return _gru(gi, h_s, self.session_hh), h_u, h_start

    def _start(self, h_s, h_u, session_start, keep_user, deferred):
        """The masked session start: the state every slot continues from at this step."""
        if self.config.hierarchical:
            # The previous step's session state is the finished session's final state: commit it to the user
            # state only where a new session (of the same user) starts; a new user starts from zero.
            h_u = torch.lerp(h_u, self.user_update(h_s, h_u, deferred), session_start) * keep_user
            h_start = self.session_start_state(h_u, deferred) * keep_user
        else:
            h_start = torch.zeros_like(h_s)
        return torch.lerp(h_s, h_start, session_start), h_u, h_start

    # ---- a window of steps ---------------------------------------------------------------------------------
    def run_window(self, items: torch.Tensor, gaps: torch.Tensor, session_start: torch.Tensor,
                   user_start: torch.Tensor, h_s: torch.Tensor, h_u: torch.Tensor):
        """Run T steps for B slots; returns the prediction states [T, B, H] and the carried (h_s, h_u).

        The prediction state of step t is the session state after its event, which predicts the next item
        of the session; where the user's next event starts a new session (inside the window), it is that
        session's start state instead, so the user-level GRU learns to predict the next session's first
        item from what it knows about the user.
        """
        gates = self.input_gates(items, gaps)
        if session_start.device.type == "cpu":
            return self.recur_rows(gates, session_start.numpy(), user_start.numpy(), h_s, h_u)
        return self.recur_masked(gates, session_start, user_start, h_s, h_u)

    def recur_masked(self, gates, session_start, user_start, h_s, h_u, deferred: Deferred | None = None):
        """:meth:`run_window`'s recurrence from input gates, with device-side masks (no host reads)."""
        s_start = session_start.unsqueeze(-1).to(gates.dtype)
        keep = 1.0 - user_start.unsqueeze(-1).to(gates.dtype)
        h_s, h_u = h_s.to(gates.dtype), h_u.to(gates.dtype)
        states, starts = [], []
        # unbind, not gates[t]: indexing's backward would fill a zero tensor of the whole window per step.
        for gi, s, k in zip(gates.unbind(0), s_start.unbind(0), keep.unbind(0)):
            h_s, h_u, h_start = self._start(h_s, h_u, s, k, deferred)
            h_s = _gru(gi, h_s, self.session_hh, deferred)
            states.append(h_s)
            starts.append(h_start)
        states = torch.stack(states)
        if len(starts) > 1:  # an event before a new session (of the same user) predicts from its start state
            new_session = (s_start * keep)[1:]
            head = torch.lerp(states[:-1], torch.stack(starts[1:]), new_session)
            states = torch.cat([head, states[-1:]])
        return states, h_s, h_u

    def recur_rows(self, gates, session_start: np.ndarray, user_start: np.ndarray, h_s, h_u):
        """:meth:`run_window`'s recurrence with host-side masks, as one autograd node
        (:func:`hrnn.recurrence.recur_window`): the user-level GRU and the session initialisation run only on
        the rows where a new session of the same user starts. The same state rules as :meth:`recur_masked`,
        except that an event before a new user predicts from zero (it has no target)."""
        resets = Resets.from_masks(session_start, user_start, self.config.hierarchical, gates.device)
        return recur_window(gates, resets, h_s, h_u, self.recurrent_weights(), self.config.hierarchical)

    def recurrent_weights(self) -> list[torch.Tensor]:
        """The weights of the recurrence, in :func:`hrnn.recurrence.recur_window`'s order."""
        return [p for layer in (self.session_hh, self.user_ih, self.user_hh, self.session_init)
                for p in (layer.weight, layer.bias)]

    # ---- scores ----------------------------------------------------------------------------------------------
    def next_session_state(self, h_s: torch.Tensor, h_u: torch.Tensor) -> torch.Tensor:
        """The state a new session of this user would start from, after a session that ended in ``h_s``."""
        if not self.config.hierarchical:
            return torch.zeros_like(h_s)
        return self.session_start_state(self.user_update(h_s, h_u))

    def score_all(self, states: torch.Tensor) -> torch.Tensor:
        """Scores of every item for each state: [..., H] -> [..., n_items]."""
        return torch.addmm(self.item_bias, states.reshape(-1, self.hidden), self.item_embedding.weight.t()).reshape(
            *states.shape[:-1], -1
        )
