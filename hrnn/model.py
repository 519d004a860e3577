"""The hierarchical RNN of Quadrana et al. (RecSys 2017, "HRNN-Init"), in PyTorch.

A session-level GRU reads the user's items; a user-level GRU reads each finished session's final state.
At a session start the session state is initialised from the user state, ``tanh(W h_u + b)``; at a user
start both states are zero. The session GRU's input is the item embedding plus the log-scaled time gap to the
user's previous event, so the gates are "a learnable function of the items and timestamps". Scores are the
dot product of the session state with the (tied) item embedding plus an item bias.

The GRU cells are written out so that the input projection of a whole ``bptt`` window is one matrix multiply
and each step costs only the recurrent multiply. On a GPU the per-step state resets are arithmetic masks, so the
loop never synchronises with the device; on the CPU the start masks are read on the host and the user-level GRU
runs only on the rows where a session starts (:meth:`HRNN._run_window_rows`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

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


def _gru(gi: torch.Tensor, h: torch.Tensor, hh: nn.Linear) -> torch.Tensor:
    """One GRU step (PyTorch's gate layout r, z, n) from precomputed input gates ``gi``.

    ``split`` rather than slicing: its backward concatenates the gate gradients instead of filling
    zero tensors per slice, which is a measurable share of a CPU step.
    """
    hidden = h.shape[-1]
    gi_rz, gi_n = gi.split((2 * hidden, hidden), dim=1)
    gh_rz, gh_n = hh(h).split((2 * hidden, hidden), dim=1)
    r, z = torch.sigmoid(gi_rz + gh_rz).split(hidden, dim=1)
    n = torch.tanh(gi_n + r * gh_n)
    return n + z * (h - n)


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

    def input_gates(self, items: torch.Tensor, gaps: torch.Tensor) -> torch.Tensor:
        """Session-GRU input projections for a whole window: [T, B] -> [T, B, 3H]."""
        x = self.dropout(self.item_embedding(items))
        return self.session_ih(torch.cat([x, gaps.unsqueeze(-1).to(x.dtype)], dim=-1))

    def step(self, gi: torch.Tensor, h_s: torch.Tensor, h_u: torch.Tensor,
             session_start: torch.Tensor, user_start: torch.Tensor):
        """Advance every slot by one event. ``session_start``/``user_start`` are [B, 1] float masks.

        Returns the new session state, the user state, and ``h_start``: the state this step's session
        starts from (``tanh(W h_u + b)``; zero for the session-only model), which is what the model knows
        about the user before it sees the session's first item.
        """
        if self.config.hierarchical:
            keep_user = 1.0 - user_start
            # The previous step's session state is the finished session's final state: commit it to the user
            # state only where a new session (of the same user) starts; a new user starts from zero.
            updated = _gru(self.user_ih(h_s), h_u, self.user_hh)
            h_u = keep_user * (h_u + session_start * (updated - h_u))
            h_start = keep_user * torch.tanh(self.session_init(h_u))
        else:
            h_start = torch.zeros_like(h_s)
        h_s = h_s + session_start * (h_start - h_s)
        return _gru(gi, h_s, self.session_hh), h_u, h_start

    def run_window(self, items: torch.Tensor, gaps: torch.Tensor, session_start: torch.Tensor,
                   user_start: torch.Tensor, h_s: torch.Tensor, h_u: torch.Tensor):
        """Run T steps for B slots; returns the prediction states [T, B, H] and the carried (h_s, h_u).

        The prediction state of step t is the session state after its event, which predicts the next item
        of the session; where the user's next event starts a new session (inside the window), it is that
        session's start state instead, so the user-level GRU learns to predict the next session's first
        item from what it knows about the user.
        """
        gates = self.input_gates(items, gaps)
        if self.config.hierarchical and gates.device.type == "cpu" and session_start.device.type == "cpu":
            return self._run_window_rows(gates, session_start, user_start, h_s, h_u)
        s_start = session_start.unsqueeze(-1).to(gates.dtype)
        u_start = user_start.unsqueeze(-1).to(gates.dtype)
        new_session = s_start * (1.0 - u_start)
        states = []
        # unbind, not gates[t]: indexing's backward would fill a zero tensor of the whole window per step.
        for t, (gi, s, u) in enumerate(zip(gates.unbind(0), s_start.unbind(0), u_start.unbind(0))):
            h_s, h_u, h_start = self.step(gi, h_s, h_u, s, u)
            if t:
                states[-1] = states[-1] + new_session[t] * (h_start - states[-1])
            states.append(h_s)
        return torch.stack(states), h_s, h_u

    def _run_window_rows(self, gates: torch.Tensor, session_start: torch.Tensor, user_start: torch.Tensor,
                         h_s: torch.Tensor, h_u: torch.Tensor):
        """:meth:`run_window` on the CPU, where the start masks can be read without a device sync.

        The same state rules as :meth:`step`, but the user-level GRU and the session initialisation run only
        on the rows where a new session of the same user starts (about one slot in six), instead of on every
        slot at every step and then being masked away; user starts are zeroed only at steps that have one.
        On a GPU the masked form (:meth:`step`) is used: it needs no host-side indices.
        """
        users = user_start.numpy()
        new_session = session_start.numpy() & ~users
        keep_user = (~user_start).unsqueeze(-1).to(gates.dtype)
        states = []
        for t, gi in enumerate(gates.unbind(0)):
            if users[t].any():  # a new user (or an empty slot) starts from zero states
                h_s, h_u = h_s * keep_user[t], h_u * keep_user[t]
            rows = np.flatnonzero(new_session[t])
            if len(rows):
                rows = torch.from_numpy(rows)
                # The finished session's final state updates the user state; the new session starts from it.
                updated = _gru(self.user_ih(h_s[rows]), h_u[rows], self.user_hh)
                start = torch.tanh(self.session_init(updated))
                h_u = h_u.index_copy(0, rows, updated)
                h_s = h_s.index_copy(0, rows, start)
                if t:  # the previous event predicts this session's first item from its start state
                    states[-1] = states[-1].index_copy(0, rows, start)
            h_s = _gru(gi, h_s, self.session_hh)
            states.append(h_s)
        return torch.stack(states), h_s, h_u

    def next_session_state(self, h_s: torch.Tensor, h_u: torch.Tensor) -> torch.Tensor:
        """The state a new session of this user would start from, after a session that ended in ``h_s``."""
        if not self.config.hierarchical:
            return torch.zeros_like(h_s)
        return torch.tanh(self.session_init(_gru(self.user_ih(h_s), h_u, self.user_hh)))

    def score_all(self, states: torch.Tensor) -> torch.Tensor:
        """Scores of every item for each state: [..., H] -> [..., n_items]."""
        return torch.addmm(self.item_bias, states.reshape(-1, self.hidden), self.item_embedding.weight.t()).reshape(
            *states.shape[:-1], -1
        )
