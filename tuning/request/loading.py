"""Read a CreateSolution request from a file, a ``file://`` URI or inline JSON text.

Why apart from validation: reading can fail in ways that have nothing to do with the request's content (a
missing file, bad UTF-8, malformed or absurdly nested JSON), and each of those must still end as the
service's ``InvalidInputException`` with the origin named, never as a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

from hrnn.errors import InvalidInputException

from ..shapes import json_type


def load_request(source: str) -> dict:
    """Read a request from a path, a ``file://`` URI, or inline JSON text (starting with ``{``)."""
    if not isinstance(source, str) or not source.strip():
        raise InvalidInputException("No request given: pass a JSON file path, file://path or JSON text.")
    if source.lstrip().startswith("{"):
        return _decode(source, "inline request JSON")
    path = source[len("file://"):] if source.startswith("file://") else source
    origin = f"request file {path!r}"
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidInputException(f"Cannot read {origin}: no such file.") from None
    except IsADirectoryError:
        raise InvalidInputException(f"Cannot read {origin}: it is a directory.") from None
    except UnicodeDecodeError as exc:
        raise InvalidInputException(f"Cannot read {origin}: not UTF-8 text ({exc.reason}).") from None
    except (OSError, ValueError) as exc:
        raise InvalidInputException(f"Cannot read {origin}: {exc}.") from None
    return _decode(text, origin)


def _decode(text: str, origin: str) -> dict:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputException(
            f"Malformed JSON in {origin} at line {exc.lineno}, column {exc.colno}: {exc.msg}."
        ) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer too long to convert, absurd nesting
        raise InvalidInputException(f"Cannot parse JSON in {origin}: {exc}.") from None
    if not isinstance(obj, dict):
        raise InvalidInputException(
            f"The top level of {origin} must be a JSON object (the CreateSolution request), "
            f"got {json_type(obj)}."
        )
    return obj
