"""SigV4 verification against botocore's own signer, and the server's credentials: no server needed."""

from __future__ import annotations

import datetime
import os

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tuning.server.credentials import CredentialsError, load_credentials
from tuning.server.sigv4 import AuthError, Received, Verifier

KEY, SECRET = "AKIDUNITTEST", "unit-test-secret-0123456789"
NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)


def _received(url="http://127.0.0.1:8080/", body=b'{"maxResults": 5}', secret=SECRET, key=KEY, service="personalize",
              headers=None) -> Received:
    request = AWSRequest(method="POST", url=url, data=body, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AmazonPersonalize.ListRecipes", **(headers or {})})
    from unittest import mock

    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW):
        SigV4Auth(Credentials(key, secret), service, "eu-west-1").add_auth(request)
    prepared = request.prepare()
    sent = {"host": [url.split("/")[2]]}
    for name, value in prepared.headers.items():
        sent.setdefault(name.lower(), []).append(value)
    return Received("POST", url.split(url.split("/")[2], 1)[1], sent, body)


def _verifier(**kwargs) -> Verifier:
    return Verifier({KEY: SECRET, "AKIDOTHER": "another-secret-0123456789"}, clock=lambda: NOW.timestamp(), **kwargs)


def _fault(received: Received, verifier: Verifier | None = None) -> tuple[str, str]:
    with pytest.raises(AuthError) as caught:
        (verifier or _verifier()).verify(received)
    return caught.value.type_name, caught.value.message


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/", "http://127.0.0.1:8080/recommendations",
                                 "http://localhost/recommendations?b=2&a=1&a=0"])
def test_a_request_botocore_signed_is_accepted(url):
    assert _verifier().verify(_received(url)) == KEY


def test_any_change_after_signing_breaks_the_signature():
    good = _received()
    assert _fault(Received("POST", good.raw_path, good.headers, good.body + b" "))[0] == "InvalidSignatureException"
    assert _fault(Received("POST", "/recommendations", good.headers, good.body))[0] == "InvalidSignatureException"
    tampered = {**good.headers, "x-amz-target": ["AmazonPersonalize.DeleteSolution"]}
    assert _fault(Received("POST", good.raw_path, tampered, good.body))[0] == "InvalidSignatureException"
    # A header the client did not sign may change (a proxy adding one does not break verification).
    assert _verifier().verify(Received("POST", good.raw_path, {**good.headers, "via": ["proxy"]}, good.body)) == KEY


def test_the_wrong_secret_and_an_unknown_key_are_told_apart():
    assert _fault(_received(secret="not-the-secret-0123456789"))[0] == "InvalidSignatureException"
    assert _fault(_received(key="AKIDSTRANGER")) == (
        "UnrecognizedClientException", "The security token included in the request is invalid.")


def test_missing_or_malformed_authorization_is_incomplete():
    good = _received()
    bare = {k: v for k, v in good.headers.items() if k != "authorization"}
    assert _fault(Received("POST", "/", bare, good.body))[0] == "IncompleteSignatureException"
    for header in ("AWS4-HMAC-SHA256 Credential=AKIDUNITTEST/20240501/eu-west-1/personalize/aws4_request",
                   "Basic dXNlcjpwYXNz",
                   "AWS4-HMAC-SHA256 Credential=AKIDUNITTEST/20240501, SignedHeaders=host;x-amz-date, Signature=00",
                   "AWS4-HMAC-SHA256 Credential=AKIDUNITTEST/20240501/eu-west-1/personalize/aws4_request, "
                   "SignedHeaders=x-amz-date;host, Signature=00"):
        kind, message = _fault(Received("POST", "/", {**bare, "authorization": [header]}, good.body))
        assert kind == "IncompleteSignatureException", (header, message)
    no_date = {k: v for k, v in good.headers.items() if k != "x-amz-date"}
    assert _fault(Received("POST", "/", no_date, good.body))[0] == "IncompleteSignatureException"


def test_a_request_outside_the_clock_skew_is_refused_both_ways():
    received = _received()
    late = Verifier({KEY: SECRET}, clock=lambda: NOW.timestamp() + 301)
    early = Verifier({KEY: SECRET}, clock=lambda: NOW.timestamp() - 301)
    kind, message = _fault(received, late)
    assert kind == "InvalidSignatureException" and message.startswith("Signature expired: 20240501T120000Z")
    kind, message = _fault(received, early)
    assert kind == "InvalidSignatureException" and message.startswith("Signature not yet current")
    assert Verifier({KEY: SECRET}, clock=lambda: NOW.timestamp() + 299).verify(received) == KEY


