"""The training losses as single autograd nodes: the sampled softmax (in-batch targets plus shared negatives,
logQ-corrected) and the full softmax, both in fp32, weighted and summed over a window's events.

Written with autograd's operations, the sampled softmax concatenates two logit blocks, runs ``log_softmax``
and gathers the targets, and its backward allocates and zero-fills several ``[T*B, B + negatives]`` tensors.
Here the large block (the shared negatives, or every item) costs as few passes over memory as possible:

* its bias rides in the multiply (the states get a column of ones and the item rows a column of biases),
  so no pass writes the bias and the backward's item-row multiply yields the bias gradient as its last column;
* ``torch.softmax`` (one fused pass) gives its probabilities; its log-normaliser is ``max - log(max p)``,
  and the in-batch block's is combined with it by ``logaddexp``;
* the backward applies the per-row scale of the logits' gradient to the thin sides of the output layer's
  two multiplies (no pass over the probabilities), and scatters whole rows (embedding and bias together)
  of the item rows' gradients into the gathered table rows (``index_add``).

The saved buffers are consumed, so a graph cannot be back-propagated twice (autograd raises if it is).
"""

from __future__ import annotations

import torch

MASKED = -1e9  # the logit bias of an in-batch column without a target: exp() of it is exactly 0


def _with_ones(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, x.new_ones(x.shape[0], 1)], dim=1)


CACHE_FLOATS = 1 << 18  # a CPU block of logits of about 1 MB: the multiply's output stays in the cache


def _softmax_block(states_1: torch.Tensor, rows_b: torch.Tensor):
    """Probabilities of ``states_1 @ rows_b^T`` (bias in the last column) and their log-normaliser. On the
    CPU in blocks of rows whose logits fit in the cache: the multiply writes a block, and its maxima and
    softmax read it from there instead of from memory (about 8% of the time of this step)."""
    if states_1.device.type != "cpu":
        logits = states_1.mm(rows_b.t())
        row_max = logits.amax(dim=1)
        probs = torch.softmax(logits, dim=1)
        return probs, row_max - torch.log(probs.amax(dim=1))
    m, n = states_1.shape[0], rows_b.shape[0]
    rows = max(16, CACHE_FLOATS // max(n, 1))
    probs, log_norm = states_1.new_empty(m, n), states_1.new_empty(m)
    for lo in range(0, m, rows):
        block = torch.mm(states_1[lo:lo + rows], rows_b.t(), out=probs[lo:lo + rows])
        row_max = block.amax(dim=1)
        torch._softmax(block, 1, False, out=block)
        torch.sub(row_max, block.amax(dim=1).log_(), out=log_norm[lo:lo + rows])
    return probs, log_norm


def _rows_grad(grad_rows: torch.Tensor | None, n_rows: int, like: torch.Tensor) -> torch.Tensor:
    return like.new_zeros(n_rows, like.shape[-1] + 1) if grad_rows is None else grad_rows


def _table_grads(ctx, grad_rows: torch.Tensor):
    """The table and bias gradients autograd expects, or none where they went to the caller's buffer."""
    if ctx.grad_rows is not None:
        return None, None
    hidden = grad_rows.shape[1] - 1
    return grad_rows[:, :hidden].contiguous(), grad_rows[:, hidden].contiguous()


class _SampledSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, states, table, bias, targets, negatives, target_bias, negative_bias, weight, grad_rows):
        steps, batch, hidden = states.shape
        t_emb = table.index_select(0, targets.reshape(-1)).reshape(steps, batch, hidden)
        t_bias = bias.index_select(0, targets.reshape(-1)).reshape(steps, 1, batch) + target_bias.unsqueeze(1)
        in_batch = torch.baddbmm(t_bias, states, t_emb.transpose(1, 2))  # [T, B, B]: column j = slot j's target
        target_logit = in_batch.diagonal(dim1=1, dim2=2).reshape(-1).clone()
        batch_max = in_batch.amax(dim=2, keepdim=True)
        in_batch.sub_(batch_max).exp_()  # exp(x - max): the in-batch probabilities up to a row scale
        log_norm = in_batch.sum(dim=2).log_().add_(batch_max.squeeze(2)).reshape(-1)
        batch_max = batch_max.reshape(-1)
        saved = [states, t_emb, in_batch, weight, targets]
        if negatives.shape[0]:
            states_1 = _with_ones(states.reshape(-1, hidden))
            rows_b = torch.cat([table.index_select(0, negatives),
                                (bias.index_select(0, negatives) + negative_bias).unsqueeze(1)], dim=1)
            probs, sampled_norm = _softmax_block(states_1, rows_b)
            total = torch.logaddexp(log_norm, sampled_norm)
            # global probabilities: in_batch * exp(max - total), probs * exp(sampled_norm - total)
            saved += [torch.exp(batch_max - total), probs, torch.exp(sampled_norm - total), states_1, rows_b,
                      negatives]
        else:
            total = log_norm
            saved += [torch.exp(batch_max - total)]
        ctx.save_for_backward(*saved)
        ctx.n_rows, ctx.grad_rows = table.shape[0], grad_rows
        return torch.dot(total - target_logit, weight.reshape(-1))

    @staticmethod
    def backward(ctx, grad):
        states, t_emb, in_batch, weight, targets, batch_share, *neg = ctx.saved_tensors
        steps, batch, hidden = states.shape
        row_grad = weight.reshape(-1) * grad
        in_batch.mul_((row_grad * batch_share).reshape(steps, batch, 1))  # softmax * dL/drow
        in_batch.diagonal(dim1=1, dim2=2).sub_(row_grad.reshape(steps, batch))
        d_states = torch.bmm(in_batch, t_emb)
        d_targets = torch.cat([torch.bmm(in_batch.transpose(1, 2), states).reshape(-1, hidden),
                               in_batch.sum(dim=1).reshape(-1, 1)], dim=1)
        grad_rows = _rows_grad(ctx.grad_rows, ctx.n_rows, states)
        grad_rows.index_add_(0, targets.reshape(-1), d_targets)  # full rows: a contiguous source is ~6x faster
        if neg:
            probs, sampled_share, states_1, rows_b, negatives = neg
            scale = (row_grad * sampled_share).unsqueeze(1)  # scales the rows of probs: applied to the thin sides
            d_states.reshape(-1, hidden).addcmul_(probs.mm(rows_b[:, :hidden]), scale)
            grad_rows.index_add_(0, negatives, probs.t().mm(states_1 * scale))  # last column: the bias gradient
        return d_states, *_table_grads(ctx, grad_rows), None, None, None, None, None, None


