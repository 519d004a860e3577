"""The optimiser of the reference implementations: Adagrad, optionally with momentum."""

from __future__ import annotations

import torch


class AdagradM(torch.optim.Optimizer):
    """Adagrad with optional momentum, as in the GRU4Rec/HGRU4Rec reference code (torch's has no momentum).

    Without momentum, a row whose gradient is zero is left exactly as it is (its accumulator gains 0 and its
    update is 0), so on the CPU the large item tables (embedding, bias) are updated only on the rows a window
    touched: the items, targets and negatives of one window are a fraction of the catalogue.
    """

    ROW_SPARSE_MIN = 1 << 16  # elements: below this the dense update is cheaper than finding the rows

    def __init__(self, params, lr: float = 0.05, momentum: float = 0.0, eps: float = 1e-6):
        super().__init__(params, dict(lr=lr, momentum=momentum, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                if not self.state[p]:
                    self.state[p]["acc"] = torch.zeros_like(p)
                    if group["momentum"]:
                        self.state[p]["mom"] = torch.zeros_like(p)
            sparse = [p for p in params if self._row_sparse(p, group)]
            dense = [p for p in params if not any(p is q for q in sparse)]
            for p in sparse:
                self._sparse_update(p, group)
            if not dense:
                continue
            grads = [p.grad for p in dense]
            accs = [self.state[p]["acc"] for p in dense]
            torch._foreach_addcmul_(accs, grads, grads)
            denom = torch._foreach_add(torch._foreach_sqrt(accs), group["eps"])
            updates = torch._foreach_div(grads, denom)
            if group["momentum"]:
                moms = [self.state[p]["mom"] for p in dense]
                torch._foreach_mul_(moms, group["momentum"])
                torch._foreach_add_(moms, updates, alpha=-group["lr"])
                torch._foreach_add_(dense, moms)
            else:
                torch._foreach_add_(dense, updates, alpha=-group["lr"])

    def _row_sparse(self, p: torch.Tensor, group: dict) -> bool:
        """Row-sparse only where it is exact (no momentum) and free of device syncs (the CPU)."""
        return (not group["momentum"] and p.device.type == "cpu" and p.dim() in (1, 2)
                and p.numel() >= self.ROW_SPARSE_MIN)

    def _sparse_update(self, p: torch.Tensor, group: dict) -> None:
        """The Adagrad update of the rows with a nonzero gradient; the same arithmetic as the dense one."""
        grad = p.grad
        if grad.dim() == 1:
            touched = grad != 0
        else:  # a row is touched iff its max or min is nonzero: two fast reductions (ne().any() is slow)
            touched = (grad.amax(dim=1) != 0) | (grad.amin(dim=1) != 0)
        rows = touched.nonzero().squeeze(1)
        g = grad.index_select(0, rows)
        acc = self.state[p]["acc"].index_select(0, rows).addcmul_(g, g)
        self.state[p]["acc"].index_copy_(0, rows, acc)
        update = g.div_(acc.sqrt_().add_(group["eps"]))
        p.index_copy_(0, rows, p.index_select(0, rows).add_(update, alpha=-group["lr"]))

