"""Find the line on which a TOML key or array element was written.

`tomllib` returns plain dicts without positions, so error messages get their
line numbers from a second, structural pass over the text: a small scanner
that follows table headers (`[expect.x]`, `[[thread]]`, nested arrays of
tables), dotted keys, arrays and inline tables, and skips over scalar values.
It runs only on text that `tomllib` has already accepted, and it is best
effort: whatever it fails to locate falls back to the enclosing table.
"""

from __future__ import annotations

import bisect
import contextlib
import re
import tomllib
from collections.abc import Callable

KeyPath = tuple[str | int, ...]
"""A path into the parsed document: table keys and array indices."""

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR_END = frozenset(",]}#\n\r")
_BLANKS = re.compile(r"(?:[ \t]|#[^\n]*)*")
_BLANKS_AND_NEWLINES = re.compile(r"(?:[ \t\r\n]|#[^\n]*)*")
_ONE_LINE_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)  # an escape is two characters


class Locator:
    """Maps key paths of one TOML text to 1-based line numbers."""

    def __init__(self, text: str) -> None:
        self._lines: dict[KeyPath, int] = {}
        # Best effort: whatever was located before a surprise is still useful.
        with contextlib.suppress(Exception):
            _Scanner(text, self._lines).scan()

    def __contains__(self, path: KeyPath) -> bool:
        """Whether `path` itself (not just an ancestor) was located."""
        return path in self._lines

    def line_of(self, path: KeyPath) -> int:
        """The line of `path`, else of its nearest located ancestor, else 0."""
        for end in range(len(path), 0, -1):
            line = self._lines.get(path[:end])
            if line:
                return line
        return 0


def format_key(path: KeyPath) -> str:
    """`("thread", 2, "ops", 1)` -> `thread[2].ops[1]`; odd keys are quoted."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if _BARE_KEY.fullmatch(part) else '"' + part.replace('"', '\\"') + '"'
            out += f".{name}" if out else name
    return out


class _Scanner:
    """A recursive-descent walk over valid TOML that records where keys start."""

    def __init__(self, text: str, out: dict[KeyPath, int]) -> None:
        self.s = text
        self.i = 0
        self.out = out
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.array_tables: dict[KeyPath, int] = {}  # [[x]] path -> occurrences so far

    def record(self, path: KeyPath, at: int) -> None:
        line = bisect.bisect_right(self.line_starts, at)
        for end in range(1, len(path) + 1):
            self.out.setdefault(path[:end], line)

    def peek(self, ahead: int = 0) -> str:
        return self.s[self.i + ahead : self.i + ahead + 1]

    def expect(self, token: str) -> None:
        if not self.s.startswith(token, self.i):
            raise ValueError(f"expected {token!r} at offset {self.i}")
        self.i += len(token)

    def skip_blank(self, newlines: bool) -> None:
        """Past blanks and comments (and newlines too, if asked); a comment ends before its newline."""
        self.i = (_BLANKS_AND_NEWLINES if newlines else _BLANKS).match(self.s, self.i).end()  # type: ignore[union-attr]

    def scan(self) -> None:
        table: KeyPath = ()
        while True:
            self.skip_blank(newlines=True)
            if self.i >= len(self.s):
                return
            at = self.i
            if self.s.startswith("[[", self.i):
                self.i += 2
                table = self.header(self.key(), at, array=True)
                self.skip_blank(newlines=False)
                self.expect("]]")
            elif self.peek() == "[":
                self.i += 1
                table = self.header(self.key(), at, array=False)
                self.skip_blank(newlines=False)
                self.expect("]")
            else:
                self.key_value(table)

    def header(self, parts: KeyPath, at: int, array: bool) -> KeyPath:
        path: KeyPath = ()
        for n, part in enumerate(parts):
            path += (part,)
            if array and n == len(parts) - 1:
                self.record(path, at)
                self.array_tables[path] = self.array_tables.get(path, 0) + 1
                path += (self.array_tables[path] - 1,)
            elif path in self.array_tables:
                path += (self.array_tables[path] - 1,)
        self.record(path, at)
        return path

    def key_value(self, table: KeyPath) -> None:
        at = self.i
        path = table + self.key()
        self.skip_blank(newlines=False)
        self.expect("=")
        self.skip_blank(newlines=False)
        self.record(path, at)
        self.value(path)

    def key(self) -> KeyPath:
        parts: list[str] = []
        while True:
            self.skip_blank(newlines=False)
            start = self.i
            if self.peek() == '"':
                self.basic_string()
                parts.append(tomllib.loads("k = " + self.s[start : self.i])["k"])
            elif self.peek() == "'":
                self.literal_string()
                parts.append(self.s[start + 1 : self.i - 1])
            else:
                match = _BARE_KEY.match(self.s, self.i)
                if not match:
                    raise ValueError(f"expected a key at offset {self.i}")
                parts.append(match.group())
                self.i = match.end()
            self.skip_blank(newlines=False)
            if self.peek() != ".":
                return tuple(parts)
            self.i += 1

    def value(self, path: KeyPath) -> None:
        c = self.peek()
        if c == "[":
            self.i += 1
            self.items("]", lambda index: self.element((*path, index)))
        elif c == "{":
            self.i += 1
            self.items("}", lambda _index: self.key_value(path))
        elif c == '"':
            self.basic_string()
        elif c == "'":
            self.literal_string()
        else:
            while self.i < len(self.s) and self.s[self.i] not in _SCALAR_END:
                self.i += 1

    def element(self, path: KeyPath) -> None:
        self.record(path, self.i)
        self.value(path)

    def items(self, close: str, item: Callable[[int], None]) -> None:
        index = 0
        while True:
            self.skip_blank(newlines=True)
            if self.peek() == close:
                self.i += 1
                return
            item(index)
            self.skip_blank(newlines=True)
            if self.peek() == ",":
                self.i += 1
                index += 1
            elif self.peek() != close:
                raise ValueError(f"expected ',' or {close!r} at offset {self.i}")

    def basic_string(self) -> None:
        if not self.s.startswith('"""', self.i):
            m = _ONE_LINE_STRING.match(self.s, self.i)  # (a regular expression: schedules hold 100k of them)
            if m is None:
                raise ValueError("unterminated string")
            self.i = m.end()
            return
        quote = '"""'
        self.i += len(quote)
        while self.i < len(self.s):
            if self.s[self.i] == "\\":
                self.i += 2
            elif self.s.startswith(quote, self.i):
                self.i += len(quote)
                self.extra_quotes(quote)
                return
            else:
                self.i += 1
        raise ValueError("unterminated string")

    def literal_string(self) -> None:
        quote = "'''" if self.s.startswith("'''", self.i) else "'"
        end = self.s.find(quote, self.i + len(quote))
        if end < 0:
            raise ValueError("unterminated string")
        self.i = end + len(quote)
        self.extra_quotes(quote)

    def extra_quotes(self, quote: str) -> None:
        """A multi-line string may end with one or two quotes of its own before the closing three."""
        if len(quote) == 3:
            for _ in range(2):
                if self.peek() == quote[0]:
                    self.i += 1
