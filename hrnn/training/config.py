"""Training settings, derived from the recipe's typed hyperparameters, and the device they run on."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ..recipe import HRNN_RECIPE, HyperParameterValues

_DEFAULTS = HRNN_RECIPE.defaults  # every default below is the recipe's (typed once, at import)


@dataclass(frozen=True)
class TrainConfig:
    bptt: int = _DEFAULTS.bptt
    recency_mask: bool = _DEFAULTS.recency_mask
    recency_half_life_days: float = _DEFAULTS.recency_half_life_days
    recency_floor: float = _DEFAULTS.recency_floor
    epochs: int = _DEFAULTS.epochs
    batch_size: int = _DEFAULTS.batch_size
    learning_rate: float = _DEFAULTS.learning_rate
    momentum: float = _DEFAULTS.momentum
    num_negatives: int = _DEFAULTS.num_negatives
    sample_alpha: float = _DEFAULTS.sample_alpha
    loss: str = _DEFAULTS.loss  # auto | sampled | full
    small_catalogue_max_items: int = _DEFAULTS.small_catalogue_max_items
    seed: int = _DEFAULTS.seed
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # How the engine runs (not hyperparameters; see hrnn/training/window.py and graphs.py):
    precision: str = "fp32"  # fp32 | bf16 (autocast for the recurrence; the logits and loss stay fp32)
    cuda_graphs: bool = True  # CUDA: capture a training window once and replay it (HRNN_CUDA_GRAPHS=0: off)
    sync_free: bool | None = None  # the masked, graph-friendly recurrence; None: on CUDA only

    @classmethod
    def from_hyperparameters(cls, hp: HyperParameterValues, device: str = "auto") -> "TrainConfig":
        return cls(bptt=hp.bptt, recency_mask=hp.recency_mask, recency_half_life_days=hp.recency_half_life_days,
                   recency_floor=hp.recency_floor,
                   epochs=hp.epochs, batch_size=hp.batch_size, learning_rate=hp.learning_rate,
                   momentum=hp.momentum, num_negatives=hp.num_negatives, sample_alpha=hp.sample_alpha,
                   loss=hp.loss, small_catalogue_max_items=hp.small_catalogue_max_items, seed=hp.seed, device=device)

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)

