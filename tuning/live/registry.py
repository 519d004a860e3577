"""Per process: each dataset group's event log, the live models that its events move, each user's recent
interactions per event type (what filters read), and the event trackers by tracking id. One registry per
context, so the endpoint's request threads and its loaded campaigns share them, and a command-line process
has its own."""

from __future__ import annotations

import threading
import weakref

from hrnn.errors import ResourceNotFoundException

from .. import arns
from ..filter_expressions import InteractionIndex
from .eventlog import Event, EventLog


class LiveRegistry:
    def __init__(self):
        self._logs: dict[str, EventLog] = {}
        self._models: dict[str, weakref.WeakSet] = {}
        self._trackers: dict[str, tuple[str, str]] = {}  # trackingId -> (tracker record name, group name)
        self._indexes: dict[str, tuple[str | None, InteractionIndex]] = {}  # group -> (data file, index)
        self._lock = threading.Lock()

    def log(self, store, group: str) -> EventLog:
        """The event log of the dataset group named ``group``."""
        with self._lock:
            if group not in self._logs:
                self._logs[group] = EventLog(store.root / "events" / group / "events.log",
                                             on_commit=lambda events: self.apply(group, events))
            return self._logs[group]

    def register(self, group: str, model) -> None:
        """A live model whose states the group's new events advance."""
        with self._lock:
            self._models.setdefault(group, weakref.WeakSet()).add(model)

    def apply(self, group: str, events: list[Event]) -> None:
        """Advance every live model of the group by newly recorded events (the log calls this as each commit
        completes, in the log's order)."""
        with self._lock:
            models = list(self._models.get(group, ()))
            index = self._indexes.get(group)
        for model in models:
            model.apply(events)
        if index is not None:
            index[1].add_events(events)

    def interactions(self, store, group: str) -> InteractionIndex:
        """Each user's recent interactions per event type in the group: its Interactions dataset's current
        data and its tracked events (built once per data file, then kept up to date by :meth:`apply`)."""
        try:
            data = store.get(arns.DATASET, f"{group}/INTERACTIONS").private.get("data")
        except ResourceNotFoundException:
            data = None
        with self._lock:
            cached = self._indexes.get(group)
            if cached is not None and cached[0] == data:
                return cached[1]
        index = InteractionIndex()
        if data:
            _add_table(index, data)
        index.add_events(self.log(store, group).events())
        with self._lock:
            self._indexes[group] = (data, index)
        return index

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


def _add_table(index: InteractionIndex, path: str) -> None:
    import numpy as np
    import pyarrow.parquet as pq

    names = pq.read_schema(path).names
    table = pq.read_table(path, columns=[c for c in ("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE") if c in names])
    table = table.take(np.argsort(table.column("TIMESTAMP").to_numpy(), kind="stable"))
    types = table.column("EVENT_TYPE").to_pylist() if "EVENT_TYPE" in names else [""] * table.num_rows
    index.add(table.column("USER_ID").to_pylist(), table.column("ITEM_ID").to_pylist(), types)
