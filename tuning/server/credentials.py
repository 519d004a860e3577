"""The access keys the server accepts: ``HRNN_ACCESS_KEY_ID`` / ``HRNN_SECRET_ACCESS_KEY`` in its environment
and/or a credentials file in the AWS CLI's format (``--credentials-file``)::

    [alice]
    aws_access_key_id = AKIA...
    aws_secret_access_key = ...

Every section of the file is one accepted pair. There is no default pair: without any, the server refuses to
start (an endpoint anyone could call would train and serve on behalf of anyone).
"""

from __future__ import annotations

import configparser
import os
import stat
import sys
from pathlib import Path

ENV_KEY_ID = "HRNN_ACCESS_KEY_ID"
ENV_SECRET = "HRNN_SECRET_ACCESS_KEY"
MIN_SECRET_LENGTH = 16


class CredentialsError(Exception):
    """The server cannot start: no usable credentials."""


def load_credentials(path: str | os.PathLike | None = None, environ=os.environ) -> dict[str, str]:
    """``{access key id: secret}`` from the environment and the file; CredentialsError when there are none."""
    pairs: dict[str, str] = {}
    key_id, secret = environ.get(ENV_KEY_ID, "").strip(), environ.get(ENV_SECRET, "").strip()
    if key_id or secret:
        _add(pairs, key_id, secret, f"{ENV_KEY_ID}/{ENV_SECRET}")
    if path is not None:
        pairs.update(_read_file(Path(path)))
    if not pairs:
        raise CredentialsError(
            f"No credentials: set {ENV_KEY_ID} and {ENV_SECRET}, or pass --credentials-file FILE "
            "(sections with aws_access_key_id and aws_secret_access_key). Clients sign requests with the same pair.")
    return pairs


def _read_file(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as fh:
            parser.read_file(fh)
    except OSError as exc:
        raise CredentialsError(f"Cannot read credentials file {str(path)!r}: {exc.strerror or exc}.") from None
    except configparser.Error as exc:
        raise CredentialsError(f"Credentials file {str(path)!r} is not an INI file: {exc}".splitlines()[0]) from None
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        sys.stderr.write(f"hrnn serve: warning: {path} is readable by other users; chmod 600 it.\n")
    pairs: dict[str, str] = {}
    for section in parser.sections():
        values = parser[section]
        _add(pairs, values.get("aws_access_key_id", "").strip(), values.get("aws_secret_access_key", "").strip(),
             f"{path} [{section}]")
    return pairs


def _add(pairs: dict[str, str], key_id: str, secret: str, origin: str) -> None:
    if not key_id or not secret:
        raise CredentialsError(f"{origin}: both an access key id and a secret access key are needed.")
    if any(c.isspace() or c == "/" for c in key_id):
        raise CredentialsError(f"{origin}: the access key id may not contain spaces or '/'.")
    if len(secret) < MIN_SECRET_LENGTH:
        raise CredentialsError(f"{origin}: the secret access key must have at least {MIN_SECRET_LENGTH} characters.")
    pairs[key_id] = secret
