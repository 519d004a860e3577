"""Dropout for training: PyTorch's on CUDA; on the CPU a cheaper draw of the same masks.

On the CPU ``torch.nn.functional.dropout`` draws one Mersenne-Twister number per element through
``bernoulli_`` (about 4.5 ns each); it is a tenth of a small window's time. Here four 16-bit draws come out
of each 64-bit number: an element is kept when its 16-bit integer is at least ``p * 65536`` above the
smallest, so the drop probability is ``p`` rounded to a multiple of 1/65536, and kept elements are scaled by
``1 / (1 - p)`` as usual. The masks come from the default CPU generator, so a seeded run is reproducible and
a checkpoint's RNG state continues it.
"""

from __future__ import annotations

import torch


class _MaskedScale(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, mask):
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return grad * mask, None


def _cpu_mask(shape, p: float, dtype: torch.dtype) -> torch.Tensor:
    n = 1
    for s in shape:
        n *= s
    words = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-2 ** 63, None)
    draws = words.view(torch.int16)[:n].reshape(shape)
    keep = draws >= (-32768 + round(p * 65536))
    return keep.to(dtype).mul_(1.0 / (1.0 - p))


def dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    if p <= 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        return torch.nn.functional.dropout(x, p, True)
    return _MaskedScale.apply(x, _cpu_mask(x.shape, p, x.dtype))


def dropout_mask(shape, p: float, device: torch.device) -> torch.Tensor | None:
    """A dropout mask (kept elements ``1 / (1 - p)``, dropped ones 0) for elements of ``shape``; None
    without dropout. On the CPU :func:`_cpu_mask`; elsewhere ``bernoulli_`` from the device's generator."""
    if p <= 0.0:
        return None
    if device.type == "cpu":
        return _cpu_mask(shape, p, torch.float32)
    if p >= 1.0:
        return torch.zeros(shape, device=device)
    return torch.empty(shape, device=device).bernoulli_(1.0 - p).div_(1.0 - p)
