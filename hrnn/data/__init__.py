"""Interactions -> the prepared dataset: ingest (filters, ids, sessions), the dataset arrays, storage and
splits. The names most code needs are importable from here."""

from .dataset import InteractionData, ranges_to_index
from .ingest import MIN_INTERACTIONS, MIN_USERS_WITH_TWO, DataConfig, build_interactions, load_interactions
from .store import load_dataset, read_ipc, save_dataset, write_ipc

__all__ = [
    "MIN_INTERACTIONS", "MIN_USERS_WITH_TWO", "DataConfig", "InteractionData", "build_interactions",
    "load_dataset", "load_interactions", "ranges_to_index", "read_ipc", "save_dataset", "write_ipc",
]
