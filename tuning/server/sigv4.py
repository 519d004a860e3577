"""Verifying AWS Signature Version 4 on incoming requests, as the service does.

The client (boto3, the AWS CLI, any SDK) signs a canonical form of the request with a key derived from its
secret; the server rebuilds the same canonical form from what it received, derives the same key from its
copy of the secret and compares the signatures in constant time. Only the headers the client listed in
``SignedHeaders`` are used, so a proxy adding headers does not break verification, while any change to a
signed header, the path, the query or the body does.

Faults map to the service's 403 errors: ``IncompleteSignatureException`` (no or malformed Authorization,
missing date), ``UnrecognizedClientException`` (unknown access key), ``InvalidSignatureException`` (wrong
signature, wrong service or date scope, or a timestamp outside the allowed clock skew).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Mapping, Sequence
from urllib.parse import quote

from botocore.utils import normalize_url_path

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_SECONDS = 300  # the service's five minutes either way
_DATE_FORMAT = "%Y%m%dT%H%M%SZ"


class AuthError(Exception):
    def __init__(self, type_name: str, message: str):
        super().__init__(message)
        self.type_name = type_name
        self.message = message


def incomplete(message: str) -> AuthError:
    return AuthError("IncompleteSignatureException", message)


@dataclass(frozen=True)
class Received:
    """What the server got: method, the raw path and query as sent, every header (name -> values), the body."""

    method: str
    raw_path: str
    headers: Mapping[str, Sequence[str]]  # lower-case names
    body: bytes


@dataclass(frozen=True)
class _Authorization:
    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


class Verifier:
    """Checks requests against ``{access key id: secret}`` for one signing name (``personalize``)."""

    def __init__(self, credentials: Mapping[str, str], service: str = "personalize",
                 max_skew: float = MAX_SKEW_SECONDS, clock: Callable[[], float] = time.time):
        self._secrets = dict(credentials)
        self.service = service
        self.max_skew = max_skew
        self.clock = clock
        self._keys: dict[tuple[str, str, str], bytes] = {}

    def verify(self, request: Received) -> str:
        """The access key id that signed the request; raises :class:`AuthError` otherwise."""
        values = request.headers.get("authorization")
        if not values:
            raise incomplete("Missing Authentication Token: the request carries no Authorization header "
                             "(sign it with SigV4, as boto3 and the AWS CLI do).")
        auth = _parse(values[0])
        secret = self._secrets.get(auth.access_key)
        if secret is None:
            raise AuthError("UnrecognizedClientException", "The security token included in the request is invalid.")
        amz_date = _one(request.headers, "x-amz-date")
        if amz_date is None:
            raise incomplete("Authorization requires the x-amz-date header.")
        if "host" not in auth.signed_headers or "x-amz-date" not in auth.signed_headers:
            raise incomplete("SignedHeaders must include host and x-amz-date.")
        self._check_scope(auth, amz_date)
        string_to_sign = "\n".join((ALGORITHM, amz_date, _scope(auth), _sha256(canonical_request(request, auth))))
        expected = hmac.new(self._key(secret, auth), string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), auth.signature.lower().encode()):
            raise AuthError("InvalidSignatureException",
                            "The request signature we calculated does not match the signature you provided. "
                            "Check your AWS Secret Access Key and signing method.")
        return auth.access_key

    def _check_scope(self, auth: _Authorization, amz_date: str) -> None:
        try:
            signed_at = datetime.strptime(amz_date, _DATE_FORMAT).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            raise incomplete(f"x-amz-date {amz_date[:32]!r} is not in ISO 8601 basic format (YYYYMMDD'T'HHMMSS'Z').") \
                from None
        if auth.service != self.service:
            raise AuthError("InvalidSignatureException",
                            f"Credential should be scoped to correct service: '{self.service}'.")
        if auth.date != amz_date[:8]:
            raise AuthError("InvalidSignatureException",
                            f"Credential should be scoped to a valid date: '{amz_date[:8]}'.")
        now = self.clock()
        if signed_at < now - self.max_skew:
            raise AuthError("InvalidSignatureException",
                            f"Signature expired: {amz_date} is now earlier than {_stamp(now - self.max_skew)} "
                            f"({_stamp(now)} - {int(self.max_skew // 60)} min.)")
        if signed_at > now + self.max_skew:
            raise AuthError("InvalidSignatureException",
                            f"Signature not yet current: {amz_date} is still later than {_stamp(now + self.max_skew)} "
                            f"({_stamp(now)} + {int(self.max_skew // 60)} min.)")

    def _key(self, secret: str, auth: _Authorization) -> bytes:
        cache_key = (auth.access_key, auth.date, auth.region)
        key = self._keys.get(cache_key)
        if key is None:
            key = ("AWS4" + secret).encode()
            for part in (auth.date, auth.region, auth.service, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            if len(self._keys) > 256:
                self._keys.clear()
            self._keys[cache_key] = key
        return key


def canonical_request(request: Received, auth: _Authorization) -> str:
    path, _, query = request.raw_path.partition("?")
    headers = "".join(f"{name}:{','.join(' '.join(v.split()) for v in request.headers.get(name, ()))}\n"
                      for name in auth.signed_headers)
    return "\n".join((request.method.upper(), _canonical_path(path), _canonical_query(query), headers,
                      ";".join(auth.signed_headers), _sha256(request.body)))


def _canonical_path(path: str) -> str:
    """As botocore signs it: the path as sent, dot segments removed, percent-encoded once more."""
    return quote(normalize_url_path(path), safe="/~")


def _canonical_query(query: str) -> str:
    """As botocore signs a URL's query: its ``key=value`` pairs as sent, sorted."""
    if not query:
        return ""
    pairs = sorted(pair.partition("=")[::2] for pair in query.split("&"))
    return "&".join(f"{key}={value}" for key, value in pairs)


def _parse(header: str) -> _Authorization:
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
    if list(signed) != sorted(set(signed)) or any(h != h.lower() for h in signed):
        raise incomplete("SignedHeaders must be lower-case header names, sorted and separated by ';'.")
    return _Authorization(scope[0], scope[1], scope[2], scope[3], signed, fields["Signature"])


def _scope(auth: _Authorization) -> str:
    return f"{auth.date}/{auth.region}/{auth.service}/aws4_request"


def _one(headers: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0].strip() if values else None


def _sha256(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime(_DATE_FORMAT)
