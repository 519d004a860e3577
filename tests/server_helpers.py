"""Shared pieces of the endpoint tests: a real ``hrnn serve`` on a free loopback port, boto3 clients whose every
answer is checked against botocore's output shapes, raw signed requests, a local S3 (moto in server mode)."""

from __future__ import annotations

import datetime
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.validate import ParamValidator

from tuning.contract import shapes
from tuning.shapes import validate

KEY_ID, SECRET = "AKIDHRNNTEST0001", "hrnn-test-secret-0123456789"
REGION = "us-east-1"
RECIPE_ARN = "arn:aws:personalize:::recipe/aws-hrnn"
ROLE_ARN = "arn:aws:iam::000000000000:role/PersonalizeRole"
ROOT = Path(__file__).resolve().parent.parent
SERVER_ENV = {**os.environ, "HRNN_ACCESS_KEY_ID": KEY_ID, "HRNN_SECRET_ACCESS_KEY": SECRET,
              "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
              "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
INTERACTIONS_SCHEMA = json.dumps({
    "type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema", "version": "1.0",
    "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
               {"name": "TIMESTAMP", "type": "long"}, {"name": "EVENT_TYPE", "type": "string"},
               {"name": "EVENT_VALUE", "type": ["null", "float"]}]})


class Server:
    """``hrnn serve --port 0`` in a subprocess; ``endpoint`` is where it listens."""

    def __init__(self, workspace: Path, *extra: str, env: dict | None = None):
        self.workspace = workspace
        self.log = open(workspace.parent / f"{workspace.name}-server.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tuning.cli", "serve", "--port", "0", "--workspace", str(workspace), *extra],
            stdout=subprocess.PIPE, stderr=self.log, env=env or SERVER_ENV, cwd=workspace.parent)
        line = self.proc.stdout.readline()
        assert line, f"hrnn serve did not start; see {self.log.name}"
        self.endpoint = json.loads(line)["endpoint"]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        self.log.close()


def client(endpoint: str, service: str = "personalize", validate_params: bool = True, **kwargs):
    """A boto3 client for the server; every response it parses is checked against the operation's model."""
    made = boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id=kwargs.pop("key_id", KEY_ID),
                        aws_secret_access_key=kwargs.pop("secret", SECRET),
                        config=Config(parameter_validation=validate_params, retries={"max_attempts": 1},
                                      read_timeout=120))
    made.meta.events.register("before-parse", _check_raw_response)
    made.meta.events.register("after-call", _check_parsed_response)
    return made


def _check_raw_response(operation_model, response_dict, **_):
    """The body as sent: every member known to the model, every value within the output shape."""
    body = json.loads(response_dict["body"] or b"{}")
    service = operation_model.service_model.service_name
    if response_dict["status_code"] >= 300:
        assert set(body) == {"__type", "message"}, body
        return
    if operation_model.output_shape is None:
        assert body == {}, body
        return
    # botocore's own shapes, untouched: every member and value as the service's model says.
    validate(shapes(service), operation_model.output_shape.name, body)


def _check_parsed_response(model, parsed, http_response, **_):
    if http_response.status_code < 300 and model.output_shape is not None:
        report = ParamValidator().validate({k: v for k, v in parsed.items() if k != "ResponseMetadata"},
                                           model.output_shape)
        assert not report.has_errors(), report.generate_report()


def signed(endpoint: str, body: bytes, *, path: str = "/", target: str | None = None, key_id: str = KEY_ID,
           secret: str = SECRET, service: str = "personalize", when: datetime.datetime | None = None,
           headers: dict | None = None, region: str = REGION) -> AWSRequest:
    """A request signed by botocore's SigV4 signer (optionally as if at ``when``)."""
    request = AWSRequest(method="POST", url=endpoint + path, data=body, headers={
        "Content-Type": "application/x-amz-json-1.1" if target else "application/json",
        **({"X-Amz-Target": target} if target else {}), **(headers or {})})
    signer = SigV4Auth(Credentials(key_id, secret), service, region)
    if when is None:
        signer.add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            signer.add_auth(request)
    return request


def send(endpoint: str, request: AWSRequest | None = None, *, method: str = "POST", path: str = "/",
         body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict, dict]:
    """Send as is; (status, headers, JSON body)."""
    host = urlsplit(endpoint).netloc
    connection = http.client.HTTPConnection(host, timeout=60)
    if request is not None:
        method, path = request.method, urlsplit(request.url).path
        body, headers = request.body, dict(request.headers)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(payload or b"{}")


def wait_for(describe, member: str, done=("ACTIVE", "CREATE FAILED", "CREATE STOPPED"), timeout: float = 240,
             seen: list | None = None) -> dict:
    """Poll a Describe call until the resource's status is one of ``done``; every status seen is recorded."""
    deadline = time.monotonic() + timeout
    while True:
        resource = describe()[member]
        if seen is not None and (not seen or seen[-1] != resource["status"]):
            seen.append(resource["status"])
        if resource["status"] in done:
            return resource
        assert time.monotonic() < deadline, f"{member} still {resource['status']} after {timeout} s"
        time.sleep(0.2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def moto_s3(tmp: Path):
    """An S3-compatible store on 127.0.0.1 (moto in server mode); yields (endpoint, boto3 S3 client)."""
    port = free_port()
    log = open(tmp / "moto.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=log)
    endpoint = f"http://127.0.0.1:{port}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="moto",
                      aws_secret_access_key="moto-secret")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                s3.list_buckets()
                break
            except Exception:
                assert time.monotonic() < deadline and proc.poll() is None, "moto did not start"
                time.sleep(0.2)
        yield endpoint, s3
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def s3_env(endpoint: str) -> dict:
    """The server's environment for reading that store through pyarrow.fs."""
    return {**SERVER_ENV, "AWS_ACCESS_KEY_ID": "moto", "AWS_SECRET_ACCESS_KEY": "moto-secret",
            "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ENDPOINT_URL_S3": endpoint,
            "AWS_EC2_METADATA_DISABLED": "true"}
