"""The AWS CLI's shorthand for structured option values: ``key=value,key2=value2``, with ``{...}`` for a nested
structure, ``[a,b]`` (or ``a,b`` at the top of a list option) for a list, and quotes around values that hold
``,``, ``=``, brackets or spaces. Values stay strings; the operation types and checks them.
"""

from __future__ import annotations


class ShorthandError(ValueError):
    pass


def parse_shorthand(text: str, as_list: bool = False):
    parser = _Parser(text)
    value = parser.items("") if as_list else parser.pairs("")
    if parser.i != len(text):
        raise ShorthandError(f"unexpected {text[parser.i]!r} at column {parser.i + 1}")
    return value


class _Parser:
    def __init__(self, text: str):
        self.text, self.i = text, 0

    def peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def pairs(self, closing: str) -> dict:
        result: dict = {}
        while True:
            key = self.scalar(",={}[]")
            if self.peek() != "=" or not key:
                raise ShorthandError(f"expected key=value at column {self.i + 1}")
            self.i += 1
            if key in result:
                raise ShorthandError(f"{key!r} is given twice")
            result[key] = self.value(",}" if closing == "}" else ",")
            if self.peek() != ",":
                break
            self.i += 1
        if closing:
            self.expect(closing)
        return result

    def items(self, closing: str) -> list:
        result = []
        if closing and self.peek() == closing:
            self.i += 1
            return result
        while True:
            result.append(self.value(",]" if closing else ","))
            if self.peek() != ",":
                break
            self.i += 1
        if closing:
            self.expect(closing)
        return result

    def value(self, stops: str):
        if self.peek() == "{":
            self.i += 1
            return self.pairs("}")
        if self.peek() == "[":
            self.i += 1
            return self.items("]")
        return self.scalar(stops)

    def scalar(self, stops: str) -> str:
        if self.peek() in ("'", '"'):
            quote = self.peek()
            end = self.text.find(quote, self.i + 1)
            if end < 0:
                raise ShorthandError(f"unterminated {quote} at column {self.i + 1}")
            value, self.i = self.text[self.i + 1:end], end + 1
            return value
        start = self.i
        while self.i < len(self.text) and self.text[self.i] not in stops:
            self.i += 1
        return self.text[start:self.i].strip()

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise ShorthandError(f"expected {char!r} at column {self.i + 1}")
        self.i += 1
