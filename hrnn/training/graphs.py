"""Training windows on CUDA as one CUDA graph: a window costs a graph launch and a few input copies,
however many kernels it runs.

A window (:class:`~hrnn.training.window.WindowStep`: forward, loss, backward, the optimiser's update) has
fixed shapes on the masked engine and reads nothing back from the device, so it can be captured once and
replayed for every window of the epoch: each replay copies the window's inputs into the captured input
buffers and launches the graph. As PyTorch's whole-network capture recipe asks, the first windows of an
epoch run eagerly on a side stream (they are ordinary training windows), then one window is captured (a
capture does not run anything) and replayed. Dropout draws from the default CUDA generator, which graphs
advance on every replay. If a capture fails the epoch goes on eagerly (and says so once).

``EngineSettings(cuda_graphs=False)`` (the service: ``HRNN_CUDA_GRAPHS=0``) runs every window eagerly.
"""

from __future__ import annotations

import sys
from dataclasses import replace

import torch

from .plan import WindowBatch
from .window import WindowState, WindowStep

WARMUP_WINDOWS = 3


class WindowRunner:
    """Runs an epoch's windows: eagerly, or (the engine's ``cuda_graphs``) by replaying one captured window."""

    def __init__(self, step: WindowStep, state: WindowState):
        self.step, self.state = step, state
        self.use_graphs = step.engine.cuda_graphs
        self.done = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static: WindowBatch | None = None
        self.side = torch.cuda.Stream() if self.use_graphs else None

    def __call__(self, batch: WindowBatch) -> None:
        if not self.use_graphs:
            self.step(batch, self.state)
        elif self.graph is not None:
            for name, value in batch.tensors().items():
                getattr(self.static, name).copy_(value)
            self.graph.replay()
        elif self.done < WARMUP_WINDOWS:
            self.side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.side):
                self.step(batch, self.state)
            torch.cuda.current_stream().wait_stream(self.side)
        else:
            self._capture(batch)
            if self.graph is not None:
                self.graph.replay()
            else:
                self.step(batch, self.state)
        self.done += 1

    def _capture(self, batch: WindowBatch) -> None:
        static = replace(batch, **{name: value.clone() for name, value in batch.tensors().items()})
        graph = torch.cuda.CUDAGraph()
        self.step.optimizer.zero_grad(set_to_none=True)
        try:
            with torch.cuda.graph(graph):
                self.step(static, self.state)
        except RuntimeError as err:  # run on eagerly: slower, same training
            sys.stderr.write(f"CUDA graph capture failed ({err}); training this epoch without graphs\n")
            self.use_graphs = False
            return
        self.graph, self.static = graph, static
