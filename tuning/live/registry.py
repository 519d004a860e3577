"""Per process: each dataset group's event log, the live models that its events move, and the event trackers
by tracking id. One registry per context, so the endpoint's request threads and its loaded campaigns share
them, and a command-line process has its own."""

from __future__ import annotations

import threading
import weakref

from hrnn.errors import ResourceNotFoundException

from .. import arns
from .eventlog import Event, EventLog


class LiveRegistry:
    def __init__(self):
        self._logs: dict[str, EventLog] = {}
        self._models: dict[str, weakref.WeakSet] = {}
        self._trackers: dict[str, tuple[str, str]] = {}  # trackingId -> (tracker record name, group name)
        self._lock = threading.Lock()

    def log(self, store, group: str) -> EventLog:
        """The event log of the dataset group named ``group``."""
        with self._lock:
            if group not in self._logs:
                self._logs[group] = EventLog(store.root / "events" / group / "events.log")
            return self._logs[group]

    def register(self, group: str, model) -> None:
        """A live model whose states the group's new events advance."""
        with self._lock:
            self._models.setdefault(group, weakref.WeakSet()).add(model)

    def apply(self, group: str, events: list[Event]) -> None:
        """Advance every live model of the group by newly recorded events."""
        with self._lock:
            models = list(self._models.get(group, ()))
        for model in models:
            model.apply(events)

    def tracker(self, store, tracking_id: str) -> tuple[str, str]:
        """(tracker record name, dataset group name) of a tracking id; ResourceNotFound for an unknown or
        deleted one (the record is checked on every call: a tracker deleted elsewhere stops at once)."""
        found = self._trackers.get(tracking_id)
        if found is None or not store.exists(arns.EVENT_TRACKER, found[0]):
            self._trackers = {r.public["trackingId"]: (r.name, r.private["group"]) for r in store.all(arns.EVENT_TRACKER)}
            found = self._trackers.get(tracking_id)
        if found is None:
            raise ResourceNotFoundException(f"trackingId {tracking_id[:100]!r} names no event tracker here; create "
                                            "one with CreateEventTracker and use the trackingId it returns.")
        return found
