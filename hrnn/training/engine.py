"""How training runs on its device, decided once: the CPU's row-wise engine or the CUDA masked engine.

The two engines train the same model to the same numbers (within rounding; a test runs the masked engine
on the CPU against the row-wise one) and differ in how a window is computed:

* **row-wise** (the CPU's): the session and user starts are read on the host, the user-level GRU runs only
  on the rows where a session starts, and the window's recurrence is one autograd node with a hand-written
  backward (:meth:`hrnn.model.HRNN.advance` with ``masked=False``); the epoch plan cuts each window's item
  rows to their exact number.
* **masked** (CUDA's): the starts are arithmetic masks and nothing is read back from the device, so every
  window has the same shapes (the item rows padded to a fixed number) and is captured once as a CUDA graph
  and replayed (:mod:`hrnn.training.graphs`); the GRU steps use PyTorch's fused CUDA kernels.

:class:`EngineSettings` is part of the training settings (:class:`~hrnn.training.TrainConfig`); the library
never reads the environment: the service reads its switches (``HRNN_PRECISION``, ``HRNN_CUDA_GRAPHS``,
``HRNN_FUSED_GRU``) at its edge into these settings. :meth:`Engine.choose` turns them and the device into
the engine a :class:`~hrnn.training.Trainer` uses for every window.

Kernels with a faster CPU form (the dropout draw, the cache-blocked softmax, numpy's sort in the epoch
plan, PyTorch's fused Adagrad) pick it by where their tensors live, whichever engine runs: they compute
the same values either way, and the masked engine run on the CPU must use the CPU's kernels.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

KINDS = ("auto", "rows", "masked")
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class EngineSettings:
    """How the engine runs (not hyperparameters: the results agree within rounding)."""

    kind: str = "auto"  # auto: masked on CUDA, row-wise elsewhere | rows | masked
    precision: str = "fp32"  # fp32 | bf16 (autocast for the inputs and the recurrence; logits and loss stay fp32)
    cuda_graphs: bool = True  # CUDA, masked: capture a window once and replay it
    fused_gru: bool = True  # CUDA, masked: PyTorch's fused GRU kernels

    def check(self) -> "EngineSettings":
        if self.kind not in KINDS:
            raise ValueError(f"engine kind {self.kind!r} is invalid; expected one of {KINDS}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r} is invalid; expected one of {PRECISIONS}")
        return self


@dataclass(frozen=True)
class Engine:
    """The engine of one training run: every choice that depends on the device, made once."""

    device: torch.device
    masked: bool  # the masked recurrence and padded item rows (else row-wise, exact rows)
    precision: str
    cuda_graphs: bool  # windows replayed as a CUDA graph (masked, on CUDA)
    fused_gru: bool  # PyTorch's fused GRU kernels (on CUDA)

    @classmethod
    def choose(cls, settings: EngineSettings, device: torch.device) -> "Engine":
        settings.check()
        cuda = device.type == "cuda"
        masked = cuda if settings.kind == "auto" else settings.kind == "masked"
        return cls(device=device, masked=masked, precision=settings.precision,
                   cuda_graphs=masked and cuda and settings.cuda_graphs, fused_gru=cuda and settings.fused_gru)

    @property
    def name(self) -> str:
        return "masked" if self.masked else "row-wise"

    @property
    def exact_rows(self) -> bool:
        """Whether the epoch plan cuts each window's item rows to their number (reading it on the host)."""
        return not self.masked

    def autocast(self):
        """The context a window's inputs and recurrence run in: bf16 autocast, or nothing for fp32."""
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16, cache_enabled=False)
        return contextlib.nullcontext()

    def advance(self, model, gates, session_start, user_start, h_s, h_u, deferred=None):
        """:meth:`hrnn.model.HRNN.advance` with this engine's recurrence and kernels."""
        return model.advance(gates, session_start, user_start, h_s, h_u, masked=self.masked,
                             fused_gru=self.fused_gru, deferred=deferred)
