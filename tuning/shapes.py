"""Validate a JSON value against a botocore-style shape table, with messages a user can act on.

Why: every operation's input is described once, as data, in the service model botocore ships (``shapes``:
structures, lists, maps and scalars with ``required``, ``min``, ``max``, ``pattern`` and ``enum``). Walking
that table with one small validator, in the manner of botocore's ``ParamValidator``, keeps the envelope
of a request in one place instead of a parse function per member; only rules that tie members together
are left to code. The table is a plain ``{shape name: shape}`` dict, so any operation can be checked:
``validate(shapes, "CreateSolutionRequest", obj)``.

Failures raise :class:`hrnn.errors.InvalidInputException` whose message names the field path
(``solutionConfig.hpoConfig.hpoResourceConfig.maxNumberOfTrainingJobs``, ``tags[3].tagKey``,
``algorithmHyperParameters["training.bptt"]``), the value (cut short by :func:`show`) and what is allowed.

Semantics, where botocore leaves a choice:

* JSON ``null`` for a structure member counts as absent (a required member may not be null). List items
  and map values are never absent: ``null`` there is a type error.
* Unknown structure members are refused, listing the allowed ones (botocore does the same).
* Patterns must match the whole string, as the service applies them. They are written in Java's regex
  dialect; :func:`compile_pattern` translates what Python's ``re`` reads differently: ``\\p{X}``/``\\P{X}``
  for a Unicode general category (``L``, ``Z``, ``N``, ``Lu``, ...) and ``\\p{ASCII}``; ``\\d``, ``\\w``,
  ``\\s`` (ASCII-only in Java) and their negations; and ``.``, which in Java matches no line terminator
  (``\\n \\r \\x85 \\u2028 \\u2029``). Any other escaped letter, nested class or ``&&`` raises
  :class:`ShapeError`, so a new model cannot silently mean something else.
* Two approximations remain: categories follow Python's Unicode database
  (``unicodedata.unidata_version``), which may differ from the service's Java for characters assigned in
  between; and string lengths count code points, where Java counts UTF-16 units (a character outside the
  BMP counts 1 here, 2 there).
* ``double``/``float`` must be finite. A ``timestamp`` is epoch seconds or an ISO 8601 string; a ``blob``
  is base64 text, its ``min``/``max`` counting decoded bytes. A ``sensitive`` value is never echoed.
* Nesting beyond :data:`MAX_DEPTH` containers is refused; containers are only entered where the shape
  says so, and sizes are checked before items, so hostile input costs neither recursion nor time.

A member reference (``{"shape": "Name", ...}``) may carry this project's narrowing on top of the shape:
``min``, ``max``, ``pattern``, ``enum`` (override the shape's), ``refused`` (the member must be absent; the
text says why), ``const`` with ``reason`` (the only value accepted, and why) and ``hint`` (appended to any
message about the value). A structure's ``required`` lists its required members, as in botocore.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import re
import sys
import unicodedata
from datetime import datetime
from typing import Any, Mapping

from hrnn.errors import InvalidInputException
from hrnn.hyperparameters import format_number


@functools.lru_cache(maxsize=2)
def service_model(service: str) -> dict:
    """botocore's service-2 model for ``personalize`` or ``personalize-runtime``, loaded once per process
    (about 0.15 s) and only when a request needs it. Treat as read-only."""
    from botocore.loaders import Loader

    return Loader().load_service_model(service, "service-2")

MAX_DEPTH = 64  # containers inside containers; far above any service shape, far below Python's stack
NARROWING = ("min", "max", "pattern", "enum")  # shape keys a member reference may override

_TYPES = {
    "structure": ((dict,), "a JSON object"),
    "map": ((dict,), "a JSON object"),
    "list": ((list, tuple), "a JSON array"),
    "string": ((str,), "a JSON string"),
    "boolean": ((bool,), "a JSON boolean (true or false)"),
    "integer": ((int,), "a JSON integer"),
    "long": ((int,), "a JSON integer"),
    "double": ((int, float), "a finite JSON number"),
    "float": ((int, float), "a finite JSON number"),
    "timestamp": ((int, float, str), "a timestamp (epoch seconds, or an ISO 8601 string)"),
    "blob": ((str,), "a base64-encoded JSON string"),
}


class ShapeError(ValueError):
    """The shape table itself is unusable (unknown type or pattern construct): a bug, not bad input."""


def validate(shapes: Mapping[str, dict], shape_name: str, value: object, path: str = "") -> None:
    """Check ``value`` against ``shapes[shape_name]``; raise ``InvalidInputException`` naming the first fault."""
    _Walk(shapes).value({"shape": shape_name}, value, path, 0)


def effective_shape(shapes: Mapping[str, dict], ref: Mapping[str, Any]) -> dict:
    """The shape a member reference points to, with the reference's narrowing applied."""
    try:
        shape = shapes[ref["shape"]]
    except KeyError:
        raise ShapeError(f"no shape {ref.get('shape')!r} in the table") from None
    narrowed = {key: ref[key] for key in NARROWING if key in ref}
    return {**shape, **narrowed} if narrowed else shape  # read-only: no copy


