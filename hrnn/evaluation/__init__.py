"""Evaluation: the service's offline metrics and the field's next-item protocol, for any :class:`Scorer`."""

from .metrics import SERVICE_METRIC_NAMES, SERVICE_TOP_K, service_metrics, topk_items
from .protocols import (HRNNScorer, PopularityScorer, Scorer, evaluate_next_item, evaluate_service,
                        next_item_sequences)

__all__ = [
    "HRNNScorer", "PopularityScorer", "SERVICE_METRIC_NAMES", "SERVICE_TOP_K", "Scorer", "evaluate_next_item",
    "evaluate_service", "next_item_sequences", "service_metrics", "topk_items",
]
