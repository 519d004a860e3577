"""Dataset groups and datasets: Create, Describe, List, Delete.

A dataset group is a namespace; a dataset is one of its ``Interactions``, ``Items`` or ``Users`` tables
with a schema. A dataset's ARN is ``dataset/<group name>/<TYPE>``, so a group holds one dataset per type.
Solutions trained from a dataset group read its Interactions dataset (:func:`interactions_data`).

Deleting follows the service's order: a dataset group goes only once its datasets, solutions, event trackers
and filters have gone (ResourceInUseException names the first in the way); a dataset only while no import
into it is running.
"""

from __future__ import annotations

import shutil

from hrnn.errors import InvalidInputException, ResourceInUseException, ResourceNotFoundException

from .. import arns
from ..lifecycle import ACTIVE, FINAL
from .listing import list_records
from .schemas import check_fits
from .tags import tagged

_GROUP_SUMMARY = ("name", "datasetGroupArn", "status", "creationDateTime", "lastUpdatedDateTime")
_DATASET_SUMMARY = ("name", "datasetArn", "datasetType", "status", "creationDateTime", "lastUpdatedDateTime")


def create_dataset_group(ctx, request: dict) -> dict:
    if request.get("domain"):
        raise InvalidInputException("domain: domain dataset groups (recommenders) are not supported; omit domain.")
    name = request["name"]
    public = {"name": name, "datasetGroupArn": ctx.store.arn(arns.DATASET_GROUP, name), "status": ACTIVE}
    record, _ = ctx.store.create(arns.DATASET_GROUP, name, public, request, **tagged(request))
    return {"datasetGroupArn": record.arn}


def describe_dataset_group(ctx, request: dict) -> dict:
    return {"datasetGroup": ctx.store.find(arns.DATASET_GROUP, request["datasetGroupArn"]).public}


def list_dataset_groups(ctx, request: dict) -> dict:
    return list_records(ctx, request, arns.DATASET_GROUP, "datasetGroups", _GROUP_SUMMARY)


def create_dataset(ctx, request: dict) -> dict:
    group = ctx.store.find(arns.DATASET_GROUP, request["datasetGroupArn"])
    schema = ctx.store.find(arns.SCHEMA, request["schemaArn"])
    dataset_type = request["datasetType"].upper()
    if dataset_type not in arns.DATASET_TYPES:
        raise InvalidInputException(
            f"datasetType {request['datasetType']!r} is not supported; expected Interactions, Items or Users.")
    check_fits(schema.private["fields"], dataset_type, schema.arn)
    name = f"{group.name}/{dataset_type}"
    public = {"name": request["name"], "datasetArn": ctx.store.arn(arns.DATASET, name),
              "datasetGroupArn": group.arn, "datasetType": dataset_type, "schemaArn": schema.arn, "status": ACTIVE}
    record, _ = ctx.store.create(arns.DATASET, name, public, request, **tagged(request))
    return {"datasetArn": record.arn}


def describe_dataset(ctx, request: dict) -> dict:
    return {"dataset": ctx.store.find(arns.DATASET, request["datasetArn"]).public}


def list_datasets(ctx, request: dict) -> dict:
    return list_records(ctx, request, arns.DATASET, "datasets", _DATASET_SUMMARY,
                        parent=("datasetGroupArn", arns.DATASET_GROUP))


def delete_dataset_group(ctx, request: dict) -> dict:
    group = ctx.store.find(arns.DATASET_GROUP, request["datasetGroupArn"])
    for kind, member in ((arns.DATASET, "datasetGroupArn"), (arns.SOLUTION, "datasetGroupArn"),
                         (arns.EVENT_TRACKER, "datasetGroupArn"), (arns.FILTER, "datasetGroupArn")):
        using = [r.arn for r in ctx.store.all(kind) if r.public.get(member) == group.arn]
        if using:
            raise ResourceInUseException(f"Dataset group {group.arn} still has {arns.TITLES[kind].lower()} "
                                         f"{using[0]}; delete it first.")
    ctx.store.delete(group)
    return {}


def delete_dataset(ctx, request: dict) -> dict:
    dataset = ctx.store.find(arns.DATASET, request["datasetArn"])
    running = [r.arn for r in ctx.store.all(arns.IMPORT_JOB)
               if r.public["datasetArn"] == dataset.arn and r.status not in FINAL]
    if running:
        raise ResourceInUseException(f"Dataset {dataset.arn} has an import in progress ({running[0]}); wait for it.")
    ctx.store.delete(dataset)
    shutil.rmtree(ctx.store.data_dir(dataset.name), ignore_errors=True)  # versions keep their own data reference
    return {}


def interactions_data(ctx, dataset_group_arn: str) -> tuple[str, str]:
    """The data a solution of this group trains on: (its Interactions dataset's data file after the latest
    import, the dataset's ARN)."""
    group = ctx.store.find(arns.DATASET_GROUP, dataset_group_arn, "datasetGroupArn")
    try:
        dataset = ctx.store.get(arns.DATASET, f"{group.name}/INTERACTIONS")
    except ResourceNotFoundException:
        raise InvalidInputException(
            f"Dataset group {group.arn} has no Interactions dataset; create one with CreateDataset.") from None
    data = dataset.private.get("data")
    if not data:
        raise InvalidInputException(
            f"Dataset {dataset.arn} has no data yet; import some with CreateDatasetImportJob and wait for ACTIVE.")
    return data, dataset.arn
