"""Campaigns: a trained solution version loaded once and held in memory to answer GetRecommendations.

CreateCampaign answers at once (``CREATE PENDING``); the model loads on a background thread
(``CREATE IN_PROGRESS`` -> ``ACTIVE``, or ``CREATE FAILED`` with a ``failureReason``). A server that starts
again reloads its campaigns in the background, and a request that arrives first waits for the load.
GetRecommendations then touches no file: the model, its users and items are in memory.
"""

from __future__ import annotations

import sys
import threading
import uuid

from hrnn.artifact import DEFAULT_RESULTS, check_num_results
from hrnn.errors import InvalidInputException, LimitExceededException

from .. import operations
from . import arns
from .contract import check_runtime_input
from .paging import page

PENDING, IN_PROGRESS, ACTIVE, FAILED = "CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE", "CREATE FAILED"
DEFAULT_MAX_CAMPAIGNS = 16
_SUMMARY = ("name", "campaignArn", "status", "creationDateTime", "lastUpdatedDateTime", "failureReason")
_NOT_SUPPORTED = {
    "recommenderArn": "recommenders (domain dataset groups) are not supported; give campaignArn",
    "filterArn": "filters are not supported",
    "filterValues": "filters are not supported",
    "promotions": "promotions are not supported",
    "metadataColumns": "metadata in recommendations is not supported (aws-hrnn does not read Items metadata)",
}


class CampaignModels:
    """The loaded model of each campaign, by campaign name (thread-safe)."""

    def __init__(self, service):
        self.service = service
        self._models: dict = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, name: str):
        """The loaded model, or None (no I/O: the request path's fast check)."""
        return self._models.get(name)

    def get_or_load(self, name: str):
        """The model of an ACTIVE campaign, loading it if needed (blocking)."""
        model = self._models.get(name)
        if model is not None:
            return model
        record = self.service.store.get(arns.CAMPAIGN, name)
        if record.public["status"] not in (ACTIVE, PENDING, IN_PROGRESS):
            raise InvalidInputException(f"Campaign {record.arn} is {record.public['status']!r}: "
                                        f"{record.public.get('failureReason', 'it cannot serve')}.")
        with self._lock(name):
            if name not in self._models:
                self._models[name] = operations.load_model(self.service.workspace,
                                                           record.public["solutionVersionArn"])
        return self._models[name]

    def load_in_background(self, name: str, creating: bool) -> None:
        threading.Thread(target=self._load, args=(name, creating), name=f"campaign-{name}", daemon=True).start()

    def drop(self, name: str) -> None:
        self._models.pop(name, None)

    def _lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def _load(self, name: str, creating: bool) -> None:
        store = self.service.store
        try:
            if creating:
                store.update(store.get(arns.CAMPAIGN, name), {"status": IN_PROGRESS})
            self.get_or_load(name)
            if creating:
                store.update(store.get(arns.CAMPAIGN, name), {"status": ACTIVE})
        except Exception as exc:  # a failed load is described on the campaign, never raised into a thread
            reason = getattr(exc, "message", None) or f"Internal error: {exc!r}"
            sys.stderr.write(f"hrnn serve: campaign {name} could not load its model: {reason}\n")
            try:
                store.update(store.get(arns.CAMPAIGN, name), {"status": FAILED, "failureReason": reason})
            except Exception:
                pass  # deleted meanwhile


# ---- control plane ----------------------------------------------------------------------------------------

def create_campaign(service, request: dict) -> dict:
    operations.active_version(service.workspace, request["solutionVersionArn"])  # NotFound, InUse unless ACTIVE
    name = request["name"]
    existing = service.store.all(arns.CAMPAIGN)
    if len(existing) >= service.max_campaigns and all(r.name != name for r in existing):
        raise LimitExceededException(
            f"This server holds at most {service.max_campaigns} campaigns (--max-campaigns); delete one first.")
    public = {"name": name, "campaignArn": arns.arn(arns.CAMPAIGN, name),
              "solutionVersionArn": request["solutionVersionArn"],
              "minProvisionedTPS": request.get("minProvisionedTPS") or 1, "status": PENDING,
              **({"campaignConfig": request["campaignConfig"]} if request.get("campaignConfig") else {})}
    record, created = service.store.create(arns.CAMPAIGN, name, public, request)
    if created:
        service.models.load_in_background(name, creating=True)
    return {"campaignArn": record.arn}


def describe_campaign(service, request: dict) -> dict:
    return {"campaign": service.store.find(arns.CAMPAIGN, request["campaignArn"]).public}


def list_campaigns(service, request: dict) -> dict:
    records = service.store.all(arns.CAMPAIGN)
    if request.get("solutionArn"):
        solution = operations.describe_solution(service.workspace, request["solutionArn"])["solution"]
        prefix = solution["solutionArn"] + "/"
        records = [r for r in records if r.public["solutionVersionArn"].startswith(prefix)]
    return page([{k: r.public[k] for k in _SUMMARY if k in r.public} for r in records], request, "campaigns")


def delete_campaign(service, request: dict) -> dict:
    record = service.store.find(arns.CAMPAIGN, request["campaignArn"])
    service.store.delete(record)
    service.models.drop(record.name)
    return {}


def resume(service) -> None:
    """After a restart: load every campaign's model in the background (finishing any being created)."""
    for record in service.store.all(arns.CAMPAIGN):
        if record.public["status"] in (ACTIVE, PENDING, IN_PROGRESS):
            service.models.load_in_background(record.name, creating=record.public["status"] != ACTIVE)


# ---- runtime ----------------------------------------------------------------------------------------------

def recommendation_request(request: object) -> tuple[str, str, int]:
    """(campaign name, userId, numResults) of a GetRecommendations request, or InvalidInput."""
    check_runtime_input("GetRecommendations", request)
    for member, why in _NOT_SUPPORTED.items():
        if request.get(member):  # type: ignore[union-attr]
            raise InvalidInputException(f"{member}: {why}.")
    if not request.get("campaignArn"):  # type: ignore[union-attr]
        raise InvalidInputException("campaignArn is required.")
    name = arns.parse(arns.CAMPAIGN, request["campaignArn"])  # type: ignore[index]
    user_id = request.get("userId")  # type: ignore[union-attr]
    if not user_id:
        raise InvalidInputException("userId is required for aws-hrnn (a USER_PERSONALIZATION recipe).")
    num_results = request.get("numResults", DEFAULT_RESULTS)  # type: ignore[union-attr]
    check_num_results(num_results)
    return name, user_id, num_results


def recommendations_response(recommended: dict, num_results: int) -> dict:
    """GetRecommendations' response from a model's row (which may hold more items than asked for)."""
    return {"itemList": recommended["itemList"][:num_results], "recommendationId": f"RID-{uuid.uuid4()}"}
