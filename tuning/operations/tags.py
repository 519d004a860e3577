"""Tags: TagResource, UntagResource, ListTagsForResource, and the ``tags`` of every Create call, kept with the
resource's record (a tag key once; at most 200 a resource, as the service allows)."""

from __future__ import annotations

from hrnn.errors import InvalidInputException, ResourceNotFoundException, ServiceError

from .. import arns

MAX_TAGS = 200


class TooManyTagsException(ServiceError):
    type_name = "TooManyTagsException"


def tagged(request: dict) -> dict:
    """The ``tags`` a Create request carries, for the new record's private part."""
    return {"tags": _merge([], request.get("tags") or [])}


def _merge(tags: list[dict], more: list[dict]) -> list[dict]:
    merged = {t["tagKey"]: t["tagValue"] for t in tags}
    merged.update({t["tagKey"]: t["tagValue"] for t in more})
    if len(merged) > MAX_TAGS:
        raise TooManyTagsException(f"A resource has at most {MAX_TAGS} tags; this would give it {len(merged)}.")
    return [{"tagKey": k, "tagValue": v} for k, v in merged.items()]


def resource(ctx, arn: str):
    """The record any resource ARN names (a solution version's, a dataset's, ...)."""
    for kind in arns.KINDS:
        try:
            name = ctx.store.identity.parse(kind, arn, "resourceArn")
        except InvalidInputException:
            continue
        return ctx.store.get(kind, name)
    if arn.startswith("arn:aws:personalize:::"):
        raise ResourceNotFoundException(f"resourceArn {arn[:300]!r} is a built-in recipe or algorithm; it has no tags.")
    raise InvalidInputException(f"resourceArn {arn[:300]!r} is not the ARN of a resource this service holds.")


def tag_resource(ctx, request: dict) -> dict:
    record = resource(ctx, request["resourceArn"])
    ctx.store.update(record, private={"tags": _merge(record.private.get("tags", []), request["tags"])})
    return {}


def untag_resource(ctx, request: dict) -> dict:
    record = resource(ctx, request["resourceArn"])
    gone = set(request["tagKeys"])
    ctx.store.update(record, private={"tags": [t for t in record.private.get("tags", []) if t["tagKey"] not in gone]})
    return {}


def list_tags_for_resource(ctx, request: dict) -> dict:
    return {"tags": resource(ctx, request["resourceArn"]).private.get("tags", [])}
