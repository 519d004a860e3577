"""personalize-runtime's GetRecommendations: a campaign's model scores a user.

The campaign names a solution version; as an extension a solution version's ARN is accepted as its own
campaign (the command line's ``get-recommendations --solution-version-arn``), loaded and held the same way.
A user with tracked events is scored from their live state (:mod:`tuning.live.states`). How users are
scored is the context's (``context.recommend``): one call at a time on the command line, concurrent
requests scored together on the endpoint (:mod:`tuning.server.runtime`); a filtered request is scored alone.
"""

from __future__ import annotations

import re
import uuid

from hrnn.errors import InvalidInputException

from .. import arns
from .campaigns import campaign_model
from .filters import load_filter

_NOT_SUPPORTED = {
    "recommenderArn": "recommenders (domain dataset groups) are not supported; give campaignArn",
    "promotions": "promotions are not supported",
    "metadataColumns": "metadata in recommendations is not supported (aws-hrnn does not read Items metadata)",
}
_VERSION_ARN = re.compile(r"arn:aws:personalize:[^:]*:[^:]*:solution/[^/]+/[^/]+")


def model_for(ctx, arn: str):
    """The model a campaign ARN (or a solution version ARN) serves."""
    if _VERSION_ARN.fullmatch(arn):
        ctx.store.find(arns.SOLUTION_VERSION, arn, "campaignArn")
        return ctx.models.load(ctx, arn)
    return campaign_model(ctx, arn)


def get_recommendations(ctx, request: dict) -> dict:
    from hrnn.artifact import DEFAULT_RESULTS, check_num_results

    for member, why in _NOT_SUPPORTED.items():
        if request.get(member):
            raise InvalidInputException(f"{member}: {why}.")
    if not request.get("campaignArn"):
        raise InvalidInputException("campaignArn is required.")
    user_id = request.get("userId")
    if not user_id:
        raise InvalidInputException("userId is required for aws-hrnn (a USER_PERSONALIZATION recipe).")
    num_results = request.get("numResults", DEFAULT_RESULTS)
    check_num_results(num_results)
    model = model_for(ctx, request["campaignArn"])
    if request.get("filterArn"):
        masks = load_filter(ctx, request["filterArn"])(request.get("filterValues"), model.model, [user_id])
        row = model.recommend([user_id], num_results, masks=masks)[0]
    elif request.get("filterValues"):
        raise InvalidInputException("filterValues: give filterArn too (the values fill its placeholders).")
    else:
        recommend = ctx.recommend or (lambda m, user, k: m.recommend([user], k)[0])
        row = recommend(model, user_id, num_results)
    return {"itemList": row["itemList"][:num_results], "recommendationId": f"RID-{uuid.uuid4()}"}