def test_a_signature_for_another_service_is_refused():
    kind, message = _fault(_received(service="s3"))
    assert kind == "InvalidSignatureException" and "personalize" in message


# ---- credentials ------------------------------------------------------------------------------------

def test_credentials_come_from_the_environment_or_a_file_and_none_is_refused(tmp_path):
    assert load_credentials(environ={"HRNN_ACCESS_KEY_ID": KEY, "HRNN_SECRET_ACCESS_KEY": SECRET}) == {KEY: SECRET}
    with pytest.raises(CredentialsError, match="No credentials"):
        load_credentials(environ={})
    path = tmp_path / "credentials"
    path.write_text(f"[alice]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n"
                    "[bob]\naws_access_key_id = AKIDBOB\naws_secret_access_key = bob-secret-0123456789\n")
    os.chmod(path, 0o600)
    assert load_credentials(path, environ={}) == {KEY: SECRET, "AKIDBOB": "bob-secret-0123456789"}


@pytest.mark.parametrize("environ, problem", [
    ({"HRNN_ACCESS_KEY_ID": KEY}, "both"),
    ({"HRNN_ACCESS_KEY_ID": KEY, "HRNN_SECRET_ACCESS_KEY": "short"}, "at least 16"),
    ({"HRNN_ACCESS_KEY_ID": "A B", "HRNN_SECRET_ACCESS_KEY": SECRET}, "spaces"),
])
def test_unusable_credentials_are_refused(environ, problem):
    with pytest.raises(CredentialsError, match=problem):
        load_credentials(environ=environ)


def test_a_missing_or_garbled_credentials_file_is_refused(tmp_path):
    with pytest.raises(CredentialsError, match="Cannot read"):
        load_credentials(tmp_path / "nope", environ={})
    garbled = tmp_path / "garbled"
    garbled.write_text("aws_access_key_id = x\n")
    with pytest.raises(CredentialsError, match="not an INI file"):
        load_credentials(garbled, environ={})


# ---- what a signature must cover (issue 16) -------------------------------------------------------------

def _without(received: Received, *names: str) -> Received:
    return Received(received.method, received.raw_path,
                    {k: v for k, v in received.headers.items() if k not in names}, received.body)


def test_the_operation_header_must_be_signed_when_it_is_sent():
    bare = _received(headers={})
    target_free = _without(bare, "x-amz-target")
    request = AWSRequest(method="POST", url="http://127.0.0.1:8080/", data=target_free.body,
                         headers={"Content-Type": "application/x-amz-json-1.1"})
    from unittest import mock

    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW):
        SigV4Auth(Credentials(KEY, SECRET), "personalize", "eu-west-1").add_auth(request)
    sent = {"host": ["127.0.0.1:8080"], **{k.lower(): [v] for k, v in request.prepare().headers.items()}}
    assert _verifier().verify(Received("POST", "/", sent, target_free.body)) == KEY  # no target: nothing to cover
    replayed = {**sent, "x-amz-target": ["AmazonPersonalize.DeleteSolution"]}  # added after signing
    kind, message = _fault(Received("POST", "/", replayed, target_free.body))
    assert kind == "IncompleteSignatureException" and "x-amz-target" in message


def test_host_date_and_content_type_must_be_signed():
    good = _received()
    auth = good.headers["authorization"][0]
    for header in ("content-type", "host"):
        signed_list = auth.split("SignedHeaders=")[1].split(",")[0]
        narrowed = auth.replace(signed_list, ";".join(h for h in signed_list.split(";") if h != header))
        kind, message = _fault(Received("POST", "/", {**good.headers, "authorization": [narrowed]}, good.body))
        assert kind == "IncompleteSignatureException" and header in message, message


def test_the_scope_must_name_the_servers_region():
    kind, message = _fault(_received(), _verifier(region="us-east-1"))
    assert kind == "InvalidSignatureException" and "region" in message
    assert _verifier(region="eu-west-1").verify(_received()) == KEY


def test_a_signed_payload_hash_must_be_the_bodys():
    import hashlib

    other = hashlib.sha256(b"another body").hexdigest()
    received = _received(headers={"X-Amz-Content-SHA256": other})  # signed over the declared hash
    kind, message = _fault(received)
    assert kind == "InvalidSignatureException" and "x-amz-content-sha256" in message
