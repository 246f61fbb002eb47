"""Reading scenario and schedule files, and finding the bundled scenarios.

Every scenario or schedule file spftui reads goes through `read_text`: it
refuses what is not a regular file (a FIFO would block for ever, `/dev/zero`
never ends) and files over a size limit *before* reading them, and turns
every OSError into a `ScenarioError` naming the file.
"""

from __future__ import annotations

import codecs
import importlib.resources
import os
import stat
from pathlib import Path

from spftui.scenario.errors import ScenarioError
from spftui.scenario.syntax import NAME

MAX_SCENARIO_BYTES = 1 << 20
"""The largest scenario file read (1 MiB; the bundled ones are under 4 KiB)."""

MAX_SCHEDULE_BYTES = 8 << 20
"""The largest schedule file read (8 MiB: a long recorded run has an entry per thread switch)."""


def read_text(path: str | os.PathLike[str], limit: int = MAX_SCENARIO_BYTES) -> str:
    """The UTF-8 text of the regular file `path`, at most `limit` bytes; else a ScenarioError."""
    name = os.fsdecode(path)
    if not name:
        raise ScenarioError("expected a file name, found an empty one", "")
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; regular files ignore it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except (OSError, ValueError) as err:  # ValueError: a NUL in the path
        raise ScenarioError(f"cannot read the file: {_reason(err)}", name) from None
    try:
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ScenarioError(f"cannot read the file: it is {_kind(info.st_mode)}, not a regular file", name)
            if info.st_size > limit:
                raise ScenarioError(f"the file is too large: {info.st_size:,} bytes (at most {limit:,})", name)
            raw = file.read(limit + 1)  # the file may have grown since fstat
    except OSError as err:
        raise ScenarioError(f"cannot read the file: {_reason(err)}", name) from None
    if len(raw) > limit:
        raise ScenarioError(f"the file is too large: over {limit:,} bytes", name)
    raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise ScenarioError(f"expected UTF-8 text, found the byte 0x{raw[err.start]:02x}", name, line) from None


def _reason(err: Exception) -> str:
    return err.strerror if isinstance(err, OSError) and err.strerror else str(err)


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a directory",
        stat.S_ISFIFO: "a FIFO (named pipe)",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    return next((what for test, what in kinds.items() if test(mode)), "a special file")


def bundled_scenarios_dir() -> Path:
    """The scenarios shipped with spftui: in the installed package, else the repo's."""
    packaged = importlib.resources.files("spftui") / "scenarios"
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    return Path(__file__).parents[2] / "scenarios"


def resolve_scenario(name: str) -> str:
    """A path, or the name of a bundled scenario (`cow_lost_write`); else `name` unchanged.

    Never raises: whatever cannot be found is left for `read_text` to report.
    """
    if os.path.lexists(name) or not NAME.fullmatch(name):
        return name
    for candidate in (name, name + ".toml"):
        p = bundled_scenarios_dir() / candidate
        try:
            if p.is_file():
                return str(p)
        except (OSError, ValueError):  # a name too long for the file system
            continue
    return name


def near_bundled(name: str) -> str | None:
    """The bundled scenario whose name is closest to a misspelt `name` (None: none is close)."""
    import difflib

    try:
        stems = sorted(p.stem for p in bundled_scenarios_dir().glob("*.toml"))
    except OSError:
        return None
    near = difflib.get_close_matches(os.path.basename(name).removesuffix(".toml"), stems, n=1)
    return near[0] if near else None
