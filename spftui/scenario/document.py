"""A parsed TOML document that makes errors pointing into itself.

`Document` wraps what `tomllib` returns with typed accessors (`get`, `choice`,
`array_of_tables`, ...) that raise a `ScenarioError` naming the file, the line
and the key path, and saying what was expected and what was found.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import re
import tomllib
from collections.abc import Iterator, Sequence
from typing import Any, Generic, TypeVar

import attrs

from spftui.scenario.errors import ScenarioError
from spftui.scenario.locate import KeyPath, Locator, format_key
from spftui.scenario.syntax import Invalid, one_of, suggest

T = TypeVar("T")
Table = dict[str, Any]


@attrs.frozen
class Kind(Generic[T]):
    """A TOML value type, as named in messages ("an integer")."""

    name: str
    type: type

    def accepts(self, value: object) -> bool:
        # bool is a subclass of int, but `repeat = true` is not an integer.
        return isinstance(value, self.type) and (self.type is bool or not isinstance(value, bool))


STRING: Kind[str] = Kind("a string", str)
INTEGER: Kind[int] = Kind("an integer", int)
BOOLEAN: Kind[bool] = Kind("a boolean", bool)
ARRAY: Kind[list[Any]] = Kind("an array", list)
TABLE: Kind[Table] = Kind("a table", dict)


def describe(value: object) -> str:
    """How a found value is shown in a message: `a string ("2")`."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"{'an integer' if isinstance(value, int) else 'a float'} ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({json.dumps(shown, ensure_ascii=False)})"
    if isinstance(value, list):
        count = len(value)
        return f"an array of {count} item{'s' * (count != 1)}" if count else "an empty array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime.date | datetime.time):
        return f"a date/time ({value.isoformat()})"
    return type(value).__name__


class Document:
    """One parsed TOML text; makes errors that point into it."""

    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self.data = parse_toml(text, path)
        self.locator = Locator(text)

    def line(self, where: KeyPath) -> int:
        return self.locator.line_of(where)

    def error(self, where: KeyPath, message: str) -> ScenarioError:
        return ScenarioError(message, self.path, self.line(where), format_key(where))

    @contextlib.contextmanager
    def at(self, where: KeyPath) -> Iterator[None]:
        """Turn an `Invalid` raised inside the block into an error at `where`."""
        try:
            yield
        except Invalid as err:
            raise self.error(where, err.message) from None

    def check(self, where: KeyPath, value: object, kind: Kind[T]) -> T:
        if not kind.accepts(value):
            raise self.error(where, f"expected {kind.name}, found {describe(value)}")
        return value  # type: ignore[return-value]

    def get(self, table: Table, where: KeyPath, key: str, kind: Kind[T], default: T | None = None) -> T:
        """`table[key]` of the given kind; `default` if absent; an error if absent without one."""
        if key in table:
            return self.check((*where, key), table[key], kind)
        if default is None:
            raise self.error((*where, key), f"missing required key '{key}' (expected {kind.name})")
        return default

    def choice(
        self,
        table: Table,
        where: KeyPath,
        key: str,
        what: str,
        choices: Sequence[str],
        default: str,
    ) -> str:
        value = self.get(table, where, key, STRING, default)
        with self.at((*where, key)):
            return one_of(what, value, choices)

    def only(self, table: Table, where: KeyPath, allowed: Sequence[str]) -> None:
        """Reject keys of `table` other than `allowed`."""
        for key in table:
            if key not in allowed:
                raise self.error(
                    (*where, key),
                    f"unknown key '{key}'{suggest(key, allowed)} (allowed here: {', '.join(allowed)})",
                )

    def table(self, where: KeyPath, value: object, allowed: Sequence[str]) -> Table:
        table = self.check(where, value, TABLE)
        self.only(table, where, allowed)
        return table

    def array_of_tables(
        self, table: Table, where: KeyPath, key: str, allowed: Sequence[str]
    ) -> list[tuple[KeyPath, Table]]:
        """The elements of a `[[key]]` array, each with its key path."""
        where += (key,)
        value = table.get(key, [])
        if not isinstance(value, list):
            header = format_key(where)
            raise self.error(where, f"expected an array of tables ([[{header}]]), found {describe(value)}")
        return [((*where, i), self.table((*where, i), item, allowed)) for i, item in enumerate(value)]


def parse_toml(text: str, path: str) -> Table:
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise ScenarioError("invalid TOML: nested too deeply", path) from None
    except ValueError as err:  # tomllib.TOMLDecodeError is a ValueError
        message, line = str(err), 0
        at = re.search(r" \(at line (\d+), column (\d+)\)$", message)
        if at:
            message, line = f"{message[: at.start()]} at column {at.group(2)}", int(at.group(1))
        elif message.endswith(" (at end of document)"):
            message, line = (
                message.removesuffix(" (at end of document)") + " at end of file",
                text.rstrip().count("\n") + 1,
            )
        # name the key of that line, as the loader's own errors do (`title: …`)
        lines = text.splitlines()
        key = re.match(r"\s*([\w.\-\"']+?)\s*=", lines[line - 1]) if 0 < line <= len(lines) else None
        raise ScenarioError(f"invalid TOML: {message}", path, line, key.group(1) if key else "") from None
