"""How a solution version is run (device, HPO resources, epoch cap, Tune storage, early stopping, the final
refit), checked before anything
starts: a bad value is the service's InvalidInputException, never a traceback, a hang, or a version that
trains nothing and says ACTIVE."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass

from hrnn.errors import InvalidInputException

_DEVICE = re.compile(r"auto|cpu|cuda(?::(\d{1,4}))?")


@dataclass
class RunOptions:
    device: str = "auto"
    quiet: bool = False
    gpus_per_trial: float | None = None
    cpus_per_trial: int = 1
    max_epochs: int | None = None  # cap every trial's epochs (tests, quick looks)
    storage: str | None = None  # Ray Tune storage path or URI; default: inside the version directory
    early_stopping: bool = True  # HPO: stop trials that fall behind on early stopping's rungs
    refit: bool = False  # HPO: train the best configuration again on all the training interactions (did not
    # pay on generated data: README *HPO's budget*)

    @classmethod
    def from_members(cls, members: dict, quiet: bool = False) -> "RunOptions":
        """The options as both front ends name them (``gpusPerTrial``: the operations' ``RUN_OPTIONS``); an
        absent or null one takes its default, members that are not run options are left out."""
        names = {f.name for f in dataclasses.fields(cls)} - {"quiet"}
        given = {re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", k).lower(): v for k, v in members.items() if v is not None}
        return cls(quiet=quiet, **{k: v for k, v in given.items() if k in names})

    def check(self) -> "RunOptions":
        for name, flag in (("early_stopping", "--no-early-stopping"), ("refit", "--no-refit")):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInputException(f"{flag}: {name} {getattr(self, name)!r} is invalid; expected true or false.")
        check_device(self.device)
        engine_settings()
        if self.max_epochs is not None and (isinstance(self.max_epochs, bool) or not isinstance(self.max_epochs, int)
                                            or self.max_epochs < 1):
            raise InvalidInputException(f"--max-epochs {self.max_epochs!r} is invalid; expected an integer >= 1.")
        if self.gpus_per_trial is not None and (not math.isfinite(self.gpus_per_trial) or self.gpus_per_trial < 0):
            raise InvalidInputException(
                f"--gpus-per-trial {self.gpus_per_trial!r} is invalid; expected a finite number >= 0 (0.5 packs two "
                "trials per GPU).")
        if isinstance(self.cpus_per_trial, bool) or not isinstance(self.cpus_per_trial, int) or self.cpus_per_trial < 1:
            raise InvalidInputException(f"--cpus-per-trial {self.cpus_per_trial!r} is invalid; expected an integer >= 1.")
        if self.storage is not None:
            from .hpo.fingerprint import storage_path

            storage_path(self.storage)
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def identity(self) -> dict:
        """What a resumed run must share with the run it resumes (what the results depend on)."""
        return {"maxEpochs": self.max_epochs, "storage": self.storage, "earlyStopping": self.early_stopping,
                "refit": self.refit}


def engine_settings(environ=os.environ):
    """The training engine's switches (:class:`hrnn.training.EngineSettings`), read from the environment
    here, at the edge (the library reads none): ``HRNN_PRECISION`` (fp32 or bf16), ``HRNN_CUDA_GRAPHS=0``
    (eager windows), ``HRNN_FUSED_GRU=0`` (no fused GRU kernels)."""
    from hrnn.training.engine import PRECISIONS, EngineSettings  # torch: only when a run is checked

    precision = environ.get("HRNN_PRECISION", "fp32")
    if precision not in PRECISIONS:
        raise InvalidInputException(f"HRNN_PRECISION {precision[:100]!r} is invalid; expected one of "
                                    f"{', '.join(PRECISIONS)}.")
    return EngineSettings(precision=precision, cuda_graphs=environ.get("HRNN_CUDA_GRAPHS", "1") != "0",
                          fused_gru=environ.get("HRNN_FUSED_GRU", "1") != "0")


def check_device(device: object) -> None:
    """auto, cpu, cuda or cuda:N, and a CUDA device only where one is there."""
    match = _DEVICE.fullmatch(device) if isinstance(device, str) else None
    if match is None:
        raise InvalidInputException(f"--device {str(device)[:100]!r} is invalid; expected auto, cpu, cuda or cuda:N.")
    if device.startswith("cuda"):
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(match.group(1) or 0)
        if index >= count:
            have = "no CUDA device" if count == 0 else f"{count} CUDA device(s) (cuda:0 to cuda:{count - 1})"
            raise InvalidInputException(f"--device {device!r} is not available: this machine has {have}. "
                                        "Use --device cpu or auto.")
