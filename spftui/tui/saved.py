"""Session files several debuggers save to: none overwrites another's work silently.

Several debuggers may have one scenario open at once: every browser tab of
`spftui serve` shares the server's state directory, and two terminals may too.
Each remembers what its session file held when it opened, restored or saved
it (`Seen`). A save that finds the file changed since by another debugger
does not replace it: it writes the first free numbered name beside it
(`NAME.2.session.toml`, …), which from then on is this debugger's own file.
Opening a scenario offers every session saved for it (`saved_sessions`),
newest first, so a viewer's work is never hidden behind another's.
"""

from __future__ import annotations

import os
import re

from ..engine.files import MAX_NUMBER, numbered

SUFFIX = ".session.toml"
OFFERED = 9
"""At most this many saved sessions of a scenario are offered (the newest)."""


def file_bytes(path: str) -> bytes | None:
    """What the file at `path` holds now (None: there is none, or it cannot be read)."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


class Seen:
    """What each session file held when this debugger last read or wrote it."""

    def __init__(self) -> None:
        self.held: dict[str, bytes | None] = {}

    def look(self, path: str) -> None:
        """Remember what `path` holds now (as opened, restored or just saved)."""
        self.held[os.path.abspath(path)] = file_bytes(path)

    def changed(self, path: str) -> bool:
        """Whether another debugger wrote `path` since this one looked: it holds something this
        one did not see there (a file that is not there has nothing to lose)."""
        now = file_bytes(path)
        if now is None and not os.path.lexists(path):
            return False
        return now != self.held.get(os.path.abspath(path))


def next_free(path: str) -> str:
    """The name a numbered save of `path` takes now: the first `NAME.N.session.toml` not there."""
    for n in range(2, MAX_NUMBER):
        candidate = numbered(path, n)
        if not os.path.lexists(candidate):
            return candidate
    return numbered(path, MAX_NUMBER)


def saved_sessions(base: str) -> list[str]:
    """`base` (a state directory session file) and its numbered siblings that exist, newest first."""
    folder, name = os.path.split(base)
    stem = name.removesuffix(SUFFIX)
    sibling = re.compile(re.escape(stem) + r"\.[0-9]+" + re.escape(SUFFIX) + "$")
    try:
        names = [n for n in os.listdir(folder) if n == name or sibling.match(n)]
    except OSError:
        return []
    found = []
    for n in names:
        path = os.path.join(folder, n)
        try:
            found.append((os.stat(path).st_mtime_ns, path))
        except OSError:
            continue
    return [path for _, path in sorted(found, key=lambda t: (-t[0], t[1]))][:OFFERED]
