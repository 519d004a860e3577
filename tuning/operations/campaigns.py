"""Campaigns: a trained solution version loaded once and held in memory to answer GetRecommendations.

CreateCampaign answers ``CREATE PENDING``; the model loads (on the command line now, on the endpoint on a
thread of its own) and the campaign goes ``CREATE IN_PROGRESS`` -> ``ACTIVE``, or ``CREATE FAILED`` with a
``failureReason``. A server that starts again reloads its campaigns in the background, and a request that
arrives first waits for the load. A loaded model carries its users' live states
(:class:`tuning.live.states.LiveModel`): the events tracked for its dataset group after it was trained are
replayed from the log when it loads, and new ones advance it as they arrive.

UpdateCampaign switches a campaign to another version with no failed request in between: the new model loads
first (``latestCampaignUpdate`` goes ``CREATE PENDING`` -> ``CREATE IN_PROGRESS``), then the campaign's record
names it (``ACTIVE``) and the next request is scored by it; until then, and if the load fails, the campaign
serves its current version.
"""

from __future__ import annotations

import gc
import sys
import threading
import time

from hrnn.errors import InvalidInputException, LimitExceededException, ResourceInUseException, \
    ResourceNotFoundException

from .. import arns
from ..lifecycle import ACTIVE, FAILED, IN_PROGRESS, PENDING
from ..paging import page
from .listing import summary
from .jobs import InlineRunner
from .tags import tagged
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

        from ..live.states import LiveModel

        record = active_version(ctx, version_arn)
        with self._guard:
            lock = self._locks.setdefault(version_arn, threading.Lock())
        with lock:
            if version_arn not in self._models:
                loaded = LoadedModel.load(ctx.workspace.version_files(record.name).model)
                group = group_of(ctx, record)
                log = ctx.live.log(ctx.store, group) if group else None
                live = LiveModel(loaded, log, record.private.get("job", {}).get("eventsThrough", -1))
                if group:
                    ctx.live.register(group, live)
                self._models[version_arn] = live
                gc.freeze()  # the model's many long-lived objects: out of every later collection's walk
        return self._models[version_arn]

    def drop(self, version_arn: str) -> None:
        self._models.pop(version_arn, None)


def group_of(ctx, version_record) -> str | None:
    """The name of the dataset group whose events a version's campaigns follow (its solution's)."""
    solution = ctx.store.get(arns.SOLUTION, version_record.name.split("/")[0])
    group = solution.public.get("datasetGroupArn")
    if not group:
        return None
    try:
        return ctx.store.identity.parse(arns.DATASET_GROUP, group)
    except (InvalidInputException, ResourceNotFoundException):  # a placeholder ARN: no group here, no events
        return None


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


def update_campaign(ctx, request: dict) -> dict:
    record = ctx.store.find(arns.CAMPAIGN, request["campaignArn"])
    if record.status != ACTIVE:
        raise ResourceInUseException(f"Campaign {record.arn} is {record.status!r}; only an ACTIVE campaign can be "
                                     "updated.")
    pending = (record.public.get("latestCampaignUpdate") or {}).get("status")
    if pending in (PENDING, IN_PROGRESS):
        raise ResourceInUseException(f"Campaign {record.arn} is being updated already ({pending}); wait for it.")
    version = request.get("solutionVersionArn") or record.public["solutionVersionArn"]
    active_version(ctx, version)  # NotFound, InUse unless ACTIVE
    now = time.time()
    update = {"solutionVersionArn": version,
              "minProvisionedTPS": request.get("minProvisionedTPS") or record.public.get("minProvisionedTPS", 1),
              **({"campaignConfig": request["campaignConfig"]} if request.get("campaignConfig") else {}),
              "status": PENDING, "creationDateTime": now, "lastUpdatedDateTime": now}
    ctx.store.update(record, {"latestCampaignUpdate": update})
    if isinstance(ctx.runner, InlineRunner):
        _switch(ctx, record.name)
    else:
        threading.Thread(target=_switch, args=(ctx, record.name), name=f"campaign-{record.name}", daemon=True).start()
    return {"campaignArn": record.arn}


def _switch(ctx, name: str) -> None:
    """Load the update's model, then point the campaign at it; a failure leaves the campaign as it was."""
    store = ctx.store
    record = store.get(arns.CAMPAIGN, name)
    update = dict(record.public["latestCampaignUpdate"])
    try:
        store.update(record, {"latestCampaignUpdate": {**update, "status": IN_PROGRESS,
                                                       "lastUpdatedDateTime": time.time()}})
        ctx.models.load(ctx, update["solutionVersionArn"])
        previous = record.public["solutionVersionArn"]
        store.update(store.get(arns.CAMPAIGN, name), {
            "solutionVersionArn": update["solutionVersionArn"], "minProvisionedTPS": update["minProvisionedTPS"],
            **({"campaignConfig": update["campaignConfig"]} if "campaignConfig" in update else {}),
            "latestCampaignUpdate": {**update, "status": ACTIVE, "lastUpdatedDateTime": time.time()}})
        if previous != update["solutionVersionArn"]:
            _release(ctx, previous)
    except Exception as exc:  # noqa: BLE001 - described on the update, never raised in a thread
        reason = getattr(exc, "message", None) or f"Internal error: {exc!r}"
        store.update(store.get(arns.CAMPAIGN, name), {"latestCampaignUpdate": {
            **update, "status": FAILED, "failureReason": reason, "lastUpdatedDateTime": time.time()}})


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
    record, created = ctx.store.create(arns.CAMPAIGN, name, public, request, **tagged(request))
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
    return page([summary(r.public, _SUMMARY) for r in records], request, "campaigns")


def delete_campaign(ctx, request: dict) -> dict:
    record = ctx.store.find(arns.CAMPAIGN, request["campaignArn"])
    ctx.store.delete(record)
    _release(ctx, record.public["solutionVersionArn"])
    return {}


def _release(ctx, version_arn: str) -> None:
    """Let a version's loaded model go once no campaign serves it."""
    if not any(r.public["solutionVersionArn"] == version_arn for r in ctx.store.all(arns.CAMPAIGN)):
        ctx.models.drop(version_arn)


def resume(ctx) -> None:
    """After a restart: load every campaign's model in the background (finishing any being created)."""
    for record in ctx.store.all(arns.CAMPAIGN):
        if record.status in SERVING:
            load_campaign(ctx, record.name, creating=record.status != ACTIVE)
