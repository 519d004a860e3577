"""A window of the HRNN's row-wise recurrence (:meth:`hrnn.model.HRNN.advance`) as one autograd node, with
the backward through time written out by hand.

Written with autograd, every step of the session GRU, and every session start's user-level GRU and session
initialisation, is a handful of autograd nodes; at this model's sizes the bookkeeping of those nodes (and
the concatenations that gather their results) costs more than the arithmetic. Here the forward writes
every step's results into window-sized buffers, and the backward walks the steps in reverse with three
operations per step for the session GRU (its elementwise derivatives are computed for the whole window at
once, before the walk) plus a dozen at the steps where sessions start; every weight gradient is one
multiply over the window at the end.

The state rules are those of the masked recurrence (:meth:`hrnn.model.HRNN.advance` with ``masked=True``,
written with autograd step by step; ``tests/test_recurrence.py`` checks the two agree). The resets are read
on the host: at each step the user starts zero both states of their slots, and the slots where a new session
of the same user starts run the user-level GRU on the finished session's final state and start from
``tanh(W h_u + b)`` (from zero in the session-only model). The session state buffer ``S`` holds at ``S[t]``
the state step ``t`` continues from, so the prediction states are ``S[1:]``: before a new session, the
state it starts from (what the model knows about the user before the session's first item); before a new
user, zero (such an event has no target).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .gru import _as, elementwise_forward

_aten = torch.ops.aten


@dataclass
class Resets:
    """A window's resets, from its [T, B] host-side masks: per step, the rows where a session of the same
    user starts (``new``, hierarchical model only) and the rows whose states restart from zero (``zero``),
    as slices of two index tensors; ``offsets[t]`` is the position of step t's first new-session row among
    the window's new-session rows."""

    new: list
    zero: list
    offsets: list
    n_new: int

    @classmethod
    def from_masks(cls, session_start: np.ndarray, user_start: np.ndarray, hierarchical: bool,
                   device: torch.device | str = "cpu") -> "Resets":
        """The resets of host masks, their row indices on ``device`` (the recurrence's)."""
        session_start, user_start = np.asarray(session_start, bool), np.asarray(user_start, bool)
        if hierarchical:
            new, zero = session_start & ~user_start, user_start
        else:
            new, zero = np.zeros_like(user_start), session_start | user_start
        new_rows, new_offsets = _rows_by_step(new, device)
        zero_rows, zero_offsets = _rows_by_step(zero, device)
        steps = len(new_offsets) - 1
        return cls(new=[new_rows[new_offsets[t]:new_offsets[t + 1]] if new_offsets[t + 1] > new_offsets[t] else None
                        for t in range(steps)],
                   zero=[zero_rows[zero_offsets[t]:zero_offsets[t + 1]]
                         if zero_offsets[t + 1] > zero_offsets[t] else None for t in range(steps)],
                   offsets=new_offsets.tolist(), n_new=int(new_offsets[-1]))


def _rows_by_step(mask: np.ndarray, device) -> tuple[torch.Tensor, np.ndarray]:
    steps, rows = np.nonzero(mask)  # in step order
    offsets = np.concatenate([[0], np.cumsum(np.bincount(steps, minlength=mask.shape[0]))])
    return torch.from_numpy(rows.astype(np.int64)).to(device), offsets


def _gru_forward(gi, h, w_t, b, gh, rz, n, out) -> None:
    """One GRU step into preallocated buffers: ``gh`` the recurrent gates, ``rz`` the reset and update
    gates, ``n`` the candidate state, ``out`` the new state."""
    torch.addmm(b, h, w_t, out=gh)
    elementwise_forward(gi, gh, h, rz, n, out)


def _gru_coefficients(h, gh, rz, n) -> tuple[torch.Tensor, torch.Tensor]:
    """For GRU steps of inputs ``h`` [..., H]: ``c_gh`` [..., 3, H] with ``d gh = dh' * c_gh`` (gate blocks
    r, z, n), and ``c_n`` [..., H] with ``d gi_n = dh' * c_n`` (``d gi`` equals ``d gh`` in the r and z blocks).
    Together with ``dh = dh' * z + d gh W_hh`` that is the whole backward of a step."""
    hidden = h.shape[-1]
    r, z, gh_n = rz[..., :hidden], rz[..., hidden:], gh[..., 2 * hidden:]
    c_gh = h.new_empty(*h.shape[:-1], 3, hidden)
    c_n = _aten.tanh_backward(1.0 - z, n)  # (1 - z)(1 - n^2)
    _aten.sigmoid_backward.grad_input(h - n, z, grad_input=c_gh[..., 1, :])
    _aten.sigmoid_backward.grad_input(c_n * gh_n, r, grad_input=c_gh[..., 0, :])
    torch.mul(c_n, r, out=c_gh[..., 2, :])
    return c_gh, c_n


