"""``List*`` pages, one scheme for every list: newest first, ``maxResults`` (default 100) and an opaque
``nextToken``, as the service pages."""

from __future__ import annotations

import base64
import binascii
import json

from hrnn.errors import ServiceError

DEFAULT_MAX_RESULTS = 100


class InvalidNextTokenException(ServiceError):
    type_name = "InvalidNextTokenException"


def page(items: list, request: dict, member: str) -> dict:
    """``{member: items[offset:offset+maxResults], "nextToken": ...}`` of ``items`` given oldest first."""
    items = list(reversed(items))
    offset = _offset(request.get("nextToken"))
    size = request.get("maxResults") or DEFAULT_MAX_RESULTS
    result: dict = {member: items[offset:offset + size]}
    if offset + size < len(items):
        result["nextToken"] = base64.urlsafe_b64encode(json.dumps({"offset": offset + size}).encode()).decode()
    return result


def _offset(token: str | None) -> int:
    if token is None:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeError):
        offset = None
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidNextTokenException(f"nextToken {token[:64]!r} is not a token this server returned.")
    return offset
