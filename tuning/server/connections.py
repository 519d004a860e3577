"""Connections the server accepts: a cap on how many are open at once, and a quiet log when the system runs
short of descriptors.

Why: every open connection holds a descriptor; without a cap, half-open connections (a client that connects
and sends nothing, or trickles its headers) could take them all, and every later accept would fail and log
a traceback. Past the cap a new connection gets a ``503`` and is closed at once; aiohttp's keep-alive timeout
(``--header-timeout``) closes a connection that has not sent a whole request in that time.
"""

from __future__ import annotations

import asyncio
from typing import Callable

_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
         b"Content-Length: 95\r\n\r\n"
         b'{"__type":"ServiceUnavailable","message":"The server is at its connection limit; retry later."}')


class _Busy(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(_BUSY)  # type: ignore[attr-defined]
        transport.close()


def capped_factory(server, limit: int) -> Callable[[], asyncio.Protocol]:
    """aiohttp's protocol factory, answering ``503`` past ``limit`` open connections."""
    def factory() -> asyncio.Protocol:
        if len(server.connections) >= limit:
            return _Busy()
        return server()
    return factory


def quiet_exception_handler(log: Callable[[str], None]):
    """The event loop's handler for errors nothing else caught (such as ``accept()`` failing for want of
    descriptors): one line, rate-limited by ``log``, instead of a traceback each time."""
    def handle(loop: asyncio.AbstractEventLoop, context: dict) -> None:
        exc = context.get("exception")
        log(f"hrnn serve: {context.get('message', 'error')}: {type(exc).__name__ + ': ' + str(exc) if exc else ''}")
    return handle
