"""personalize-events' PutEvents: a session's events, recorded durably, then moving the live states.

The answer (an empty 200) comes after the events are in the dataset group's log on disk
(:class:`tuning.live.eventlog.EventLog`: appended and fsynced), so an acknowledged event survives a crash;
every campaign of the group loaded in this process then advances the users' states by them
(:class:`tuning.live.states.LiveModel`), so the next GetRecommendations reflects them. A model loaded later
(after a restart, an UpdateCampaign) replays the log's events after those it was trained on.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from hrnn.errors import InvalidInputException

_RESERVED_PROPERTIES = ("userid", "sessionid", "eventtype", "timestamp", "recommendationid", "impression")


def put_events(ctx, request: dict) -> dict:
    _, group = ctx.live.tracker(ctx.store, request["trackingId"])
    events = [_event(e, i) for i, e in enumerate(request["eventList"])]
    ctx.live.log(ctx.store, group).append(request["trackingId"], request.get("userId"), request["sessionId"], events)
    return {}  # recorded on disk, and the group's live states moved (the log's commit does both)


def _event(event: dict, i: int) -> dict:
    """The event with ``sentAt`` as epoch seconds and its properties checked."""
    sent = event["sentAt"]
    if isinstance(sent, str):
        sent = datetime.fromisoformat(sent[:-1] + "+00:00" if sent.endswith("Z") else sent)
        sent = (sent if sent.tzinfo else sent.replace(tzinfo=timezone.utc)).timestamp()
    if not 0 <= float(sent) < 1e11:
        raise InvalidInputException(f"eventList[{i}].sentAt {sent!r} is invalid: expected Unix epoch seconds.")
    properties = event.get("properties")
    if properties is not None:
        try:
            value = json.loads(properties)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise InvalidInputException(f"eventList[{i}].properties must be a JSON object as a string, e.g. "
                                        "'{\"numberOfRatings\": \"12\"}'.")
        reserved = [k for k in value if str(k).lower() in _RESERVED_PROPERTIES]
        if reserved:
            raise InvalidInputException(f"eventList[{i}].properties may not use the reserved key {reserved[0]!r}.")
    return {**event, "sentAt": float(sent)}
