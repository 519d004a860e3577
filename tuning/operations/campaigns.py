"""Campaigns: a trained solution version loaded once and held in memory to answer GetRecommendations.

CreateCampaign answers ``CREATE PENDING``; the model loads (on the command line now, on the endpoint on a
thread of its own) and the campaign goes ``CREATE IN_PROGRESS`` -> ``ACTIVE``, or ``CREATE FAILED`` with a
``failureReason``. A server that starts again reloads its campaigns in the background, and a request that
arrives first waits for the load. GetRecommendations then touches no file.
"""

from __future__ import annotations

import sys
import threading

from hrnn.errors import InvalidInputException, LimitExceededException

from .. import arns
from ..lifecycle import ACTIVE, FAILED, IN_PROGRESS, PENDING
from ..paging import page
from .jobs import InlineRunner
from .versions import active_version

_SUMMARY = ("name", "campaignArn", "status", "creationDateTime", "lastUpdatedDateTime", "failureReason")
SERVING = (ACTIVE, PENDING, IN_PROGRESS)


class ModelCache:
    """Loaded models by solution version ARN (thread-safe; one load of a version at a time)."""

    def __init__(self):
        self._models: dict = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, version_arn: str):
        """The loaded model, or None (no I/O: the request path's fast check)."""
        return self._models.get(version_arn)

    def load(self, ctx, version_arn: str):
        """The model of an ACTIVE version, loading it if needed (blocking)."""
        model = self._models.get(version_arn)
        if model is not None:
            return model
        from hrnn.artifact import LoadedModel

        record = active_version(ctx, version_arn)
        with self._guard:
            lock = self._locks.setdefault(version_arn, threading.Lock())
        with lock:
            if version_arn not in self._models:
                self._models[version_arn] = LoadedModel.load(ctx.workspace.version_files(record.name).model)
        return self._models[version_arn]

    def drop(self, version_arn: str) -> None:
        self._models.pop(version_arn, None)


def campaign_model(ctx, arn: str):
    """The model a campaign ARN serves (loading it if needed); InvalidInput for a campaign that cannot serve."""
    record = ctx.store.find(arns.CAMPAIGN, arn)
    if record.status not in SERVING:
        raise InvalidInputException(f"Campaign {record.arn} is {record.status!r}: "
                                    f"{record.public.get('failureReason', 'it cannot serve')}.")
    return ctx.models.load(ctx, record.public["solutionVersionArn"])


def _load(ctx, name: str, creating: bool) -> None:
    """Load a campaign's model and say so on the campaign; a failure is described, never raised in a thread."""
    store = ctx.store
    try:
        if creating:
            store.update(store.get(arns.CAMPAIGN, name), {"status": IN_PROGRESS})
        campaign_model(ctx, store.arn(arns.CAMPAIGN, name))
        if creating:
            store.update(store.get(arns.CAMPAIGN, name), {"status": ACTIVE})
    except Exception as exc:  # noqa: BLE001
        reason = getattr(exc, "message", None) or f"Internal error: {exc!r}"
        sys.stderr.write(f"campaign {name} could not load its model: {reason}\n")
        try:
            store.update(store.get(arns.CAMPAIGN, name), {"status": FAILED, "failureReason": reason})
        except Exception:  # noqa: BLE001 - deleted meanwhile
            pass


def load_campaign(ctx, name: str, creating: bool) -> None:
    if isinstance(ctx.runner, InlineRunner):
        _load(ctx, name, creating)
    else:
        threading.Thread(target=_load, args=(ctx, name, creating), name=f"campaign-{name}", daemon=True).start()


def create_campaign(ctx, request: dict) -> dict:
    active_version(ctx, request["solutionVersionArn"])  # NotFound, InUse unless ACTIVE
    name = request["name"]
    existing = ctx.store.all(arns.CAMPAIGN)
    if len(existing) >= ctx.max_campaigns and all(r.name != name for r in existing):
        raise LimitExceededException(
            f"This server holds at most {ctx.max_campaigns} campaigns (--max-campaigns); delete one first.")
    public = {"name": name, "campaignArn": ctx.store.arn(arns.CAMPAIGN, name),
              "solutionVersionArn": request["solutionVersionArn"],
              "minProvisionedTPS": request.get("minProvisionedTPS") or 1, "status": PENDING,
              **({"campaignConfig": request["campaignConfig"]} if request.get("campaignConfig") else {})}
    record, created = ctx.store.create(arns.CAMPAIGN, name, public, request)
    if created:
        load_campaign(ctx, name, creating=True)
    return {"campaignArn": record.arn}


def describe_campaign(ctx, request: dict) -> dict:
    return {"campaign": ctx.store.find(arns.CAMPAIGN, request["campaignArn"]).public}


def list_campaigns(ctx, request: dict) -> dict:
    records = ctx.store.all(arns.CAMPAIGN)
    if request.get("solutionArn"):
        prefix = ctx.store.find(arns.SOLUTION, request["solutionArn"]).arn + "/"
        records = [r for r in records if r.public["solutionVersionArn"].startswith(prefix)]
    return page([{k: r.public[k] for k in _SUMMARY if k in r.public} for r in records], request, "campaigns")


def delete_campaign(ctx, request: dict) -> dict:
    record = ctx.store.find(arns.CAMPAIGN, request["campaignArn"])
    ctx.store.delete(record)
    version = record.public["solutionVersionArn"]
    if not any(r.public["solutionVersionArn"] == version for r in ctx.store.all(arns.CAMPAIGN)):
        ctx.models.drop(version)
    return {}


def resume(ctx) -> None:
    """After a restart: load every campaign's model in the background (finishing any being created)."""
    for record in ctx.store.all(arns.CAMPAIGN):
        if record.status in SERVING:
            load_campaign(ctx, record.name, creating=record.status != ACTIVE)
