"""SIGINT and SIGTERM as a request to stop: the work in progress ends cleanly and stays resumable.

Why a module: an interrupted solution version must end ``CREATE STOPPED`` with its checkpoints intact
(the same command resumes it), whether the signal is a Ctrl-C (SIGINT) or a supervisor's SIGTERM (the
HTTP endpoint's StopSolutionVersionCreation sends one). Python's default SIGTERM ends the process without
running any ``finally``, and a Ray driver's native handler dumps a stack instead; Tune swallows SIGINT and
returns normally. So while a command runs, :func:`handling_signals` turns both signals into
:class:`Stopped`, raised where the program is (single training: between two batches), and inside
:func:`deferred` (a Tune run, which must stop its trials itself) only records the request:
:func:`requested` reads it and the Tune stopper ends the run. A second signal while a deferred stop is
under way raises at once.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + signal number, as a shell reports it


class Stopped(KeyboardInterrupt):
    """The user (SIGINT) or a supervisor (SIGTERM) asked the work to stop."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int:
        return SIGNAL_EXIT.get(self.signum, 128 + self.signum)


_state = {"requested": None, "deferred": 0}
_lock = threading.Lock()


def requested() -> int | None:
    """The signal that asked to stop, or None."""
    return _state["requested"]


def _handler(signum, frame) -> None:
    with _lock:
        first = _state["requested"] is None
        _state["requested"] = _state["requested"] or signum
        defer = _state["deferred"] > 0 and first
    if not defer:
        raise Stopped(signum)


@contextmanager
def handling_signals() -> Iterator[None]:
    """Install the handlers for SIGINT and SIGTERM (main thread only; elsewhere this does nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNAL_EXIT}
    _state["requested"] = None
    for s in SIGNAL_EXIT:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def deferred() -> Iterator[None]:
    """Within this block a first signal only records the request (see the module docstring).

    The handlers are installed again on entry: a library that replaced them (Ray's driver installs a
    native SIGTERM handler when it starts) must not keep them.
    """
    main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.getsignal(s) for s in SIGNAL_EXIT} if main else {}
    if main:
        for s in SIGNAL_EXIT:
            signal.signal(s, _handler)
    with _lock:
        if _state["deferred"] == 0:
            _state["requested"] = None
        _state["deferred"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["deferred"] -= 1
        for s, handler in previous.items():
            if handler is not None:
                signal.signal(s, handler)
