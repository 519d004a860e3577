"""One training window: gather the touched item rows, run ``bptt`` steps, the loss, backward, the update.

The model computes through its public forward (:meth:`~hrnn.model.HRNN.encode` on the window's gathered
item rows, :meth:`~hrnn.model.HRNN.advance` with the engine's recurrence); the loss scores the window's
targets and negatives from those rows. The same function runs eagerly on the CPU and is captured whole as a
CUDA graph on a GPU (:mod:`hrnn.training.graphs`): on the masked engine it reads nothing back from the
device, allocates its state up front, and keeps everything it carries between windows (the slots' states,
the epoch's loss sums) in tensors it updates in place.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..model import HRNN, Deferred, ItemRows
from .dropout import dropout, dropout_mask
from .engine import Engine
from .loss import full_softmax_loss, sampled_softmax_loss
from .optim import AdagradM
from .plan import WindowBatch


@dataclass
class WindowState:
    """What a window carries to the next: the slots' session and user states, and the epoch's sums of
    the loss (weighted by the window's events with a target) and of those events."""

    h_s: torch.Tensor
    h_u: torch.Tensor
    loss_sum: torch.Tensor
    n_sum: torch.Tensor

    @classmethod
    def zeros(cls, model: HRNN, batch: int, device: torch.device) -> "WindowState":
        h_s, h_u = model.initial_state(batch, device)
        return cls(h_s, h_u, torch.zeros((), device=device), torch.zeros((), device=device))


class WindowStep:
    """``step(batch, state)`` trains on one window, as the :class:`~hrnn.training.engine.Engine` says: its
    recurrence, and its precision (``bf16`` autocast for the input projection and the recurrence; the
    output layer and the loss always run in fp32, as bf16 would quantise the logits to 8 significant bits).
    """

    def __init__(self, model: HRNN, optimizer: AdagradM, engine: Engine, full_softmax: bool = False):
        self.model, self.optimizer, self.engine, self.full = model, optimizer, engine, full_softmax

    def __call__(self, b: WindowBatch, state: WindowState) -> None:
        model, opt = self.model, self.optimizer
        weight, item_bias = model.item_embedding.weight.detach(), model.item_bias.detach()
        opt.zero_grad(set_to_none=True)
        if b.rows is not None:  # just the rows this window touches
            table, bias = weight.index_select(0, b.rows), item_bias.index_select(0, b.rows)
        else:
            table, bias = weight, item_bias
        # The item rows' gradient (embedding, bias in the last column), added to by the inputs and the loss.
        grad_rows = table.new_zeros(table.shape[0], table.shape[1] + 1)
        deferred = Deferred()
        p = model.config.dropout
        steps, batch = b.items.shape
        with self.engine.autocast():
            rows = ItemRows(table, grad_rows, dropout_mask((steps * batch, model.hidden), p, weight.device))
            gates = model.encode(b.items, b.gaps, rows)
            pred, h_s, h_u = self.engine.advance(model, gates, b.session_start, b.user_start, state.h_s, state.h_u,
                                                 deferred)
            pred = dropout(pred, p)
        pred = pred.float()
        if self.full:
            loss = full_softmax_loss(pred, table, bias, b.targets, b.weight, grad_rows)
        else:
            loss = sampled_softmax_loss(pred, table, bias, b.targets, b.negatives, b.target_bias, b.negative_bias,
                                        b.weight, grad_rows)
        loss.backward()
        deferred.flush()
        hidden = model.hidden
        grads = [grad_rows[:, :hidden].contiguous(), grad_rows[:, hidden].contiguous()]
        if b.rows is None:  # the whole tables: a dense update with the others
            model.item_embedding.weight.grad, model.item_bias.grad = grads
        opt.step()
        if b.rows is not None:
            if b.fill is not None:  # padded rows repeat the last row: give them its gradient, so same update
                grads = [g.index_select(0, b.fill) for g in grads]
            opt.step_rows([model.item_embedding.weight, model.item_bias], b.rows, [table, bias], grads)
        with torch.no_grad():
            state.h_s.copy_(h_s)
            state.h_u.copy_(h_u)
            state.loss_sum.add_(loss * b.n_valid)
            state.n_sum.add_(b.n_valid)
