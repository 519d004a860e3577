"""A GRU cell (PyTorch's gate layout r, z, n) whose forward and backward are one autograd node each.

Written with autograd's elementwise operations, a GRU step is about a dozen forward operations and as many
backward nodes; at the batch sizes of this model every one of them costs more to dispatch (a few
microseconds on a CPU, a kernel launch on a GPU) than to compute. Here the forward is the recurrent
multiply plus five fused elementwise operations and the backward is written out by hand:

* on CUDA the elementwise parts are PyTorch's fused GRU kernels (``aten::_thnn_fused_gru_cell`` and its
  backward: one kernel each way, the kernels ``nn.GRUCell`` uses), unless the caller asks otherwise
  (``fused=False``: the training engine's ``fused_gru`` setting);
* elsewhere (and with ``fused=False``) the same arithmetic as a few composite operations
  (``lerp``, ``addcmul``, ``tanh_backward``, ``sigmoid_backward``).

The weight gradient of the recurrent multiply can be *deferred* (:class:`DeferredGrad`): the backward of
each step then records its gate gradient, and one multiply per window adds ``sum_t dgh_t^T h_t`` to the
weight's gradient, instead of one small multiply (and an accumulation) per step.
"""

from __future__ import annotations

import torch

_aten = torch.ops.aten


class DeferredGrad:
    """Collects the output gradients of one affine map ``y = x W^T + b`` (a GRU's recurrent multiply, a
    linear layer) over a window, with their inputs; :meth:`flush` adds the weight and bias gradients of
    them all with one multiply. Used by training, which flushes after each backward."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor):
        self.weight, self.bias = weight, bias
        self.gate_grads: list[torch.Tensor] = []
        self.inputs: list[torch.Tensor] = []

    def record(self, gate_grad: torch.Tensor, h: torch.Tensor) -> None:
        self.gate_grads.append(gate_grad)
        self.inputs.append(h)

    def flush(self) -> None:
        if not self.gate_grads:
            return
        g = self.gate_grads[0] if len(self.gate_grads) == 1 else torch.cat(self.gate_grads)
        h = self.inputs[0] if len(self.inputs) == 1 else torch.cat(self.inputs)
        self.gate_grads, self.inputs = [], []
        g = g.to(self.weight.dtype)
        dw, db = g.t().mm(h.to(g.dtype)), g.sum(0)
        for p, d in ((self.weight, dw), (self.bias, db)):
            if p.grad is None:
                p.grad = d
            else:
                p.grad.add_(d)


def elementwise_forward(gi: torch.Tensor, gh: torch.Tensor, h: torch.Tensor, rz: torch.Tensor | None = None,
                        n: torch.Tensor | None = None, out: torch.Tensor | None = None):
    """A GRU step after its two multiplies: the new state, the reset and update gates ``rz`` and the
    candidate ``n``, into the given buffers when there are any (:mod:`hrnn.model.recurrence` keeps a window's)."""
    hidden = h.shape[1]
    rz = torch.add(gi[:, :2 * hidden], gh[:, :2 * hidden], out=rz).sigmoid_()
    n = torch.addcmul(gi[:, 2 * hidden:], rz[:, :hidden], gh[:, 2 * hidden:], out=n).tanh_()
    return torch.lerp(n, h, rz[:, hidden:], out=out), rz, n


def _elementwise_backward(grad: torch.Tensor, h: torch.Tensor, rz: torch.Tensor, n: torch.Tensor,
                          gh_n: torch.Tensor):
    """Gradients of the input gates, of the recurrent gates and of ``h`` through the update gate only."""
    hidden = h.shape[1]
    r, z = rz[:, :hidden], rz[:, hidden:]
    d_gi = grad.new_empty(grad.shape[0], 3 * hidden)
    d_n = d_gi[:, 2 * hidden:]
    _aten.tanh_backward.grad_input(torch.addcmul(grad, grad, z, value=-1.0), n, grad_input=d_n)  # dh (1-z)(1-n^2)
    d_rz = torch.empty_like(rz)
    torch.mul(d_n, gh_n, out=d_rz[:, :hidden])
    torch.mul(grad, h - n, out=d_rz[:, hidden:])
    _aten.sigmoid_backward.grad_input(d_rz, rz, grad_input=d_gi[:, :2 * hidden])
    d_gh = d_gi.clone()  # the recurrent gates' gradient differs only in the n block: times r
    d_gh[:, 2 * hidden:].mul_(r)
    return d_gi, d_gh, grad * z


def _as(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return t if t.dtype == dtype else t.to(dtype)


class _GRUCell(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gi, h, weight, bias, deferred, fused):
        gh = torch.addmm(_as(bias, h.dtype), h, _as(weight, h.dtype).t())
        if fused:
            out, workspace = _aten._thnn_fused_gru_cell(gi.contiguous(), gh, h.contiguous())
            ctx.save_for_backward(h, weight, workspace)
        else:
            out, rz, n = elementwise_forward(gi, gh, h)
            ctx.save_for_backward(h, weight, rz, n, gh[:, 2 * h.shape[1]:])
        ctx.fused, ctx.deferred = fused, deferred
        return out

    @staticmethod
    def backward(ctx, grad):
        if ctx.fused:
            h, weight, workspace = ctx.saved_tensors
            d_gi, d_gh, d_h = _aten._thnn_fused_gru_cell_backward(grad.contiguous(), workspace, False)[:3]
        else:
            h, weight, rz, n, gh_n = ctx.saved_tensors
            d_gi, d_gh, d_h = _elementwise_backward(grad, h, rz, n, gh_n)
        d_h = torch.addmm(d_h, d_gh, _as(weight, d_gh.dtype))
        if ctx.deferred is not None:
            ctx.deferred.record(d_gh, h)
            return d_gi, d_h, None, None, None, None
        d_w = d_gh.t().mm(h) if ctx.needs_input_grad[2] else None
        d_b = d_gh.sum(0) if ctx.needs_input_grad[3] else None
        return d_gi, d_h, d_w, d_b, None, None


class _Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, deferred):
        ctx.save_for_backward(x, weight)
        ctx.deferred = deferred
        return torch.addmm(_as(bias, x.dtype), x, _as(weight, x.dtype).t())

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        ctx.deferred.record(grad, x)
        return grad.mm(_as(weight, grad.dtype)) if ctx.needs_input_grad[0] else None, None, None, None


def linear(x: torch.Tensor, layer: torch.nn.Linear, deferred: DeferredGrad | None = None) -> torch.Tensor:
    """``layer(x)``; with ``deferred``, the weight and bias gradients wait for ``deferred.flush()``."""
    if deferred is None or not torch.is_grad_enabled():
        return layer(x)
    return _Linear.apply(x, layer.weight, layer.bias, deferred)


def gru_cell(gi: torch.Tensor, h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
             deferred: DeferredGrad | None = None, fused: bool = True) -> torch.Tensor:
    """One GRU step from precomputed input gates ``gi`` = ``x W_ih^T + b_ih`` ([B, 3H]) and state ``h``.
    ``fused``: PyTorch's fused GRU kernels where they exist (CUDA)."""
    fused = fused and h.is_cuda
    if not torch.is_grad_enabled():
        gh = torch.addmm(_as(bias, h.dtype), h, _as(weight, h.dtype).t())
        if fused:
            return _aten._thnn_fused_gru_cell(gi.contiguous(), gh, h.contiguous())[0]
        return elementwise_forward(gi, gh, h)[0]
    return _GRUCell.apply(gi, h, weight, bias, deferred, fused)
