"""The one exception the scenario loader raises."""

from __future__ import annotations


class ScenarioError(Exception):
    """A scenario or schedule file is unreadable or invalid.

    `str(err)` reads like a compiler diagnostic, `path:line: key: message`,
    leaving out the parts that are unknown.
    """

    path: str
    """The file, or "<string>" for text; "" when there is no file at all."""
    line: int
    """1-based line of the offending key or value; 0 when unknown."""
    key: str
    """Dotted key path such as `thread[2].ops[1]`; "" for whole-file errors."""
    message: str
    """What was expected and what was found."""

    def __init__(self, message: str, path: str = "", line: int = 0, key: str = "") -> None:
        super().__init__(message, path, line, key)
        self.message = message
        self.path = path
        self.line = line
        self.key = key

    def __str__(self) -> str:
        return self.describe()

    def describe(self, path: bool = True) -> str:
        """`path:line: key: message`, or `line N: key: message` without the path."""
        where = self.path if path else ""
        if self.line:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        return ": ".join(part for part in (where, self.key, self.message) if part)
