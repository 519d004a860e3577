"""Verifying AWS Signature Version 4 on incoming requests, as the service does.

The client (boto3, the AWS CLI, any SDK) signs a canonical form of the request with a key derived from its
secret. The server rebuilds the request from what it received, keeping only the headers the client listed
in ``SignedHeaders``, and has botocore's own signer (``SigV4Auth``) compute the signature it should carry, so
canonicalisation cannot drift from the clients'; the two are compared in constant time.

What a valid signature must cover, beyond botocore's rules: ``host``, ``x-amz-date`` and ``content-type``, and
``x-amz-target`` whenever the request has one (it names the operation: a request signed without it could be
replayed as another operation); boto3 and the AWS CLI sign all of them. The credential scope must be the
server's service (``personalize``, botocore's signing name for all three Personalize clients), its region
and the request's date; a signed ``x-amz-content-sha256`` must be the body's hash.

Everything that needs no body is checked first (:meth:`Verifier.precheck`), so an unauthenticated request
costs a header parse. Faults map to the service's 403 errors: ``IncompleteSignatureException`` (no or
malformed Authorization, a required header missing or unsigned), ``UnrecognizedClientException`` (unknown
access key), ``InvalidSignatureException`` (wrong signature, scope or a timestamp outside the clock skew).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Mapping, Sequence

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_SECONDS = 300  # the service's five minutes either way
_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
ALWAYS_SIGNED = ("host", "x-amz-date", "content-type")
SIGNED_WHEN_PRESENT = ("x-amz-target",)


class AuthError(Exception):
    def __init__(self, type_name: str, message: str):
        super().__init__(message)
        self.type_name = type_name
        self.message = message


def incomplete(message: str) -> AuthError:
    return AuthError("IncompleteSignatureException", message)


def invalid(message: str) -> AuthError:
    return AuthError("InvalidSignatureException", message)


@dataclass(frozen=True)
class Received:
    """What the server got: method, the raw path and query as sent, every header (name -> values), the body."""

    method: str
    raw_path: str
    headers: Mapping[str, Sequence[str]]  # lower-case names
    body: bytes


@dataclass(frozen=True)
class Authorization:
    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str


class Verifier:
    """Checks requests against ``{access key id: secret}`` for one signing name and region."""

    def __init__(self, credentials: Mapping[str, str], service: str = "personalize", region: str | None = None,
                 max_skew: float = MAX_SKEW_SECONDS, clock: Callable[[], float] = time.time):
        self._secrets = dict(credentials)
        self.service, self.region = service, region
        self.max_skew = max_skew
        self.clock = clock

    def precheck(self, headers: Mapping[str, Sequence[str]]) -> Authorization:
        """Everything but the signature itself (no body needed); raises :class:`AuthError`."""
        values = headers.get("authorization")
        if not values:
            raise incomplete("Missing Authentication Token: the request carries no Authorization header "
                             "(sign it with SigV4, as boto3 and the AWS CLI do).")
        amz_date = _one(headers, "x-amz-date")
        auth = _parse(values[0], amz_date or "")
        if auth.access_key not in self._secrets:
            raise AuthError("UnrecognizedClientException", "The security token included in the request is invalid.")
        if amz_date is None:
            raise incomplete("Authorization requires the x-amz-date header.")
        required = ALWAYS_SIGNED + tuple(h for h in SIGNED_WHEN_PRESENT if h in headers)
        unsigned = [h for h in required if h not in auth.signed_headers]
        if unsigned:
            raise incomplete(f"SignedHeaders must include {', '.join(required)}; missing: {', '.join(unsigned)}.")
        self._check_scope(auth)
        return auth

    def verify(self, request: Received) -> str:
        """The access key id that signed the request; raises :class:`AuthError` otherwise."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        auth = self.precheck(request.headers)
        signed = {name: ",".join(request.headers.get(name, ())) for name in auth.signed_headers}
        declared = signed.get("x-amz-content-sha256")
        if declared is not None and declared != hashlib.sha256(request.body).hexdigest():
            raise invalid("x-amz-content-sha256 is not the SHA-256 of the body (payloads must be signed).")
        rebuilt = AWSRequest(method=request.method.upper(), url=f"http://{signed.get('host', '')}{request.raw_path}",
                             headers=signed, data=request.body)
        rebuilt.context["timestamp"] = auth.amz_date
        signer = SigV4Auth(Credentials(auth.access_key, self._secrets[auth.access_key]), auth.service, auth.region)
        expected = signer.signature(signer.string_to_sign(rebuilt, signer.canonical_request(rebuilt)), rebuilt)
        if not hmac.compare_digest(expected.encode(), auth.signature.lower().encode()):
            raise invalid("The request signature we calculated does not match the signature you provided. "
                          "Check your AWS Secret Access Key and signing method.")
        return auth.access_key

    def _check_scope(self, auth: Authorization) -> None:
        try:
            signed_at = datetime.strptime(auth.amz_date, _DATE_FORMAT).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            raise incomplete(f"x-amz-date {auth.amz_date[:32]!r} is not in ISO 8601 basic format "
                             "(YYYYMMDD'T'HHMMSS'Z').") from None
        if auth.service != self.service:
            raise invalid(f"Credential should be scoped to correct service: '{self.service}'.")
        if self.region is not None and auth.region != self.region:
            raise invalid(f"Credential should be scoped to a valid region, not '{auth.region[:40]}': this server "
                          f"answers for '{self.region}'.")
        if auth.date != auth.amz_date[:8]:
            raise invalid(f"Credential should be scoped to a valid date: '{auth.amz_date[:8]}'.")
        now = self.clock()
        if signed_at < now - self.max_skew:
            raise invalid(f"Signature expired: {auth.amz_date} is now earlier than {_stamp(now - self.max_skew)} "
                          f"({_stamp(now)} - {int(self.max_skew // 60)} min.)")
        if signed_at > now + self.max_skew:
            raise invalid(f"Signature not yet current: {auth.amz_date} is still later than "
                          f"{_stamp(now + self.max_skew)} ({_stamp(now)} + {int(self.max_skew // 60)} min.)")


def _parse(header: str, amz_date: str) -> Authorization:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise incomplete(f"Unsupported Authorization algorithm {algorithm[:32]!r}; expected {ALGORITHM}.")
    fields = {}
    for part in rest.split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields[key] = value.strip()
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if not fields.get(k)]
    if missing:
        raise incomplete(f"Authorization header requires {', '.join(repr(m) for m in missing)} "
                         f"parameter{'s' if len(missing) > 1 else ''}.")
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        raise incomplete("Credential must have the form <access key id>/<date>/<region>/<service>/aws4_request.")
    signed = tuple(fields["SignedHeaders"].split(";"))
    if list(signed) != sorted(set(signed)) or any(h != h.lower() or not h for h in signed):
        raise incomplete("SignedHeaders must be lower-case header names, sorted and separated by ';'.")
    return Authorization(scope[0], scope[1], scope[2], scope[3], signed, fields["Signature"], amz_date)


def _one(headers: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0].strip() if values else None


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime(_DATE_FORMAT)
