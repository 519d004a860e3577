"""The ``hrnn`` command's output formats, as the AWS CLI's: ``--query`` (JMESPath, the library botocore
already depends on) then ``--output json|text|table``.

* ``json``: the response, indented.
* ``text``: tab-separated values for scripts. A dictionary's scalar members go on one line in the order
  of their sorted keys, after the identifier of the member that holds it (upper-cased); its lists and
  dictionaries follow on their own lines. In a list of dictionaries every row has the union of their
  scalar keys (absent ones are ``None``), so columns line up.
* ``table``: boxed tables for people: scalars as key/value rows (a list of flat dictionaries as one table
  with a column per key), nested members as tables titled with their key.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

FORMATS = ("json", "text", "table")
MAX_QUERY_NESTING = 200


def compile_query(expression: str):
    """A compiled JMESPath expression; ValueError with JMESPath's message when it is not one."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    if expression.count("(") > MAX_QUERY_NESTING or expression.count("[") > MAX_QUERY_NESTING:
        raise ValueError(f"more than {MAX_QUERY_NESTING} brackets; JMESPath would recurse past its limit")
    try:
        return jmespath.compile(expression)
    except (JMESPathError, RecursionError) as exc:
        raise ValueError(str(exc).replace("\n", " ")) from None


def apply_query(query, response: Any) -> Any:
    """The query's result; ValueError for what only shows when it runs (an unknown function, a wrong type)."""
    from jmespath.exceptions import JMESPathError

    try:
        return query.search(response)
    except (JMESPathError, RecursionError) as exc:
        raise ValueError(str(exc).replace("\n", " ")) from None


def render(response: Any, output: str, stream: TextIO, query=None, title: str = "") -> None:
    if query is not None:
        response = apply_query(query, response)
    if output == "text":
        _text(response, stream)
    elif output == "table":
        _table(response, stream, title)
    elif response not in (None, {}) or query is not None:  # as the AWS CLI: an empty answer prints nothing
        stream.write(json.dumps(response, indent=4, ensure_ascii=False) + "\n")
    stream.flush()


# ---- text -----------------------------------------------------------------------------------------------

def _scalar(value: Any) -> str:
    return str(value)


def _text(value: Any, stream: TextIO, identifier: str | None = None, keys: list[str] | None = None) -> None:
    if isinstance(value, dict):
        _text_dict(value, stream, identifier, keys)
    elif isinstance(value, list):
        _text_list(value, stream, identifier)
    elif value is not None or identifier is None:
        stream.write(_scalar(value) + "\n")


def _text_dict(value: dict, stream: TextIO, identifier: str | None, keys: list[str] | None) -> None:
    if keys is None:
        keys = sorted(k for k, v in value.items() if not isinstance(v, (dict, list)))
    row = [_scalar(value.get(k)) for k in keys]
    if row:
        stream.write("\t".join(([identifier.upper()] if identifier else []) + row) + "\n")
    for key in sorted(k for k in value if k not in keys):
        _text(value[key], stream, key)


def _text_list(value: list, stream: TextIO, identifier: str | None) -> None:
    if not value:
        return
    if any(isinstance(v, dict) for v in value):
        keys = sorted({k for v in value if isinstance(v, dict) for k, x in v.items() if not isinstance(x, (dict, list))})
        for item in value:
            _text(item, stream, identifier, keys if isinstance(item, dict) else None)
        return
    scalars = [v for v in value if not isinstance(v, (dict, list))]
    if scalars:
        if identifier:
            for v in scalars:
                stream.write(f"{identifier.upper()}\t{_scalar(v)}\n")
        else:
            stream.write("\t".join(_scalar(v) for v in scalars) + "\n")
    for item in value:
        if isinstance(item, list):
            _text(item, stream, identifier)


# ---- table ----------------------------------------------------------------------------------------------

def _box(title: str, header: list[str] | None, rows: list[list[str]], stream: TextIO) -> None:
    columns = len(header) if header else max((len(r) for r in rows), default=1)
    widths = [0] * columns
    for line in ([header] if header else []) + rows:
        for i, cell in enumerate(line):
            widths[i] = max(widths[i], len(cell))
    inner = sum(widths) + 3 * (columns - 1)
    if len(title) > inner:
        widths[-1] += len(title) - inner
        inner = len(title)
    rule = "+" + "-" * (inner + 2) + "+"
    stream.write(rule + "\n")
    if title:
        stream.write("| " + title.center(inner) + " |\n" + rule + "\n")
    for line in ([header] if header else []):
        stream.write("| " + " | ".join(c.center(w) for c, w in zip(line, widths)) + " |\n" + rule + "\n")
    for line in rows:
        stream.write("| " + " | ".join(c.ljust(w) for c, w in zip(line + [""] * columns, widths)) + " |\n")
    if rows:
        stream.write(rule + "\n")


def _table(value: Any, stream: TextIO, title: str) -> None:
    if isinstance(value, dict):
        scalars = [[k, _scalar(v)] for k, v in value.items() if not isinstance(v, (dict, list))]
        if scalars or not value:
            _box(title, None, scalars, stream)
        elif title:
            _box(title, None, [], stream)
        for key, item in value.items():
            if isinstance(item, (dict, list)):
                _table(item, stream, key)
    elif isinstance(value, list):
        flat = all(isinstance(v, dict) and not any(isinstance(x, (dict, list)) for x in v.values()) for v in value)
        if value and flat:
            header = list(dict.fromkeys(k for v in value for k in v))
            _box(title, header, [[_scalar(v.get(k, "")) for k in header] for v in value], stream)
        elif all(not isinstance(v, (dict, list)) for v in value):
            _box(title, None, [[_scalar(v)] for v in value], stream)
        else:
            for item in value:
                _table(item, stream, title)
    elif value is not None:
        _box(title, None, [[_scalar(value)]], stream)