class _Walk:
    """One validation: the table plus the recursive descent over the value (depth-bounded)."""

    def __init__(self, shapes: Mapping[str, dict]):
        self.shapes = shapes

    def value(self, ref: Mapping[str, Any], value: object, path: str, depth: int) -> None:
        shape = effective_shape(self.shapes, ref)
        kind = shape.get("type")
        if kind not in _TYPES:
            raise ShapeError(f"shape {ref['shape']!r} has unsupported type {kind!r}")
        if depth > MAX_DEPTH:
            raise InvalidInputException(f"{path or 'request'}: nested more than {MAX_DEPTH} levels deep.")
        types, description = _TYPES[kind]
        if not isinstance(value, types) or (isinstance(value, bool) and kind != "boolean") or (
                kind in ("double", "float") and not _finite(value)):
            raise self.error(ref, shape, path, value, f"expected {description}, got {json_type(value)}")
        if "const" in ref and not (value == ref["const"] and type(value) is type(ref["const"])):
            raise self.error(ref, shape, path, value, ref.get("reason", f"expected {show(ref['const'])}"))
        if kind == "structure":
            self.structure(shape, value, path, depth)
        elif kind == "list":
            self.sized(ref, shape, path, value, len(value), "items")
            for i, item in enumerate(value):
                self.value(shape["member"], item, f"{path or 'request'}[{i}]", depth + 1)
        elif kind == "map":
            self.map(ref, shape, value, path, depth)
        elif kind == "string":
            self.string(ref, shape, path, value)
        elif kind in ("integer", "long", "double", "float"):
            self.number(ref, shape, path, value)
        elif kind == "timestamp":
            self.timestamp(ref, shape, path, value)
        elif kind == "blob":
            self.blob(ref, shape, path, value)

    def structure(self, shape: dict, value: dict, path: str, depth: int) -> None:
        members: dict = shape.get("members", {})
        for key in value:
            if key not in members:
                raise InvalidInputException(
                    f"{path or 'request'}: unknown member {show(key)}; allowed members: {', '.join(members)}."
                )
        present = [key for key in members if value.get(key) is not None]
        if shape.get("union") and len(present) != 1:
            raise InvalidInputException(
                f"{path or 'request'}: give exactly one of {', '.join(members)}; got {len(present)}."
            )
        required = shape.get("required", ())
        for key, ref in members.items():
            member_path = join_path(path, key)
            if value.get(key) is None:
                if key in required:
                    raise InvalidInputException(f"{path or 'request'}: missing required member {key}.")
            elif "refused" in ref:
                raise invalid(member_path, value[key], ref["refused"])
            else:
                self.value(ref, value[key], member_path, depth + 1)

    def map(self, ref: Mapping[str, Any], shape: dict, value: dict, path: str, depth: int) -> None:
        self.sized(ref, shape, path, value, len(value), "entries")
        key_shape = effective_shape(self.shapes, shape["key"])
        for key, item in value.items():
            problem = _string_problem(key_shape, key) if isinstance(key, str) else (
                f"expected a JSON string, got {json_type(key)}")
            if problem:
                raise InvalidInputException(f"{path or 'request'}: key {show(key)} is invalid: {problem}.")
            self.value(shape["value"], item, join_path(path, key), depth + 1)

    def sized(self, ref: Mapping[str, Any], shape: dict, path: str, value: object, size: int,
              unit: str) -> None:
        low, high = shape.get("min"), shape.get("max")
        if (low is not None and size < low) or (high is not None and size > high):
            raise self.error(ref, shape, path, value, f"expected {_extent(low, high)} {unit}")

    def string(self, ref: Mapping[str, Any], shape: dict, path: str, value: str) -> None:
        problem = _string_problem(shape, value)
        if problem:
            raise self.error(ref, shape, path, value, problem)

    def number(self, ref: Mapping[str, Any], shape: dict, path: str, value: float) -> None:
        low, high = shape.get("min"), shape.get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            kind = "a JSON integer" if shape["type"] in ("integer", "long") else "a finite JSON number"
            if low is not None and high is not None:
                allowed = f"in [{format_number(low)}, {format_number(high)}]"
            else:
                allowed = f">= {format_number(low)}" if low is not None else f"<= {format_number(high)}"
            raise self.error(ref, shape, path, value, f"expected {kind} {allowed}")

    def timestamp(self, ref: Mapping[str, Any], shape: dict, path: str, value: object) -> None:
        if isinstance(value, str):
            try:
                datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
            except ValueError:
                raise self.error(ref, shape, path, value, f"expected {_TYPES['timestamp'][1]}") from None

    def blob(self, ref: Mapping[str, Any], shape: dict, path: str, value: str) -> None:
        try:
            size = len(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            raise self.error(ref, shape, path, value, f"expected {_TYPES['blob'][1]}") from None
        self.sized(ref, shape, path, value, size, "bytes (decoded)")

    @staticmethod
    def error(ref: Mapping[str, Any], shape: dict, path: str, value: object,
              expected: str) -> InvalidInputException:
        """The field error for ``value``, with the reference's hint and the shape's secrecy applied."""
        hint = f" ({ref['hint']})" if ref.get("hint") else ""
        return invalid(path, value, expected + hint, sensitive=bool(shape.get("sensitive")))


def _string_problem(shape: dict, value: str) -> str | None:
    """What is wrong with a string under a string shape (enum; else length, then pattern), or None."""
    low, high = shape.get("min"), shape.get("max")
    if "enum" in shape:
        return None if value in shape["enum"] else "expected one of " + ", ".join(shape["enum"])
    pattern = shape.get("pattern")
    allowed = f"{_extent(low, high)} characters" + (f" matching {pattern}" if pattern else "")
    if (low is not None and len(value) < low) or (high is not None and len(value) > high):
        return f"expected {allowed}"
    if pattern and not compile_pattern(pattern).fullmatch(value):
        return f"expected {allowed}"
    return None


def _finite(value: float) -> bool:
    """A float that is not NaN or infinite, or an integer a float can hold (no overflow later)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _extent(low: int | None, high: int | None) -> str:
    """``1 to 63`` / ``at most 200`` / ``at least 1``: a size or length limit in words."""
    low = low or None  # a minimum of 0 says nothing
    if low is not None and high is not None:
        return f"{low} to {high}" if low != high else f"exactly {low}"
    if low is not None:
        return f"at least {low}"
    return f"at most {high}" if high is not None else "any number of"



# --- Java patterns ------------------------------------------------------------------------------------

_JAVA_DOT = r"[^\n\r\x85\u2028\u2029]"  # Java's '.' matches no line terminator at all
_ASCII_CLASSES = {"d": "0-9", "w": "a-zA-Z_0-9", "s": " \\t\\n\\x0b\\f\\r"}  # Java's are ASCII-only
_SAME_ESCAPES = set("tnrfxu")  # and every escaped ASCII punctuation mark: a literal in both dialects
_PROPERTY = re.compile(r"\{([A-Za-z]+)\}")


@functools.lru_cache(maxsize=None)
def compile_pattern(pattern: str) -> re.Pattern:
    """A botocore (Java) pattern as a Python regex with the same meaning; ShapeError if not translatable."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 >= len(pattern):
                raise ShapeError(f"pattern {pattern!r} ends with a backslash")
            text, i = _escape(pattern, i + 1, in_class)
            out.append(text)
            continue
        if in_class and (c == "[" or pattern.startswith("&&", i)):
            raise ShapeError(f"pattern {pattern!r}: nested classes and '&&' are not translated")
        if c == "[" and not in_class:
            in_class = True
        elif c == "]" and in_class:
            in_class = False
        elif c == "." and not in_class:
            c = _JAVA_DOT
        out.append(c)
        i += 1
    try:
        return re.compile("".join(out))
    except re.error as exc:
        raise ShapeError(f"pattern {pattern!r} does not compile: {exc}") from None


def _escape(pattern: str, i: int, in_class: bool) -> tuple[str, int]:
    """Translate the escape whose letter is at ``pattern[i]``; return the text and the next index."""
    c = pattern[i]
    if c in "pP":
        match = _PROPERTY.match(pattern, i + 1)
        if not match:
            raise ShapeError(f"pattern {pattern!r}: only \\p{{Name}} is translated")
        body = unicode_class(match.group(1))
        if c == "P" and in_class:
            raise ShapeError(f"pattern {pattern!r}: \\P inside a class is not translated")
        return (body if in_class else f"[{'^' if c == 'P' else ''}{body}]"), match.end()
    if c.lower() in _ASCII_CLASSES:
        body = _ASCII_CLASSES[c.lower()]
        if c.isupper() and in_class:
            raise ShapeError(f"pattern {pattern!r}: \\{c} inside a class is not translated")
        return (body if in_class else f"[{'^' if c.isupper() else ''}{body}]"), i + 1
    if c in _SAME_ESCAPES or (c.isascii() and not c.isalnum()):
        return "\\" + c, i + 1
    raise ShapeError(f"pattern {pattern!r}: the escape \\{c} is not translated")


@functools.lru_cache(maxsize=None)
def unicode_class(name: str) -> str:
    """The body of a Python character class equal to Java's ``\\p{name}`` (general categories, ASCII)."""
    if name == "ASCII":
        return "\\x00-\\x7f"
    chosen = sorted(r for cat, ranges in _category_ranges().items() if name in (cat, cat[0]) for r in ranges)
    if not chosen or len(name) > 2:
        raise ShapeError(f"\\p{{{name}}} is not a Unicode general category this validator translates")
    merged = [list(chosen[0])]
    for lo, hi in chosen[1:]:
        if lo == merged[-1][1] + 1:
            merged[-1][1] = hi
        else:
            merged.append([lo, hi])
    return "".join(f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in merged)


@functools.lru_cache(maxsize=1)
def _category_ranges() -> dict[str, list[tuple[int, int]]]:
    """Every general category's code-point ranges (one pass over Unicode, about 0.3 s, done once)."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    category = unicodedata.category
    start, current = 0, category(chr(0))
    for cp in range(1, sys.maxunicode + 2):
        cat = category(chr(cp)) if cp <= sys.maxunicode else None
        if cat != current:
            ranges.setdefault(current, []).append((start, cp - 1))
            start, current = cp, cat
    return ranges


# --- messages -----------------------------------------------------------------------------------------

SHOW_LIMIT = 100
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def invalid(path: str, value: object, expected: str, *, sensitive: bool = False) -> InvalidInputException:
    """``path = value is invalid: expected.``: the one shape of a field error."""
    shown = "<sensitive value>" if sensitive else show(value)
    return InvalidInputException(f"{path or 'request'} = {shown} is invalid: {expected}.")


def join_path(parent: str, key: object) -> str:
    """``solutionConfig.hpoConfig``; keys that are not identifiers go in brackets: ``x["training.bptt"]``."""
    if isinstance(key, str) and _IDENTIFIER.fullmatch(key):
        return f"{parent}.{key}" if parent else key
    return f"{parent or 'request'}[{show(key)}]"


def json_type(value: object) -> str:
    """The JSON name of a value's type, for ``got ...`` in messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, float):
        return "number" if math.isfinite(value) else "non-finite number"
    for name, python_types in (("integer", int), ("string", str), ("array", (list, tuple)), ("object", dict)):
        if isinstance(value, python_types):
            return name
    return type(value).__name__


def show(value: object, limit: int = SHOW_LIMIT) -> str:
    """A compact JSON-ish rendering of ``value`` cut to about ``limit`` characters.

    Safe for any input: long strings and huge integers are cut before conversion, and containers stop
    once the budget is spent, so nesting depth never exceeds ``limit``.
    """
    parts: list[str] = []
    budget = [limit + 1]

    def emit(text: str) -> None:
        parts.append(text[: max(budget[0], 0)])
        budget[0] -= len(text)

    def walk(v: object) -> None:
        if budget[0] <= 0:
            return
        if isinstance(v, str):
            emit(json.dumps(v[: budget[0] + 1]))
        elif isinstance(v, bool) or v is None:
            emit(json.dumps(v))
        elif isinstance(v, int):
            emit(str(v) if v.bit_length() < 1000 else f"<integer of {v.bit_length()} bits>")
        elif isinstance(v, float):
            emit(repr(v))
        elif isinstance(v, (list, tuple, dict)):
            opening, closing = ("{", "}") if isinstance(v, dict) else ("[", "]")
            emit(opening)
            for i, item in enumerate(v.items() if isinstance(v, dict) else v):
                if budget[0] <= 0:
                    break
                emit(", " if i else "")
                if isinstance(v, dict):
                    walk(item[0])
                    emit(": ")
                    item = item[1]
                walk(item)
            emit(closing)
        else:
            emit(f"<{type(v).__name__}>")

    walk(value)
    text = "".join(parts)
    return text if budget[0] >= 0 else text[:limit] + "..."
