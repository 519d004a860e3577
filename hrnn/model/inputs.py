"""A training window's inputs as one autograd node (:meth:`hrnn.model.HRNN.encode` with ``rows``): the item
rows' embeddings, input dropout, the time-gap feature and the session GRU's input projection.

Through autograd these are a gather, a dropout mask, an outer product for the gap column and a multiply,
and their backward zero-fills a table-sized gradient for the gather alone. Here the embeddings and the gap
go into one ``[events, H + 1]`` matrix (the gap is the last column, as in the layer's weight), the
projection is one multiply, and the backward adds the embeddings' gradient into the window's item-row
gradient buffer (``grad_rows``, shared with the loss: whole rows, the bias column untouched).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class ItemRows:
    """The item rows a training window touches, as :meth:`hrnn.model.HRNN.encode` reads them: ``table``
    [U, H] the gathered embedding rows, ``grad`` [U, H + 1] the rows' gradient buffer (embedding, then
    bias), ``dropout`` the input dropout mask of the window's events (None without dropout)."""

    table: torch.Tensor
    grad: torch.Tensor
    dropout: torch.Tensor | None = None


class _EmbedProject(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight, bias, table, items, gaps, mask, grad_rows):
        hidden = table.shape[1]
        x = table.new_empty(items.numel(), hidden + 1)
        if x.device.type == "cpu":  # gathered straight into place
            torch.index_select(table, 0, items.reshape(-1), out=x[:, :hidden])
        else:
            x[:, :hidden] = table.index_select(0, items.reshape(-1))
        if mask is not None:
            x[:, :hidden].mul_(mask)
        x[:, hidden].copy_(gaps.reshape(-1))
        ctx.save_for_backward(x, weight, items, mask)
        ctx.grad_rows = grad_rows
        return torch.addmm(bias, x, weight.t())

    @staticmethod
    def backward(ctx, d_gates):
        x, weight, items, mask = ctx.saved_tensors
        d_gates = d_gates.to(weight.dtype)
        hidden = x.shape[1] - 1
        d_weight, d_bias = d_gates.t().mm(x), d_gates.sum(0)
        d_x = d_gates.mm(weight)  # [events, H + 1]; the last column (the gap's) is not a table gradient
        if mask is not None:
            d_x[:, :hidden].mul_(mask)
        d_x[:, hidden].zero_()
        ctx.grad_rows.index_add_(0, items.reshape(-1), d_x)
        return d_weight, d_bias, None, None, None, None, None


def embed_project(layer: nn.Linear, table: torch.Tensor, items: torch.Tensor, gaps: torch.Tensor,
                  mask: torch.Tensor | None, grad_rows: torch.Tensor) -> torch.Tensor:
    """``layer([table[items] * mask, gaps])`` for ``items``/``gaps`` [T, B]: the input gates [T * B, 3H].
    The gradient of ``table`` (rows, [U, H]) is added to ``grad_rows`` [U, H + 1] in the backward."""
    return _EmbedProject.apply(layer.weight, layer.bias, table, items, gaps, mask, grad_rows)
