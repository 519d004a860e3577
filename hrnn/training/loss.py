"""The training losses as single autograd nodes: the sampled softmax (in-batch targets plus shared negatives,
logQ-corrected) and the full softmax, both in fp32, weighted and summed over a window's events.

Written with autograd's operations, the sampled softmax concatenates two logit blocks, runs ``log_softmax``
and gathers the targets, and its backward allocates and zero-fills several ``[T*B, B + negatives]`` tensors.
Here the forward keeps the two blocks separate and exponentiates them in place (the row maximum and the
row sum combine both), and the backward turns the saved probabilities into the logits' gradient in place,
then runs the four matrix multiplies of the output layer and scatters the item rows' gradients into the
gathered table rows (``index_add``). The saved buffers are consumed, so a graph cannot be back-propagated
twice (autograd raises if it is).
"""

from __future__ import annotations

import torch

MASKED = -1e9  # the logit bias of an in-batch column without a target: exp() of it is exactly 0


class _SampledSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, states, table, bias, targets, negatives, target_bias, negative_bias, weight):
        steps, batch, hidden = states.shape
        flat = states.reshape(-1, hidden)
        t_emb = table.index_select(0, targets.reshape(-1)).reshape(steps, batch, hidden)
        t_bias = bias.index_select(0, targets.reshape(-1)).reshape(steps, 1, batch) + target_bias.unsqueeze(1)
        in_batch = torch.baddbmm(t_bias, states, t_emb.transpose(1, 2))  # [T, B, B]: column j = slot j's target
        target_logit = in_batch.diagonal(dim1=1, dim2=2).clone().reshape(-1)
        row_max = in_batch.amax(dim=2).reshape(-1)
        n_neg = negatives.shape[0]
        if n_neg:
            n_emb = table.index_select(0, negatives)
            sampled = torch.addmm(bias.index_select(0, negatives) + negative_bias, flat, n_emb.t())
            row_max = torch.maximum(row_max, sampled.amax(dim=1))
            sampled.sub_(row_max.unsqueeze(1)).exp_()
        in_batch.sub_(row_max.reshape(steps, batch, 1)).exp_()
        total = in_batch.sum(dim=2).reshape(-1)
        if n_neg:
            total = total + sampled.sum(dim=1)
        losses = total.log().add_(row_max).sub_(target_logit)
        ctx.save_for_backward(states, t_emb, in_batch, total, weight, targets,
                              *((n_emb, sampled, negatives) if n_neg else ()))
        ctx.table_shape = table.shape
        return torch.dot(losses, weight.reshape(-1))

    @staticmethod
    def backward(ctx, grad):
        states, t_emb, in_batch, total, weight, targets, *neg = ctx.saved_tensors
        steps, batch, hidden = states.shape
        row_grad = weight.reshape(-1) * grad
        in_batch.mul_((row_grad / total).reshape(steps, batch, 1))  # softmax * dL/drow
        in_batch.diagonal(dim1=1, dim2=2).sub_(row_grad.reshape(steps, batch))
        d_states = torch.bmm(in_batch, t_emb)
        d_t_emb = torch.bmm(in_batch.transpose(1, 2), states).reshape(-1, hidden)
        d_table = states.new_zeros(ctx.table_shape).index_add_(0, targets.reshape(-1), d_t_emb)
        d_bias = states.new_zeros(ctx.table_shape[0]).index_add_(0, targets.reshape(-1), in_batch.sum(dim=1).reshape(-1))
        if neg:
            n_emb, sampled, negatives = neg
            sampled.mul_((row_grad / total).unsqueeze(1))
            d_states.reshape(-1, hidden).addmm_(sampled, n_emb)
            d_table.index_add_(0, negatives, sampled.t().mm(states.reshape(-1, hidden)))
            d_bias.index_add_(0, negatives, sampled.sum(dim=0))
        return d_states, d_table, d_bias, None, None, None, None, None


def sampled_softmax_loss(states, table, bias, targets, negatives, target_bias, negative_bias, weight):
    """Weighted sum over events of the cross-entropy of each event's target against the other slots' targets
    of the same step (in-batch negatives) and ``negatives`` (shared by the window).

    ``states`` [T, B, H] fp32; ``table``/``bias`` [U, H]/[U]: the item rows the window touches; ``targets``
    [T, B] and ``negatives`` [N]: row indices into them; ``target_bias`` [T, B]: ``-log Q`` of each slot's
    target (:data:`MASKED` where a slot has none); ``negative_bias`` [N]: ``-log Q`` of each negative;
    ``weight`` [T, B]: each event's loss weight (0 where there is no target).
    """
    return _SampledSoftmax.apply(states, table, bias, targets, negatives, target_bias, negative_bias, weight)


class _FullSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, states, table, bias, targets, weight):
        flat = states.reshape(-1, states.shape[-1])
        logits = torch.addmm(bias, flat, table.t())
        labels = targets.reshape(-1, 1)
        target_logit = logits.gather(1, labels).squeeze(1)
        row_max = logits.amax(dim=1)
        logits.sub_(row_max.unsqueeze(1)).exp_()
        total = logits.sum(dim=1)
        losses = total.log().add_(row_max).sub_(target_logit)
        ctx.save_for_backward(flat, table, logits, total, weight, labels)
        ctx.states_shape = states.shape
        return torch.dot(losses, weight.reshape(-1))

    @staticmethod
    def backward(ctx, grad):
        flat, table, probs, total, weight, labels = ctx.saved_tensors
        row_grad = weight.reshape(-1) * grad
        probs.mul_((row_grad / total).unsqueeze(1))
        probs.scatter_add_(1, labels, -row_grad.unsqueeze(1))
        d_states = probs.mm(table).reshape(ctx.states_shape)
        return d_states, probs.t().mm(flat), probs.sum(dim=0), None, None


def full_softmax_loss(states, table, bias, targets, weight):
    """Weighted sum over events of the cross-entropy over every item: ``states`` [T, B, H] fp32, ``table``
    and ``bias`` the whole item tables, ``targets`` [T, B] item indices, ``weight`` [T, B]."""
    return _FullSoftmax.apply(states, table, bias, targets, weight)