class _Saved:
    """The forward's buffers: everything the backward reads."""

    def __init__(self, gates: torch.Tensor, n_new: int):
        steps, batch, g = gates.shape
        hidden = g // 3
        new = gates.new_empty
        self.S = new(steps + 1, batch, hidden)  # S[t]: the state step t continues from; S[T]: the last state
        self.GH, self.RZ, self.N = new(steps, batch, g), new(steps, batch, 2 * hidden), new(steps, batch, hidden)
        # per new session: the finished session's state, the user state before and after, the start state
        self.HSE, self.HUI, self.HUN, self.ST = (new(n_new, hidden) for _ in range(4))
        self.GIU, self.GHU = new(n_new, g), new(n_new, g)
        self.RZU, self.NU = new(n_new, 2 * hidden), new(n_new, hidden)


def _forward(gates, h_s, h_u, resets: Resets, w) -> tuple[_Saved, torch.Tensor]:
    """Run the window; returns the buffers and the final user state."""
    w_hh, b_hh, w_uih, b_uih, w_uhh, b_uhh, w_init, b_init = w
    w_hh_t, w_uih_t, w_uhh_t, w_init_t = w_hh.t(), w_uih.t(), w_uhh.t(), w_init.t()
    s = _Saved(gates, resets.n_new)
    S = s.S
    S[0].copy_(h_s)
    hu = h_u.to(gates.dtype, copy=True)
    for t, gi in enumerate(gates.unbind(0)):
        state = S[t]
        zero = resets.zero[t]
        if zero is not None:  # a new user (or an empty slot), or any session of the session-only model
            state.index_fill_(0, zero, 0.0)
            hu.index_fill_(0, zero, 0.0)
        rows = resets.new[t]
        if rows is not None:  # the finished session's final state updates the user state, then the session starts
            k = slice(resets.offsets[t], resets.offsets[t + 1])
            torch.index_select(state, 0, rows, out=s.HSE[k])
            torch.index_select(hu, 0, rows, out=s.HUI[k])
            torch.addmm(b_uih, s.HSE[k], w_uih_t, out=s.GIU[k])
            _gru_forward(s.GIU[k], s.HUI[k], w_uhh_t, b_uhh, s.GHU[k], s.RZU[k], s.NU[k], out=s.HUN[k])
            torch.addmm(b_init, s.HUN[k], w_init_t, out=s.ST[k]).tanh_()
            hu.index_copy_(0, rows, s.HUN[k])
            state.index_copy_(0, rows, s.ST[k])
        _gru_forward(gi, state, w_hh_t, b_hh, s.GH[t], s.RZ[t], s.N[t], out=S[t + 1])
    return s, hu


