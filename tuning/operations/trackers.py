"""Event trackers: CreateEventTracker, DescribeEventTracker, ListEventTrackers, DeleteEventTracker.

A tracker is how clients send a dataset group's live events (``PutEvents`` with its ``trackingId``); a dataset
group has at most one, as in the service. It is ready at once (``ACTIVE``).
"""

from __future__ import annotations

import secrets
import uuid

from hrnn.errors import LimitExceededException

from .. import arns
from ..lifecycle import ACTIVE
from .listing import list_records
from .tags import tagged

_SUMMARY = ("name", "eventTrackerArn", "status", "creationDateTime", "lastUpdatedDateTime")


def create_event_tracker(ctx, request: dict) -> dict:
    store = ctx.store
    group = store.find(arns.DATASET_GROUP, request["datasetGroupArn"])
    for tracker in store.all(arns.EVENT_TRACKER):
        if tracker.public["datasetGroupArn"] == group.arn:
            if tracker.private.get("request") == request:  # a retried call
                return {"eventTrackerArn": tracker.arn, "trackingId": tracker.public["trackingId"]}
            raise LimitExceededException(f"Dataset group {group.arn} already has an event tracker ({tracker.arn}); a "
                                         "dataset group has one. Delete it first to create another.")
    name = secrets.token_hex(4)
    public = {"name": request["name"], "eventTrackerArn": store.arn(arns.EVENT_TRACKER, name),
              "accountId": store.identity.account, "trackingId": str(uuid.uuid4()), "datasetGroupArn": group.arn,
              "status": ACTIVE}
    record, _ = store.create(arns.EVENT_TRACKER, name, public, request, group=group.name, **tagged(request))
    return {"eventTrackerArn": record.arn, "trackingId": record.public["trackingId"]}


def describe_event_tracker(ctx, request: dict) -> dict:
    return {"eventTracker": ctx.store.find(arns.EVENT_TRACKER, request["eventTrackerArn"]).public}


def list_event_trackers(ctx, request: dict) -> dict:
    return list_records(ctx, request, arns.EVENT_TRACKER, "eventTrackers", _SUMMARY,
                        parent=("datasetGroupArn", arns.DATASET_GROUP))


def delete_event_tracker(ctx, request: dict) -> dict:
    """Events already recorded stay in the dataset group's interactions; the tracking id stops working."""
    ctx.store.delete(ctx.store.find(arns.EVENT_TRACKER, request["eventTrackerArn"]))
    return {}
