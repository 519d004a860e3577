"""Losses: a per-row cross-entropy cheaper than torch's on CPU, and the sampled softmax with logQ correction."""

from __future__ import annotations

import torch


class _CrossEntropy(torch.autograd.Function):
    """Per-row ``-log_softmax(logits)[label]``, as ``F.cross_entropy(..., reduction="none")``, cheaper on CPU.

    ``F.cross_entropy`` runs ``log_softmax`` (slower than ``softmax`` on CPU), and its backward allocates and
    zero-fills an [N, C] gradient for the label gather, then ``log_softmax``'s backward allocates another. Here
    the forward keeps the softmax ``p`` and reads the log-normaliser off each row's largest logit,
    ``lse = x_max - log(p_max)`` (``p_max >= 1/C`` never underflows), and the backward turns ``p`` into the
    gradient in place (``p * g``, minus ``g`` at the label). The saved buffer is consumed, so the graph cannot
    be back-propagated twice (autograd raises if it is).
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        p = torch.softmax(logits, dim=1)
        # softmax is monotonic: the largest p is the largest logit's (amax: max with indices is slow on CPU).
        log_norm = logits.amax(dim=1, keepdim=True) - torch.log(p.amax(dim=1, keepdim=True))
        ctx.save_for_backward(p, labels)
        return (log_norm - logits.gather(1, labels.unsqueeze(1))).squeeze(1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        p, labels = ctx.saved_tensors
        grad_logits = p.mul_(grad.unsqueeze(1))
        grad_logits.scatter_add_(1, labels.unsqueeze(1), -grad.unsqueeze(1))
        return grad_logits, None


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """[N, C] float logits, [N] labels -> [N] losses (see :class:`_CrossEntropy`)."""
    return _CrossEntropy.apply(logits, labels)


def sampled_softmax_loss(model, states, target, negatives, log_q_batch, log_q_sample):
    """Cross-entropy over in-batch targets (per step) plus shared sampled negatives, logQ-corrected."""
    steps, batch, hidden = states.shape
    safe = target.clamp(min=0)
    target_emb = model.item_embedding(safe)  # [T, B, H]
    in_batch = torch.bmm(states, target_emb.transpose(1, 2))  # [T, B, B]: column j = slot j's target
    in_batch = in_batch + (model.item_bias[safe] - log_q_batch[safe]).unsqueeze(1)
    in_batch = in_batch.float().masked_fill((target < 0).unsqueeze(1), -1e9)
    neg_emb = model.item_embedding(negatives)
    # addmm: the bias row is the product's initial value, one pass over the [T*B, negatives] block fewer.
    sampled = torch.addmm(model.item_bias[negatives] - log_q_sample[negatives], states.reshape(-1, hidden),
                          neg_emb.t())
    logits = torch.cat([in_batch.reshape(steps * batch, batch), sampled.float()], dim=1)
    labels = torch.arange(batch, device=states.device).repeat(steps)
    return cross_entropy(logits, labels)