def _backward(s: _Saved, d_pred, resets: Resets, w, hierarchical: bool):
    """The gradients of the gates, of the initial states and of the eight weights, from those of ``S[1:]``."""
    w_hh, _, w_uih, _, w_uhh, _, w_init, _ = w
    steps, batch, hidden = d_pred.shape
    c_gh, c_n = _gru_coefficients(s.S[:-1], s.GH, s.RZ, s.N)
    cu_gh, cu_n = _gru_coefficients(s.HUI, s.GHU, s.RZU, s.NU)
    cu_gi = cu_gh.clone()
    cu_gi[:, 2] = cu_n
    z, z_u = s.RZ[..., hidden:], s.RZU[:, hidden:]
    dS = d_pred.new_empty(steps + 1, batch, hidden)
    dS[0].zero_()
    dS[1:].copy_(d_pred)
    d_hu = d_pred.new_zeros(batch, hidden)
    DGH = d_pred.new_empty(steps, batch, 3, hidden)
    DGHU, DGIU = d_pred.new_empty(resets.n_new, 3, hidden), d_pred.new_empty(resets.n_new, 3, hidden)
    DA = d_pred.new_empty(resets.n_new, hidden)  # the session initialisation's pre-activation
    for t in range(steps - 1, -1, -1):
        dh, ds = dS[t + 1], dS[t]
        torch.mul(dh.unsqueeze(1), c_gh[t], out=DGH[t])
        ds.addcmul_(dh, z[t])
        ds.addmm_(DGH[t].view(batch, -1), w_hh)
        rows = resets.new[t]
        if rows is not None:
            k = slice(resets.offsets[t], resets.offsets[t + 1])
            _aten.tanh_backward.grad_input(ds.index_select(0, rows), s.ST[k], grad_input=DA[k])
            ds.index_fill_(0, rows, 0.0)  # the overwritten final state gets its gradient from the user GRU
            d_hun = torch.addmm(d_hu.index_select(0, rows), DA[k], w_init)
            torch.mul(d_hun.unsqueeze(1), cu_gh[k], out=DGHU[k])
            torch.mul(d_hun.unsqueeze(1), cu_gi[k], out=DGIU[k])
            ds.index_add_(0, rows, DGIU[k].view(len(rows), -1).mm(w_uih))
            d_hu.index_copy_(0, rows, torch.addmm(d_hun * z_u[k], DGHU[k].view(len(rows), -1), w_uhh))
        zero = resets.zero[t]
        if zero is not None:
            ds.index_fill_(0, zero, 0.0)
            d_hu.index_fill_(0, zero, 0.0)
    grads = list(_weight_grads(DGH.view(steps * batch, -1), s.S[:-1].reshape(steps * batch, hidden)))
    if hierarchical and resets.n_new:
        grads += [*_weight_grads(DGIU.view(resets.n_new, -1), s.HSE),
                  *_weight_grads(DGHU.view(resets.n_new, -1), s.HUI), *_weight_grads(DA, s.HUN)]
    else:  # no session started: the user-level weights get no gradient (as autograd would give)
        grads += [None] * 6
    torch.mul(dS[1:], c_n, out=DGH[:, :, 2])  # DGH becomes the input gates' gradient
    return DGH.view(steps, batch, -1), dS[0], d_hu, grads


def _weight_grads(gate_grad: torch.Tensor, inputs: torch.Tensor):
    return gate_grad.t().mm(inputs), gate_grad.sum(0)


def _cast(weights, dtype):
    return [_as(p, dtype) for p in weights]


class _WindowRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gates, h_s, h_u, resets, hierarchical, *weights):
        with torch.autocast(gates.device.type, enabled=False):
            w = _cast(weights, gates.dtype)
            saved, hu = _forward(gates, h_s, h_u, resets, w)
        ctx.saved, ctx.resets, ctx.hierarchical, ctx.weights = saved, resets, hierarchical, w
        ctx.dtypes = [p.dtype for p in weights]
        h_end = saved.S[-1].clone()
        ctx.mark_non_differentiable(h_end, hu)
        return saved.S[1:], h_end, hu

    @staticmethod
    def backward(ctx, d_pred, _d_h_end, _d_hu):
        with torch.autocast(d_pred.device.type, enabled=False):
            s, dtype = ctx.saved, ctx.saved.S.dtype
            d_gates, d_hs, d_hu, grads = _backward(s, d_pred.to(dtype).contiguous(), ctx.resets, ctx.weights,
                                                   ctx.hierarchical)
        del ctx.saved
        grads = [g if g is None or g.dtype == d else g.to(d) for g, d in zip(grads, ctx.dtypes)]
        return (d_gates, d_hs if ctx.needs_input_grad[1] else None, d_hu if ctx.needs_input_grad[2] else None,
                None, None, *grads)


def recur_window(gates: torch.Tensor, resets: Resets, h_s: torch.Tensor, h_u: torch.Tensor, weights,
                 hierarchical: bool):
    """The prediction states [T, B, H] of a window, its final session and user states, from the input
    gates [T, B, 3H], the window's :class:`Resets`, the carried states and the eight weights (session_hh,
    user_ih, user_hh, session_init: weight and bias each)."""
    if not torch.is_grad_enabled():
        saved, hu = _forward(gates, h_s, h_u, resets, _cast(weights, gates.dtype))
        return saved.S[1:], saved.S[-1], hu
    return _WindowRecurrence.apply(gates, h_s, h_u, resets, hierarchical, *weights)