def sampled_softmax_loss(states, table, bias, targets, negatives, target_bias, negative_bias, weight,
                         grad_rows: torch.Tensor | None = None):
    """Weighted sum over events of the cross-entropy of each event's target against the other slots' targets
    of the same step (in-batch negatives) and ``negatives`` (shared by the window).

    ``states`` [T, B, H] fp32; ``table``/``bias`` [U, H]/[U]: the item rows the window touches; ``targets``
    [T, B] and ``negatives`` [N]: row indices into them; ``target_bias`` [T, B]: ``-log Q`` of each slot's
    target (:data:`MASKED` where a slot has none); ``negative_bias`` [N]: ``-log Q`` of each negative;
    ``weight`` [T, B]: each event's loss weight (0 where there is no target). With ``grad_rows`` [U, H + 1],
    the backward adds the table's gradient (the bias's in the last column) to it instead of returning them.
    """
    return _SampledSoftmax.apply(states, table, bias, targets, negatives, target_bias, negative_bias, weight,
                                 grad_rows)


class _FullSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, states, table, bias, targets, weight, grad_rows):
        hidden = states.shape[-1]
        states_1 = _with_ones(states.reshape(-1, hidden))
        rows_b = torch.cat([table, bias.unsqueeze(1)], dim=1)
        labels = targets.reshape(-1, 1)
        target_logit = (states_1 * rows_b.index_select(0, labels.squeeze(1))).sum(dim=1)
        probs, log_norm = _softmax_block(states_1, rows_b)
        ctx.save_for_backward(states_1, rows_b, probs, weight, labels)
        ctx.states_shape, ctx.grad_rows = states.shape, grad_rows
        return torch.dot(log_norm - target_logit, weight.reshape(-1))

    @staticmethod
    def backward(ctx, grad):
        states_1, rows_b, probs, weight, labels = ctx.saved_tensors
        hidden = rows_b.shape[1] - 1
        row_grad = weight.reshape(-1) * grad
        probs.mul_(row_grad.unsqueeze(1))
        probs.scatter_add_(1, labels, -row_grad.unsqueeze(1))
        d_states = probs.mm(rows_b[:, :hidden]).reshape(ctx.states_shape)
        d_rows = probs.t().mm(states_1)
        if ctx.grad_rows is not None:
            ctx.grad_rows.add_(d_rows)
            return d_states, None, None, None, None, None
        return d_states, d_rows[:, :hidden], d_rows[:, hidden], None, None, None


def full_softmax_loss(states, table, bias, targets, weight, grad_rows: torch.Tensor | None = None):
    """Weighted sum over events of the cross-entropy over every item: ``states`` [T, B, H] fp32, ``table``
    and ``bias`` the whole item tables, ``targets`` [T, B] item indices, ``weight`` [T, B]; ``grad_rows``
    as in :func:`sampled_softmax_loss`."""
    return _FullSoftmax.apply(states, table, bias, targets, weight, grad_rows)
