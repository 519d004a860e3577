"""Filter expressions on the Interactions dataset, as the service writes them, and what they let through.

Grammar (the service's, for the one dataset aws-hrnn reads; keywords in any case)::

    expression := filter ("|" filter)*
    filter     := ("EXCLUDE" | "INCLUDE") "ItemID" "WHERE" condition (("AND" | "OR") condition)*
    condition  := "Interactions.EVENT_TYPE" ("IN" | "NOT IN") "(" value ("," value)* ")"
                | "Interactions.EVENT_TYPE" "=" value
    value      := "\"text\"" | "$PLACEHOLDER"

``EXCLUDE`` removes the items the user interacted with in events that meet the conditions; ``INCLUDE`` keeps
only those; filters joined by ``|`` apply one after another. Event types match case-insensitively, and, as
the service does, only the user's 100 most recent interactions of each event type count. A placeholder's
values come with the request (``filterValues``: ``{"TYPES": "\"click\",\"purchase\""}``). A condition on
another dataset (``Items.``, ``Users.``) or field is refused: aws-hrnn reads the Interactions dataset only.

The 100 most recent interactions per user and type come from the dataset group's imported data and its
tracked events (:class:`InteractionIndex`).
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict, deque
from dataclasses import dataclass

from hrnn.errors import InvalidInputException

RECENT = 100
MAX_VALUES = 25  # filterValues entries a request may carry
_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<param>\$[A-Za-z0-9_]+)|(?P<op>[()|,=])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))')


@dataclass(frozen=True)
class Condition:
    negate: bool  # NOT IN
    values: tuple[str, ...]  # literals (lower-case) and $PLACEHOLDERS


@dataclass(frozen=True)
class Filter:
    include: bool
    conditions: tuple[Condition, ...]
    joins: tuple[str, ...]  # "AND" / "OR" between conditions, left to right

    def matches(self, event_type: str, values: dict[str, set[str]]) -> bool:
        result = _holds(self.conditions[0], event_type, values)
        for join, condition in zip(self.joins, self.conditions[1:]):
            held = _holds(condition, event_type, values)
            result = (result and held) if join == "AND" else (result or held)
        return result


def _holds(condition: Condition, event_type: str, values: dict[str, set[str]]) -> bool:
    allowed: set[str] = set()
    for value in condition.values:
        allowed |= values[value] if value.startswith("$") else {value}
    return (event_type in allowed) != condition.negate


def parse(expression: str) -> tuple[Filter, ...]:
    tokens = _tokens(expression)
    filters, i = [], 0
    while True:
        f, i = _filter(tokens, i, expression)
        filters.append(f)
        if i == len(tokens):
            return tuple(filters)
        if tokens[i] != ("op", "|"):
            raise _invalid(expression, f"expected '|' or the end, found {tokens[i][1]!r}")
        i += 1


def placeholders(filters: tuple[Filter, ...]) -> set[str]:
    return {v[1:] for f in filters for c in f.conditions for v in c.values if v.startswith("$")}


def _tokens(expression: str) -> list[tuple[str, str]]:
    tokens, i = [], 0
    while i < len(expression.rstrip()):
        match = _TOKEN.match(expression, i)
        if not match or match.end() == i:
            raise _invalid(expression, f"cannot read {expression[i:i + 20]!r}")
        kind = match.lastgroup
        text = match.group(kind)
        tokens.append((kind, text[1:-1].replace('\\"', '"') if kind == "str" else text))
        i = match.end()
    return tokens


def _invalid(expression: str, why: str) -> InvalidInputException:
    return InvalidInputException(f"filterExpression {expression[:200]!r} is invalid: {why}. Expected e.g. EXCLUDE "
                                 "ItemID WHERE Interactions.EVENT_TYPE IN (\"purchase\").")


def _word(tokens, i, *expected: str) -> bool:
    return i < len(tokens) and tokens[i][0] == "word" and tokens[i][1].upper() in expected


def _filter(tokens, i, expression) -> tuple[Filter, int]:
    if not _word(tokens, i, "EXCLUDE", "INCLUDE"):
        raise _invalid(expression, "a filter starts with EXCLUDE or INCLUDE")
    include = tokens[i][1].upper() == "INCLUDE"
    if not (_word(tokens, i + 1, "ITEMID") and _word(tokens, i + 2, "WHERE")):
        raise _invalid(expression, "expected 'ItemID WHERE' after EXCLUDE/INCLUDE")
    conditions, joins = [], []
    condition, i = _condition(tokens, i + 3, expression)
    conditions.append(condition)
    while _word(tokens, i, "AND", "OR"):
        joins.append(tokens[i][1].upper())
        condition, i = _condition(tokens, i + 1, expression)
        conditions.append(condition)
    return Filter(include, tuple(conditions), tuple(joins)), i


def _condition(tokens, i, expression) -> tuple[Condition, int]:
    if i >= len(tokens) or tokens[i][0] != "word":
        raise _invalid(expression, "expected a condition such as Interactions.EVENT_TYPE IN (...)")
    dataset, _, field = tokens[i][1].partition(".")
    if dataset.upper() != "INTERACTIONS":
        raise _invalid(expression, f"{tokens[i][1]!r} names the {dataset or '?'} dataset; aws-hrnn reads the "
                                   "Interactions dataset only, so filters can use Interactions.EVENT_TYPE only")
    if field.upper() != "EVENT_TYPE":
        raise _invalid(expression, f"{tokens[i][1]!r}: only Interactions.EVENT_TYPE can be filtered on")
    i += 1
    if i < len(tokens) and tokens[i] == ("op", "="):
        value, i = _value(tokens, i + 1, expression)
        return Condition(False, (value,)), i
    negate = _word(tokens, i, "NOT")
    i += negate
    if not _word(tokens, i, "IN") or i + 1 >= len(tokens) or tokens[i + 1] != ("op", "("):
        raise _invalid(expression, "expected IN (...), NOT IN (...) or = after Interactions.EVENT_TYPE")
    values, i = [], i + 2
    while True:
        value, i = _value(tokens, i, expression)
        values.append(value)
        if i < len(tokens) and tokens[i] == ("op", ","):
            i += 1
            continue
        if i < len(tokens) and tokens[i] == ("op", ")"):
            return Condition(negate, tuple(values)), i + 1
        raise _invalid(expression, "expected ',' or ')' in the list of values")


def _value(tokens, i, expression) -> tuple[str, int]:
    if i < len(tokens) and tokens[i][0] == "str":
        return tokens[i][1].lower(), i + 1
    if i < len(tokens) and tokens[i][0] == "param":
        return tokens[i][1], i + 1
    raise _invalid(expression, 'expected a "quoted" value or a $PLACEHOLDER')


def placeholder_values(filters: tuple[Filter, ...], given: dict | None) -> dict[str, set[str]]:
    """``filterValues`` as sets of lower-case event types, one per placeholder the filters name."""
    given = given or {}
    needed = placeholders(filters)
    missing = sorted(needed - set(given))
    if missing:
        raise InvalidInputException(f"filterValues has no value for ${missing[0]}; the filter's placeholders are "
                                    f"{', '.join('$' + p for p in sorted(needed))}.")
    values = {}
    for name in needed:
        text = given[name]
        found = re.findall(r'"((?:[^"\\]|\\.)*)"', text)
        if not found or re.sub(r'"(?:[^"\\]|\\.)*"|[\s,]', "", text):
            raise InvalidInputException(f'filterValues[{name!r}] = {text[:100]!r} is invalid: expected quoted values '
                                        'separated by commas, e.g. "\\"click\\",\\"purchase\\"".')
        values["$" + name] = {v.replace('\\"', '"').lower() for v in found}
    return values


class InteractionIndex:
    """Each user's most recent items per event type (lower-case), at most :data:`RECENT` of each."""

    def __init__(self):
        self._recent: dict[str, dict[str, deque]] = defaultdict(lambda: defaultdict(lambda: deque(maxlen=RECENT)))
        self._joined: dict[str, str] = {}  # a tracked session -> the user it was joined to
        self._lock = threading.Lock()

    def add(self, users, items, types) -> None:
        """Interactions in time order."""
        with self._lock:
            for user, item, kind in zip(users, items, types):
                self._recent[str(user)][str(kind or "").lower()].append(str(item))

    def add_events(self, events) -> None:
        """Tracked events in the log's order: an anonymous session's events are its own (under the session
        id) until an event of the session names a user, who then gets them, as the live states do."""
        with self._lock:
            for e in events:
                if e.user_id is not None and e.session_id not in self._joined:
                    self._joined[e.session_id] = e.user_id
                    for kind, items in self._recent.get(e.session_id, {}).items():
                        self._recent[e.user_id][kind].extend(items)
                if e.item_id is None:
                    continue
                owner = e.user_id or self._joined.get(e.session_id) or e.session_id
                self._recent[owner][e.event_type.lower()].append(e.item_id)

    def allowed(self, user: str, filters: tuple[Filter, ...], values: dict[str, set[str]]) -> tuple[set | None, set]:
        """(the only items allowed, or None for all; the items excluded) for one user."""
        with self._lock:
            recent = {kind: list(items) for kind, items in self._recent.get(str(user), {}).items()}
        only: set | None = None
        excluded: set = set()
        for f in filters:
            chosen = {item for kind, items in recent.items() if f.matches(kind, values) for item in items}
            if f.include:
                only = chosen if only is None else only & chosen
            else:
                excluded |= chosen
        return only, excluded
