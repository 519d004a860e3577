"""A dataset group's tracked events: an append-only, fsynced log, the durable record behind ``PutEvents``.

A ``PutEvents`` is answered only after its events are on disk: appended to
``<workspace>/events/<group>/events.log`` (one JSON object per line, numbered by ``seq``) and fsynced. Writers
in one process share each fsync (the first to find the log idle writes everything queued, then syncs once:
a group commit); writers in other processes (the ``hrnn`` command) are excluded by a ``flock`` on the log,
and a writer that finds the log grown by another catches up before it appends. An event is recorded once per
``eventId`` (a resent event is acknowledged and not appended again); an event without one gets one.

The log is the input of everything downstream: ``on_commit`` receives every newly recorded event, in the
log's order, as each group commit completes (before its writers are answered), so the live states move with
the log and many requests' events move them together; the live states are rebuilt from a model and the log's
events after the ones it was trained on; and a new solution version trains on the imported data plus the log
(:func:`training_rows`), as the service trains on imported and tracked interactions together.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import threading
import uuid
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from ..store import storage_error

FIELDS = ("eventId", "eventType", "eventValue", "itemId", "sentAt", "properties", "recommendationId")


@dataclass(frozen=True)
class Event:
    """One recorded event (what training and the live states read of it)."""

    seq: int
    event_id: str
    user_id: str | None
    session_id: str
    item_id: str | None
    event_type: str
    event_value: float | None
    sent_at: float  # epoch seconds

    @classmethod
    def from_line(cls, line: dict) -> "Event":
        return cls(line["seq"], line["eventId"], line.get("userId"), line["sessionId"], line.get("itemId"),
                   line["eventType"], line.get("eventValue"), float(line["sentAt"]))


class EventLog:
    def __init__(self, path: Path, on_commit=None):
        self.path = path
        self.on_commit = on_commit  # (events recorded by one commit, in order) -> None
        self._lock = threading.Lock()
        self._pending: list[tuple[list[dict], Future]] = []
        self._writing = False
        self._size = 0  # bytes of the log this object has read
        self._count = 0
        self._ids: set[str] = set()

    # ---- appending ----------------------------------------------------------------------------------
    def append(self, tracking_id: str, user_id: str | None, session_id: str, events: list[dict]) -> list[Event]:
        """Record events durably; returns the ones newly recorded (a known eventId is recorded once)."""
        lines = [{"trackingId": tracking_id, "userId": user_id, "sessionId": session_id,
                  **{k: e[k] for k in FIELDS if e.get(k) is not None},
                  "eventId": e.get("eventId") or uuid.uuid4().hex} for e in events]
        future: Future = Future()
        with self._lock:
            self._pending.append((lines, future))
            lead = not self._writing
            self._writing = self._writing or lead
        if lead:
            self._write_pending()
        return future.result()

    def _write_pending(self) -> None:
        while True:
            with self._lock:
                batch, self._pending = self._pending, []
                if not batch:
                    self._writing = False
                    return
            try:
                recorded = self._commit([lines for lines, _ in batch])
            except BaseException as exc:  # noqa: BLE001 - every waiting writer gets the failure
                for _, future in batch:
                    future.set_exception(storage_error(exc, f"record events in {self.path}")
                                         if isinstance(exc, OSError) else exc)
                continue
            if self.on_commit is not None:
                try:
                    self.on_commit([e for events in recorded for e in events])
                except Exception as exc:  # noqa: BLE001 - recorded is recorded: the states catch up from the log
                    sys.stderr.write(f"events recorded in {self.path} could not move the live states: {exc!r}\n")
            for (_, future), events in zip(batch, recorded):
                future.set_result(events)

    def _commit(self, requests: list[list[dict]]) -> list[list[Event]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._catch_up()
            out: list[list[Event]] = []
            text = []
            for lines in requests:
                recorded = []
                for line in lines:
                    if line["eventId"] in self._ids:
                        continue
                    self._ids.add(line["eventId"])
                    line = {"seq": self._count, **line}
                    self._count += 1
                    text.append(json.dumps(line, separators=(",", ":"), allow_nan=False) + "\n")
                    recorded.append(Event.from_line(line))
                out.append(recorded)
            data = "".join(text).encode()
            if data:
                os.write(fd, data)
                os.fsync(fd)
                self._size += len(data)
            return out
        finally:
            os.close(fd)  # releases the flock

    # ---- reading ------------------------------------------------------------------------------------
    def _catch_up(self) -> None:
        """Read what other writers appended since this object last looked (caller holds the flock)."""
        lines, self._size = self._lines(self._size)
        for line in lines:
            self._ids.add(line["eventId"])
            self._count = line["seq"] + 1

    def _lines(self, offset: int = 0) -> tuple[list[dict], int]:
        """The complete lines from byte ``offset`` on, and the offset after them."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(offset)
                data = fh.read()
        except FileNotFoundError:
            return [], offset
        complete = data[:data.rfind(b"\n") + 1]  # a torn last line (a crash mid-write) was never acknowledged
        return [json.loads(line) for line in complete.splitlines() if line.strip()], offset + len(complete)

    def events(self, after: int = -1) -> list[Event]:
        """Every recorded event with ``seq > after``, in order."""
        return [e for e in map(Event.from_line, self._lines()[0]) if e.seq > after]


def training_rows(events: list[Event]) -> dict[str, list]:
    """The columns of an Interactions table for the tracked events a new solution version trains on.

    Events with a userId are that user's; events of an anonymous session count once some event of that
    session carried a userId (then as that user's), as the service joins them; events of a session never
    identified, and events without an item, are not training data."""
    joined: dict[str, str] = {}
    for e in events:
        if e.user_id and e.session_id not in joined:
            joined[e.session_id] = e.user_id
    columns: dict[str, list] = {"USER_ID": [], "ITEM_ID": [], "TIMESTAMP": [], "EVENT_TYPE": [], "EVENT_VALUE": []}
    for e in events:
        user = e.user_id or joined.get(e.session_id)
        if user is None or e.item_id is None:
            continue
        columns["USER_ID"].append(user)
        columns["ITEM_ID"].append(e.item_id)
        columns["TIMESTAMP"].append(int(e.sent_at))
        columns["EVENT_TYPE"].append(e.event_type)
        columns["EVENT_VALUE"].append(e.event_value)
    return columns
