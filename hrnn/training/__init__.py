"""Training: settings, the engine, the epoch layout, the loss and optimiser, the trainer, and :func:`fit`."""

from .config import TrainConfig, resolve_device
from .engine import Engine, EngineSettings
from .fitting import CHECKPOINT_NAME, FitResult, Validation, fit
from .layout import EventTensors, slot_layout
from .trainer import EpochStats, Trainer, atomic_torch_save

__all__ = [
    "CHECKPOINT_NAME", "Engine", "EngineSettings", "EpochStats", "EventTensors", "FitResult", "TrainConfig",
    "Trainer", "Validation", "atomic_torch_save", "fit", "resolve_device", "slot_layout",
]
