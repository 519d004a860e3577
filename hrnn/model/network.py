"""The hierarchical RNN of Quadrana et al. (RecSys 2017, "HRNN-Init"), in PyTorch, and its public forward.

A session-level GRU reads the user's items; a user-level GRU reads each finished session's final state.
At a session start the session state is initialised from the user state, ``tanh(W h_u + b)``; at a user
start both states are zero. The session GRU's input is the item embedding plus the log-scaled time gap to the
user's previous event, so the gates are "a learnable function of the items and timestamps". Scores are the
dot product of the session state with the (tied) item embedding plus an item bias.

Training, evaluation, serving and the live-session step all compute through the same three methods:

* :meth:`HRNN.encode`: the session GRU's input gates of events (a window ``[T, B]``, or one event per user);
* :meth:`HRNN.advance`: the states through those events, with the session and user boundaries, and the
  state each event predicts the next item from;
* :meth:`HRNN.score`: every item's score from states (and :meth:`HRNN.next_session_state`: the state a
  user's next session starts from).

Where the hierarchy lives: :meth:`HRNN.user_update` (what the user-level GRU reads and how it advances) and
:meth:`HRNN.session_start_state` (the state a session starts from). :mod:`hrnn.model.recurrence` writes the
same two steps out again, forward and backward, for the row-wise recurrence; a change to what the user GRU
reads or how a session is initialised is a change in both places (``tests/test_recurrence.py`` checks that
they agree).

:meth:`HRNN.advance` has two recurrences that compute the same states (the training engine picks one,
:class:`hrnn.training.engine.Engine`; evaluation and serving use the row-wise one):

* masked: the per-step resets are arithmetic masks and the user-level GRU runs on every slot, so nothing is
  read on the host: the path for CUDA (and CUDA graphs);
* row-wise: the start masks are read on the host and the user-level GRU runs only on the rows where a
  session starts (about one slot in six), the whole window one autograd node with a hand-written backward
  through time (:mod:`hrnn.model.recurrence`): the path for the CPU.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ..hyperparameters import MODEL_SETTINGS, Settings, derive_settings
from ..recipe import HRNN_RECIPE
from .gru import DeferredGrad, gru_cell, linear
from .inputs import ItemRows, embed_project
from .recurrence import Resets, recur_window


@derive_settings(HRNN_RECIPE, MODEL_SETTINGS)
class ModelConfig(Settings):
    """The network's settings (saved with a model): the catalogue size, the hierarchy switch, and the
    recipe's model hyperparameters (``hidden_dimension``, ``dropout``; see :func:`derive_settings`)."""

    n_items: int
    hierarchical: bool = True  # False: the session-only baseline (user GRU off, sessions start from zero)


GAP_SCALE = 0.1  # log1p(minutes) is ~0..12 over a year; scale it to the range of the embeddings


def gaps_from_elapsed(elapsed: torch.Tensor, user_start: torch.Tensor) -> torch.Tensor:
    """The gap feature of events ``elapsed`` seconds (int64) after the user's previous one: log1p(minutes),
    scaled, and zero at a user's first event."""
    minutes = elapsed.clamp(min=0).to(torch.float32) / 60.0
    return torch.where(user_start, torch.zeros_like(minutes), torch.log1p(minutes) * GAP_SCALE)


def gap_feature(times: torch.Tensor, user_start: torch.Tensor) -> torch.Tensor:
    """The gap feature of a flat, time-ordered sequence of users' events (see :func:`gaps_from_elapsed`)."""
    prev = torch.cat([times[:1], times[:-1]])
    return gaps_from_elapsed(times - prev, user_start)


def event_inputs(data, device: torch.device):
    """The model's per-event inputs on ``device``, indexed by absolute event index: item indices, gap
    features, and the session-start and user-start masks of an :class:`~hrnn.data.InteractionData`."""
    user_start = torch.as_tensor(data.user_start_mask())
    return (torch.as_tensor(data.items.astype(np.int64)).to(device),
            gap_feature(torch.as_tensor(data.times), user_start).to(device),
            torch.as_tensor(data.session_start_mask()).to(device),
            user_start.to(device))


