"""The optimiser of the reference implementations: Adagrad, optionally with momentum, dense and row-wise."""

from __future__ import annotations

import torch

# PyTorch's fused Adagrad (CPU): acc += g^2; p -= lr g / (sqrt(acc) + eps), with lr_decay 0 (step unused).
_FUSED = getattr(torch, "_fused_adagrad_", None)
_ONE = torch.ones(())


class AdagradM(torch.optim.Optimizer):
    """Adagrad with optional momentum, as in the GRU4Rec/HGRU4Rec reference code (torch's has no momentum):
    ``acc += g^2``, ``step = lr g / (sqrt(acc) + eps)``, ``mom = momentum mom - step``, ``p += mom``.

    :meth:`step` updates the parameters that have a ``.grad`` (the small dense ones). :meth:`step_rows`
    updates given rows of an item table from the gradient of just those rows, as the official GRU4Rec's
    indexed optimiser does: the cost is proportional to the rows a window touched, not to the catalogue.
    With momentum, only the touched rows move (their momentum is applied when they are next touched), as
    in GRU4Rec. The state (``acc``, ``mom``) exists from the start, so every step is free of allocations
    and host decisions (a CUDA graph can capture it).

    Without momentum on the CPU both updates are one call of PyTorch's fused Adagrad kernel (the one
    ``torch.optim.Adagrad(fused=True)`` runs: the same arithmetic in one pass instead of four).
    """

    def __init__(self, params, lr: float = 0.05, momentum: float = 0.0, eps: float = 1e-6):
        super().__init__(params, dict(lr=lr, momentum=momentum, eps=eps))
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["acc"] = torch.zeros_like(p)
                if group["momentum"]:
                    self.state[p]["mom"] = torch.zeros_like(p)

    def _fused(self, group: dict, tensors: list[torch.Tensor]) -> bool:
        return not group["momentum"] and _FUSED is not None and all(t.device.type == "cpu" for t in tensors)

    def _fused_step(self, group: dict, params, grads, accs) -> None:
        _FUSED(params, grads, accs, [_ONE] * len(params), lr=group["lr"], lr_decay=0.0, weight_decay=0.0,
               eps=group["eps"], maximize=False)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            dense = [p for p in group["params"] if p.grad is not None]
            if not dense:
                continue
            grads = [p.grad for p in dense]
            accs = [self.state[p]["acc"] for p in dense]
            if self._fused(group, dense):
                self._fused_step(group, dense, grads, accs)
                continue
            torch._foreach_addcmul_(accs, grads, grads)
            denom = torch._foreach_sqrt(accs)
            torch._foreach_add_(denom, group["eps"])
            if group["momentum"]:
                moms = [self.state[p]["mom"] for p in dense]
                torch._foreach_mul_(moms, group["momentum"])
                torch._foreach_addcdiv_(moms, grads, denom, value=-group["lr"])
                torch._foreach_add_(dense, moms)
            else:
                torch._foreach_addcdiv_(dense, grads, denom, value=-group["lr"])

    @torch.no_grad()
    def step_rows(self, params: list[torch.Tensor], rows: torch.Tensor, values: list[torch.Tensor],
                  grads: list[torch.Tensor]) -> None:
        """Update ``p[rows]`` of each table ``p`` in ``params``, whose current rows are ``values`` (the
        gathered copies the window computed with) and whose gradient is ``grads``. ``rows`` may repeat a
        row only where the repeated entries carry the same gradient (then they compute the same update).
        ``values`` and ``grads`` are consumed."""
        group = self.param_groups[0]
        accs = [self.state[p]["acc"].index_select(0, rows) for p in params]
        if self._fused(group, params):
            self._fused_step(group, values, grads, accs)
            for p, acc, value in zip(params, accs, values):
                self.state[p]["acc"].index_copy_(0, rows, acc)
                p.index_copy_(0, rows, value)
            return
        torch._foreach_addcmul_(accs, grads, grads)
        for p, acc in zip(params, accs):
            self.state[p]["acc"].index_copy_(0, rows, acc)
        torch._foreach_sqrt_(accs)
        torch._foreach_add_(accs, group["eps"])
        if group["momentum"]:
            moms = [self.state[p]["mom"].index_select(0, rows) for p in params]
            torch._foreach_mul_(moms, group["momentum"])
            torch._foreach_addcdiv_(moms, grads, accs, value=-group["lr"])
            for p, mom in zip(params, moms):
                self.state[p]["mom"].index_copy_(0, rows, mom)
            torch._foreach_add_(values, moms)
        else:
            torch._foreach_addcdiv_(values, grads, accs, value=-group["lr"])
        for p, value in zip(params, values):
            p.index_copy_(0, rows, value)
