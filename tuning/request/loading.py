"""Read a JSON (or YAML) document given as a file path, a ``file://`` URI or inline text: a CreateSolution
request, or any command's ``--cli-input-json`` / ``--cli-input-yaml``.

Why apart from validation: reading can fail in ways that have nothing to do with the request's content, and
each must still end as the service's ``InvalidInputException`` with the origin named, never as a traceback
or a hang: a missing file, a directory, a FIFO or device (``file:///dev/zero`` would be read forever), more
than :data:`MAX_REQUEST_BYTES`, bad UTF-8, malformed JSON, ``NaN``/``Infinity`` (not JSON, and they would
be stored and echoed as such), or nesting deeper than :data:`MAX_DEPTH` (Python's parser would hit its
recursion limit near 1000 levels, and deep values make every later step fragile).
"""

from __future__ import annotations

import json
from typing import Callable

from hrnn.errors import InvalidInputException

from ..files import nesting_depth, read_regular_file, strict_json
from ..shapes import MAX_DEPTH, json_type

MAX_REQUEST_BYTES = 1024 * 1024


def load_request(source: str) -> dict:
    """Read a request from a path, a ``file://`` URI, or inline JSON text (starting with ``{`` or ``[``)."""
    return load_document(source, "request")


def load_document(source: str, what: str, yaml: bool = False) -> dict:
    """A JSON object (YAML mapping with ``yaml``) from a path, ``file://`` URI or inline text."""
    if not isinstance(source, str) or not source.strip():
        raise InvalidInputException(f"No {what} given: pass a file path, file://path or the text itself.")
    stripped = source.lstrip()
    inline = stripped.startswith(("{", "[")) or (yaml and ("\n" in source or ":" in source) and
                                                 not source.startswith("file://"))
    if inline:
        return _decode(source, f"inline {what} {'YAML' if yaml else 'JSON'}", yaml)
    return _decode(read_text_file(source, what), f"{what} file {_path_of(source)!r}", yaml)


def _path_of(source: str) -> str:
    return source[len("file://"):] if source.startswith("file://") else source


def read_text_file(source: str, what: str) -> str:
    """A small UTF-8 regular file named by a path or ``file://`` URI."""
    path = _path_of(source)
    if not path:
        raise InvalidInputException(f"Cannot read the {what}: {source!r} names no file (write file://path/to/file).")
    origin = f"{what} file {path!r}"
    try:
        data = read_regular_file(path, MAX_REQUEST_BYTES)
    except FileNotFoundError:
        raise InvalidInputException(f"Cannot read {origin}: no such file.") from None
    except OSError as exc:
        raise InvalidInputException(f"Cannot read {origin}: {exc.strerror or exc}.") from None
    except ValueError as exc:  # a NUL byte in the name
        raise InvalidInputException(f"Cannot read {origin}: {exc}.") from None
    if data is None:
        raise InvalidInputException(f"Cannot read {origin}: it is {_kind(path)}, not a regular file.")
    if len(data) > MAX_REQUEST_BYTES:
        raise InvalidInputException(f"Cannot read {origin}: it is larger than {MAX_REQUEST_BYTES // 1024} KiB.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputException(f"Cannot read {origin}: not UTF-8 text ({exc.reason}).") from None


def _kind(path: str) -> str:
    import os
    import stat

    mode = os.stat(path).st_mode
    return ("a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket or other special file")


def _decode(text: str, origin: str, yaml: bool = False) -> dict:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_REQUEST_BYTES:
        raise InvalidInputException(f"The {origin} is larger than {MAX_REQUEST_BYTES // 1024} KiB.")
    parse: Callable[[str], object] = _yaml if yaml else strict_json
    if not yaml and nesting_depth(text) > MAX_DEPTH:
        raise InvalidInputException(f"The {origin} is nested more than {MAX_DEPTH} levels deep.")
    try:
        obj = parse(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputException(
            f"Malformed JSON in {origin} at line {exc.lineno}, column {exc.colno}: {exc.msg}."
        ) from None
    except InvalidInputException:
        raise
    except (ValueError, RecursionError) as exc:  # NaN, an integer too long to convert, YAML errors
        raise InvalidInputException(f"Cannot parse {'YAML' if yaml else 'JSON'} in {origin}: {str(exc)[:300]}.") from None
    if not isinstance(obj, dict):
        raise InvalidInputException(
            f"The top level of the {origin} must be a JSON object (its members), got {json_type(obj)}."
        )
    return obj


def _yaml(text: str) -> object:
    """YAML without aliases (a few anchors can expand to gigabytes once written out as JSON) or tags; the
    same limits as JSON on depth and non-finite numbers."""
    import math

    import yaml

    class Loader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                raise ValueError("YAML aliases (*name) are not accepted")
            if self.check_event(yaml.MappingStartEvent, yaml.SequenceStartEvent):
                self.depth = getattr(self, "depth", 0) + 1
                if self.depth > MAX_DEPTH:
                    raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
            node = super().compose_node(parent, index)
            if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
                self.depth -= 1
            return node

        def construct_mapping(self, node, deep=False):
            keys = [self.construct_object(key, deep=True) for key, _ in node.value]
            repeated = sorted({str(k) for k in keys if keys.count(k) > 1})
            if repeated:
                raise ValueError(f"YAML key {repeated[0]!r} appears more than once (line {node.start_mark.line + 1}); "
                                 "give each member once")
            return super().construct_mapping(node, deep)

    try:
        value = yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ValueError(f"malformed YAML: {str(exc)[:200]}") from None

    def check(v):
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError("YAML .nan/.inf are not numbers a request can hold")
        if isinstance(v, dict):
            for item in v.values():
                check(item)
        elif isinstance(v, list):
            for item in v:
                check(item)
        elif not isinstance(v, (str, int, bool, type(None), float)):
            raise ValueError(f"YAML value of type {type(v).__name__} is not JSON")
        return v

    return check(value)
