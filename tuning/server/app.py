"""The HTTP endpoint: the service's wire protocols on one port, as botocore's models define them, over the one
operation layer (:func:`tuning.operations.call`). This module only decodes and encodes.

* Control plane, JSON 1.1: ``POST /`` with ``X-Amz-Target: AmazonPersonalize.<Operation>`` and a JSON body;
  the answer is the operation's output shape as JSON (``application/x-amz-json-1.1``).
* Runtime and events, REST-JSON: each operation at the method and path its model gives
  (``POST /recommendations`` is GetRecommendations) with a JSON body.

Every request is authenticated before its body is read (the SigV4 header checks), then read (at most
:data:`MAX_BODY_BYTES`; a larger one is refused before it is read), then its signature verified, then
decoded and handed to the operation on a worker thread (control-plane operations one at a time, so they
never race; runtime operations concurrently). Errors are the service's: ``{"__type": ..., "message": ...}``
with the status the model gives (400, the runtime's 404), 403 for signing faults, 503 when the server is at
its connection limit, and never a traceback or an HTML page.
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from hrnn.errors import InvalidInputException, ServiceError

from ..contract import CONTROL, http_status, operation_model
from ..files import strict_json
from ..operations import TABLE, UnknownOperationException, call
from .sigv4 import AuthError, Received, Verifier

MAX_BODY_BYTES = 1 << 20
TARGET_PREFIX = "AmazonPersonalize."
CONTENT_TYPES = {CONTROL: "application/x-amz-json-1.1"}


class _Refused(Exception):
    def __init__(self, status: int, type_name: str, message: str):
        super().__init__(message)
        self.status, self.type_name, self.message = status, type_name, message


def rest_routes() -> dict[tuple[str, str], tuple[str, str]]:
    """``(method, path) -> (service, operation)`` of every REST-JSON operation in the table."""
    routes = {}
    for (service, name) in TABLE:
        if service != CONTROL:
            http = (operation_model(service, name) or {}).get("http", {})
            routes[(http.get("method", "POST"), http.get("requestUri", "/").split("?")[0])] = (service, name)
    return routes


class Endpoint:
    def __init__(self, ctx, verifier: Verifier, max_body_bytes: int = MAX_BODY_BYTES, runtime_threads: int = 16,
                 body_timeout: float = 10.0):
        self.ctx = ctx
        self.verifier = verifier
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout  # seconds a body may pause between two chunks
        self.routes = rest_routes()
        self.control = ThreadPoolExecutor(1, thread_name_prefix="hrnn-control")  # one at a time: no races
        self.runtime = ThreadPoolExecutor(runtime_threads, thread_name_prefix="hrnn-runtime")

    def application(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body_bytes)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        route = self.routes.get((request.method, request.path))
        service = route[0] if route else CONTROL
        try:
            if route is None and (request.method, request.path) != ("POST", "/"):
                raise _Refused(404, "UnknownOperationException",
                               f"No operation at {request.method} {request.path[:100]}; the control plane is POST / "
                               f"(JSON 1.1, X-Amz-Target), and {', '.join(f'{m} {p}' for m, p in self.routes)}.")
            headers = _headers(request)
            self.verifier.precheck(headers)  # before the body: unauthenticated requests stay cheap
            body = await self._body(request)
            self.verifier.verify(Received(request.method, request.raw_path, headers, body))
            operation = route[1] if route else _operation(request.headers.get("X-Amz-Target"))
            pool = self.control if service == CONTROL else self.runtime
            result = await asyncio.get_running_loop().run_in_executor(pool, call, self.ctx, operation, _decode(body),
                                                                      service)
            return _respond(200, service, result)
        except _Refused as exc:
            return _error(exc.status, service, exc.type_name, exc.message)
        except AuthError as exc:
            return _error(403, service, exc.type_name, exc.message)
        except ServiceError as exc:
            return _error(http_status(exc.type_name, service), service, exc.type_name, exc.message)
        except Exception:  # noqa: BLE001 - a bug: the client gets the service's 500, the operator the traceback
            traceback.print_exc(file=sys.stderr)
            return _error(500, service, "InternalFailure", "The request processing has failed because of an unknown "
                                                           "error.")

    async def _body(self, request: web.Request) -> bytes:
        limit = self.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise InvalidInputException(
                f"The request body has {request.content_length:,} bytes; this server accepts at most {limit:,}.")
        data = bytearray()
        while True:
            try:
                chunk = await asyncio.wait_for(request.content.readany(), self.body_timeout)
            except asyncio.TimeoutError:
                raise _Refused(408, "RequestTimeoutException", f"The request body stalled for {self.body_timeout:g} s; "
                               "send it whole.") from None
            if not chunk:
                return bytes(data)
            data += chunk
            if len(data) > limit:
                raise InvalidInputException(f"The request body exceeds {limit:,} bytes, the most this server accepts.")

    def close(self) -> None:
        for pool in (self.control, self.runtime):
            pool.shutdown(wait=False, cancel_futures=True)


def _headers(request: web.Request) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers.setdefault(name.lower(), []).append(value)
    return headers


def _operation(target: str | None) -> str:
    if not target or not target.startswith(TARGET_PREFIX):
        raise UnknownOperationException(
            f"X-Amz-Target {str(target)[:100]!r} names no operation; expected {TARGET_PREFIX}<Operation>.")
    return target[len(TARGET_PREFIX):]


def _decode(body: bytes) -> dict:
    if not body.strip():
        return {}
    try:
        value = strict_json(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidInputException(f"The request body is not valid JSON: {str(exc)[:200]}.") from None
    if not isinstance(value, dict):
        raise InvalidInputException("The request body must be a JSON object.")
    return value


def _respond(status: int, service: str, payload: dict, headers: dict | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(payload, separators=(",", ":")).encode(),
                        headers={"Content-Type": CONTENT_TYPES.get(service, "application/json"),
                                 "x-amzn-RequestId": str(uuid.uuid4()), **(headers or {})})


def _error(status: int, service: str, type_name: str, message: str) -> web.Response:
    return _respond(status, service, {"__type": type_name, "message": message}, {"x-amzn-ErrorType": type_name})
