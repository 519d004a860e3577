"""Filters: CreateFilter, DescribeFilter, ListFilters, DeleteFilter, and what a filter lets through in
GetRecommendations and batch inference (``filterArn``, with ``filterValues`` for its placeholders).

The expression is checked when the filter is created (:mod:`tuning.filter_expressions`: the service's grammar
for the Interactions dataset); a filter is ready at once. When it is applied, each user's most recent
interactions per event type come from the dataset group's imported data and its tracked events.
"""

from __future__ import annotations

from typing import Callable

from hrnn.errors import InvalidInputException

from .. import arns
from ..filter_expressions import MAX_VALUES, parse, placeholder_values
from ..lifecycle import ACTIVE
from .listing import list_records
from .tags import tagged

_SUMMARY = ("name", "filterArn", "creationDateTime", "lastUpdatedDateTime", "datasetGroupArn", "failureReason",
            "status")


def create_filter(ctx, request: dict) -> dict:
    group = ctx.store.find(arns.DATASET_GROUP, request["datasetGroupArn"])
    parse(request["filterExpression"])  # refused now, not when it is used
    name = request["name"]
    public = {"name": name, "filterArn": ctx.store.arn(arns.FILTER, name), "datasetGroupArn": group.arn,
              "filterExpression": request["filterExpression"], "status": ACTIVE}
    record, _ = ctx.store.create(arns.FILTER, name, public, request, group=group.name, **tagged(request))
    return {"filterArn": record.arn}


def describe_filter(ctx, request: dict) -> dict:
    return {"filter": ctx.store.find(arns.FILTER, request["filterArn"]).public}


def list_filters(ctx, request: dict) -> dict:
    return list_records(ctx, request, arns.FILTER, "Filters", _SUMMARY, parent=("datasetGroupArn", arns.DATASET_GROUP))


def delete_filter(ctx, request: dict) -> dict:
    ctx.store.delete(ctx.store.find(arns.FILTER, request["filterArn"]))
    return {}


def load_filter(ctx, filter_arn: str, member: str = "filterArn") -> Callable:
    """The filter an ARN names, read and parsed once (a batch job applies it to every line), as
    ``masks(filter_values, model, users)``: [users, items] of ``model`` (a LoadedModel), True where the filter
    lets the item through for the user."""
    import torch

    record = ctx.store.find(arns.FILTER, filter_arn, member)
    filters = parse(record.public["filterExpression"])
    index = ctx.live.interactions(ctx.store, record.private["group"])

    def masks_for(filter_values: dict | None, model, users: list[str]) -> torch.Tensor:
        if filter_values is not None and len(filter_values) > MAX_VALUES:
            raise InvalidInputException(f"filterValues has {len(filter_values)} entries; at most {MAX_VALUES}.")
        values = placeholder_values(filters, filter_values)
        masks = torch.ones(len(users), model.model.config.n_items, dtype=torch.bool)
        for row, user in enumerate(users):
            only, excluded = index.allowed(user, filters, values)
            if only is not None:
                masks[row] = False
                keep = model.item_indices(sorted(only))
                masks[row, torch.as_tensor(keep[keep >= 0])] = True
            gone = model.item_indices(sorted(excluded))
            masks[row, torch.as_tensor(gone[gone >= 0])] = False
        return masks
    return masks_for
