"""Training settings, derived from the recipe's typed hyperparameters, and the device they run on."""

from __future__ import annotations

import torch

from ..hyperparameters import TRAINING_SETTINGS, Settings, derive_settings
from ..recipe import HRNN_RECIPE
from .engine import EngineSettings


@derive_settings(HRNN_RECIPE, TRAINING_SETTINGS)
class TrainConfig(Settings):
    """The training settings: the device, how the engine runs (:class:`~hrnn.training.engine.EngineSettings`),
    and every hyperparameter the recipe declares for training (``bptt``, ``batch_size``, ``loss``, ``seed``,
    ...; fields added by :func:`~hrnn.hyperparameters.derive_settings` with the recipe's defaults)."""

    device: str = "auto"  # auto | cpu | cuda | cuda:N
    engine: EngineSettings = EngineSettings()


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
