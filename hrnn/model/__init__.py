"""The model: the HRNN and its public forward (:mod:`.network`), the GRU cell (:mod:`.gru`), the row-wise
recurrence with its hand-written backward (:mod:`.recurrence`) and the training window's input node
(:mod:`.inputs`)."""

from .inputs import ItemRows
from .network import (GAP_SCALE, HRNN, Advanced, Deferred, ModelConfig, event_inputs, gap_feature,
                      gaps_from_elapsed)

__all__ = ["GAP_SCALE", "HRNN", "Advanced", "Deferred", "ItemRows", "ModelConfig", "event_inputs", "gap_feature",
           "gaps_from_elapsed"]
