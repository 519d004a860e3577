"""The HTTP endpoint: both of the service's wire protocols on one port, as botocore's models define them.

* Control plane, JSON 1.1: ``POST /`` with ``X-Amz-Target: AmazonPersonalize.<Operation>`` and a JSON body;
  the answer is the operation's output shape as JSON (``application/x-amz-json-1.1``).
* Runtime, REST-JSON: ``POST /recommendations`` (GetRecommendations) with a JSON body.

Every request is read (at most :data:`MAX_BODY_BYTES`; a larger one is refused before it is read), then
SigV4-verified, then decoded and handed to the operations layer. Errors are the service's:
``{"__type": ..., "message": ...}`` with the status the model gives (400, the runtime's 404), 403 for
signing faults, and never a traceback or an HTML page.

Why aiohttp: it is already installed (Ray's dashboard depends on it), so the endpoint adds no dependency;
it is a mature asyncio HTTP/1.1 server with keep-alive, streaming request bodies (the size cap needs no
full read) and no framework layer between the socket and the handler, which keeps a request's overhead small.
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

from .. import operations
from ..resources.api import UnknownOperationException
from ..resources.campaigns import recommendation_request, recommendations_response
from ..resources.contract import http_status
from .runtime import RecommendationBatcher
from .sigv4 import AuthError, Received, Verifier

MAX_BODY_BYTES = 1 << 20
TARGET_PREFIX = "AmazonPersonalize."
CONTROL, RUNTIME = "personalize", "personalize-runtime"
CONTENT_TYPES = {CONTROL: "application/x-amz-json-1.1", RUNTIME: "application/json"}


class _Refused(Exception):
    def __init__(self, status: int, type_name: str, message: str):
        super().__init__(message)
        self.status, self.type_name, self.message = status, type_name, message


class Endpoint:
    def __init__(self, service, verifier: Verifier, max_body_bytes: int = MAX_BODY_BYTES,
                 inference_threads: int = 1):
        self.service = service
        self.verifier = verifier
        self.max_body_bytes = max_body_bytes
        self.control = ThreadPoolExecutor(1, thread_name_prefix="hrnn-control")  # one at a time: no races
        self.loading = ThreadPoolExecutor(2, thread_name_prefix="hrnn-load")
        self.batcher = RecommendationBatcher(ThreadPoolExecutor(inference_threads, thread_name_prefix="hrnn-infer"))

    def application(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body_bytes)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        protocol = RUNTIME if request.path == "/recommendations" else CONTROL
        try:
            if request.method != "POST" or request.path not in ("/", "/recommendations"):
                raise _Refused(404, "UnknownOperationException",
                               f"No operation at {request.method} {request.path[:100]}; the control plane is "
                               "POST / (JSON 1.1, X-Amz-Target) and GetRecommendations is POST /recommendations.")
            body = await self._body(request)
            self.verifier.verify(Received(request.method, request.raw_path, _headers(request), body))
            if protocol == RUNTIME:
                result = await self._recommend(_decode(body))
            else:
                operation = _operation(request.headers.get("X-Amz-Target"))
                result = await asyncio.get_running_loop().run_in_executor(
                    self.control, operations.call_operation, self.service, operation, _decode(body))
            return _respond(200, protocol, result)
        except _Refused as exc:
            return _error(exc.status, protocol, exc.type_name, exc.message)
        except AuthError as exc:
            return _error(403, protocol, exc.type_name, exc.message)
        except ServiceError as exc:
            return _error(http_status(exc.type_name, protocol), protocol, exc.type_name, exc.message)
        except Exception:  # a bug: the client gets the service's 500, the operator the traceback
            traceback.print_exc(file=sys.stderr)
            return _error(500, protocol, "InternalFailure",
                          "The request processing has failed because of an unknown error.")

    async def _body(self, request: web.Request) -> bytes:
        limit = self.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise InvalidInputException(
                f"The request body has {request.content_length:,} bytes; this server accepts at most {limit:,}.")
        data = bytearray()
        while True:
            chunk = await request.content.readany()
            if not chunk:
                return bytes(data)
            data += chunk
            if len(data) > limit:
                raise InvalidInputException(f"The request body exceeds {limit:,} bytes, the most this server accepts.")

    async def _recommend(self, request: dict) -> dict:
        name, user_id, num_results = recommendation_request(request)
        model = self.service.models.get(name)
        if model is None:
            model = await asyncio.get_running_loop().run_in_executor(self.loading, self.service.models.get_or_load, name)
        row = await self.batcher.recommend(model, user_id, num_results)
        return recommendations_response(row, num_results)

    def close(self) -> None:
        for pool in (self.control, self.loading, self.batcher.executor):
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
        value = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidInputException(f"The request body is not valid JSON: {str(exc)[:200]}.") from None
    if not isinstance(value, dict):
        raise InvalidInputException("The request body must be a JSON object.")
    return value


def _respond(status: int, protocol: str, payload: dict, headers: dict | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(payload, separators=(",", ":")).encode(),
                        headers={"Content-Type": CONTENT_TYPES[protocol], "x-amzn-RequestId": str(uuid.uuid4()),
                                 **(headers or {})})


def _error(status: int, protocol: str, type_name: str, message: str) -> web.Response:
    return _respond(status, protocol, {"__type": type_name, "message": message}, {"x-amzn-ErrorType": type_name})