def _gru(gi: torch.Tensor, h: torch.Tensor, hh: nn.Linear, deferred: Deferred | None = None,
         fused: bool = True) -> torch.Tensor:
    """One GRU step (PyTorch's gate layout r, z, n) from precomputed input gates ``gi``."""
    return gru_cell(gi, h, hh.weight, hh.bias, deferred[hh] if deferred is not None else None, fused=fused)


def _linear(layer: nn.Linear, x: torch.Tensor, deferred: Deferred | None = None) -> torch.Tensor:
    return linear(x, layer, deferred[layer] if deferred is not None else None)


class Deferred:
    """The deferred weight gradients of one training window, one :class:`hrnn.model.gru.DeferredGrad` per
    layer used at every step (``deferred[layer]``); :meth:`flush` after the backward adds them all."""

    def __init__(self):
        self.grads: dict[int, DeferredGrad] = {}

    def __getitem__(self, layer: nn.Linear) -> DeferredGrad:
        if id(layer) not in self.grads:
            self.grads[id(layer)] = DeferredGrad(layer.weight, layer.bias)
        return self.grads[id(layer)]

    def flush(self) -> None:
        for grad in self.grads.values():
            grad.flush()


class Advanced(NamedTuple):
    """What :meth:`HRNN.advance` returns."""

    states: torch.Tensor  # [T, B, H]: the state each event predicts the user's next item from
    h_s: torch.Tensor  # [B, H]: the session states after the last step
    h_u: torch.Tensor  # [B, H]: the user states after the last step


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
        """The session and user states of ``batch`` new users: zero."""
        zeros = torch.zeros(batch, self.hidden, device=device)
        return zeros, zeros.clone()

    # ---- the public forward: encode, advance, score ------------------------------------------------------
    def encode(self, items: torch.Tensor, gaps: torch.Tensor, rows: ItemRows | None = None) -> torch.Tensor:
        """The session GRU's input gates ``[embedding, gap] W_ih^T + b_ih`` of events: ``items`` and ``gaps``
        of any shape (a window ``[T, B]``, one event per user ``[B]``) -> ``[..., 3H]``.

        Without ``rows`` the items index the embedding table (with the model's dropout in training mode).
        Training passes the window's gathered item rows (:class:`~hrnn.model.inputs.ItemRows`): the items
        index those rows, the rows' input dropout mask applies, and the backward adds the rows' gradient
        into ``rows.grad``, all as one autograd node."""
        if rows is not None:
            gates = embed_project(self.session_ih, rows.table, items, gaps, rows.dropout, rows.grad)
            return gates.reshape(*items.shape, -1)
        x = self.item_embedding(items)
        if self.training:
            x = self.dropout(x)
        weight = self.session_ih.weight
        flat = x.reshape(-1, self.hidden)
        base = torch.addr(self.session_ih.bias.expand(flat.shape[0], -1), gaps.reshape(-1).to(flat.dtype),
                          weight[:, -1])
        return torch.addmm(base, flat, weight[:, :-1].t()).reshape(*x.shape[:-1], -1)

    def advance(self, gates: torch.Tensor, session_start, user_start, h_s: torch.Tensor, h_u: torch.Tensor, *,
                masked: bool = False, fused_gru: bool = True, deferred: Deferred | None = None) -> Advanced:
        """Run ``T`` events of ``B`` users (slots) from their states ``h_s``, ``h_u`` [B, H]: ``gates``
        [T, B, 3H] from :meth:`encode`, ``session_start``/``user_start`` [T, B] bool (a user start is a
        session start too; an empty slot counts as a user start).

        At a user start both states restart from zero; at a session start of the same user the finished
        session's final state advances the user state (:meth:`user_update`) and the session starts from
        :meth:`session_start_state`. The state of step t (``states[t]``) is the session state after its
        event, which predicts the next item of the session; where the user's next event (inside the window)
        starts a new session, it is that session's start state instead, so the user-level GRU learns to
        predict the next session's first item from what it knows about the user.

        ``masked=False``: the row-wise recurrence; the masks are read on the host (numpy arrays or CPU
        tensors), the states may live on any device, and the window is one autograd node; an event before a
        new user predicts from zero (it has no target). ``masked=True``: the masked recurrence; the masks
        are tensors on the states' device and nothing is read back (CUDA graphs), ``fused_gru`` picks
        PyTorch's fused CUDA GRU kernels, and ``deferred`` collects the weight gradients of the steps.
        """
        if masked:
            return Advanced(*self._recur_masked(gates, session_start, user_start, h_s, h_u, deferred, fused_gru))
        resets = Resets.from_masks(np.asarray(session_start), np.asarray(user_start), self.config.hierarchical,
                                   gates.device)
        return Advanced(*recur_window(gates, resets, h_s, h_u, self.recurrent_weights(), self.config.hierarchical))

    def score(self, states: torch.Tensor, item_bias: torch.Tensor | None = None,
              out: torch.Tensor | None = None) -> torch.Tensor:
        """Every item's score for each state, ``[..., H] -> [..., n_items]``: the dot product with the item's
        embedding plus its bias (``item_bias`` instead of the model's: ``-inf`` for items never to be
        recommended). ``out``: a ``[n, n_items]`` buffer to write into."""
        flat = states.reshape(-1, self.hidden)
        bias = self.item_bias if item_bias is None else item_bias
        scores = torch.addmm(bias, flat, self.item_embedding.weight.t(), out=out)
        return scores.reshape(*states.shape[:-1], -1)

    def next_session_state(self, h_s: torch.Tensor, h_u: torch.Tensor) -> torch.Tensor:
        """The state a new session of this user would start from, after a session that ended in ``h_s``."""
        if not self.config.hierarchical:
            return torch.zeros_like(h_s)
        return self.session_start_state(self.user_update(h_s, h_u))

    # ---- the hierarchy: what the user GRU reads, and where a session starts from -----------------------
    def user_update(self, h_session_end: torch.Tensor, h_u: torch.Tensor, deferred: Deferred | None = None,
                    fused: bool = True) -> torch.Tensor:
        """The user state after a session that ended in ``h_session_end``."""
        return _gru(_linear(self.user_ih, h_session_end, deferred), h_u, self.user_hh, deferred, fused)

    def session_start_state(self, h_u: torch.Tensor, deferred: Deferred | None = None) -> torch.Tensor:
        """The state a session of a user with state ``h_u`` starts from (HRNN-Init)."""
        return torch.tanh(_linear(self.session_init, h_u, deferred))

    def recurrent_weights(self) -> list[torch.Tensor]:
        """The weights of the recurrence, in :func:`hrnn.model.recurrence.recur_window`'s order."""
        return [p for layer in (self.session_hh, self.user_ih, self.user_hh, self.session_init)
                for p in (layer.weight, layer.bias)]

    # ---- the masked recurrence ---------------------------------------------------------------------------
    def _start(self, h_s, h_u, session_start, keep_user, deferred, fused):
        """The masked session start: the state every slot continues from at this step."""
        if self.config.hierarchical:
            # The previous step's session state is the finished session's final state: commit it to the user
            # state only where a new session (of the same user) starts; a new user starts from zero.
            h_u = torch.lerp(h_u, self.user_update(h_s, h_u, deferred, fused), session_start) * keep_user
            h_start = self.session_start_state(h_u, deferred) * keep_user
        else:
            h_start = torch.zeros_like(h_s)
        return torch.lerp(h_s, h_start, session_start), h_u, h_start

    def _recur_masked(self, gates, session_start, user_start, h_s, h_u, deferred, fused):
        s_start = session_start.unsqueeze(-1).to(gates.dtype)
        keep = 1.0 - user_start.unsqueeze(-1).to(gates.dtype)
        h_s, h_u = h_s.to(gates.dtype), h_u.to(gates.dtype)
        states, starts = [], []
        # unbind, not gates[t]: indexing's backward would fill a zero tensor of the whole window per step.
        for gi, s, k in zip(gates.unbind(0), s_start.unbind(0), keep.unbind(0)):
            h_s, h_u, h_start = self._start(h_s, h_u, s, k, deferred, fused)
            h_s = _gru(gi, h_s, self.session_hh, deferred, fused)
            states.append(h_s)
            starts.append(h_start)
        states = torch.stack(states)
        if len(starts) > 1:  # an event before a new session (of the same user) predicts from its start state
            new_session = (s_start * keep)[1:]
            head = torch.lerp(states[:-1], torch.stack(starts[1:]), new_session)
            states = torch.cat([head, states[-1:]])
        return states, h_s, h_u
