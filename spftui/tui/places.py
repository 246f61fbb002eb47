"""Where the debugger writes a screenshot (no path is asked for). An exported trace is proposed
in the current folder instead (screens/tools.py), as a saved session is."""

from __future__ import annotations

import os

from ..engine.session_file import state_dir

SCREENSHOT_ENV = "SPFTUI_SCREENSHOT_DIR"


def screenshot_dir() -> str:
    """Where screenshots go: $SPFTUI_SCREENSHOT_DIR, else (served) the served folder, else ~/Downloads if
    it exists, else the state directory's `screenshots` folder (engine/session_file.state_dir)."""
    own = os.environ.get(SCREENSHOT_ENV)
    if own:
        return os.path.expanduser(own)
    served = served_write_dir()
    if served is not None:  # (a viewer's screenshot goes where its other files go, not to the server's home)
        return served
    downloads = os.path.join(os.path.expanduser("~"), "Downloads")
    return downloads if os.path.isdir(downloads) else os.path.join(state_dir(), "screenshots")


WRITE_DIR_ENV = "SPFTUI_SERVE_WRITE_DIR"
"""Set by `spftui serve` (serve_cli.WRITE_DIR_ENV) for each browser tab's debugger: the one folder
it writes exports and saved files in. A viewer writes to the server's disk, so no path out of it is
written: not an absolute one elsewhere, not `..`, not `~`, not through a symlink leading out."""


def served_write_dir() -> str | None:
    """The folder a served debugger writes in (None: not served, any path the user can write)."""
    own = os.environ.get(WRITE_DIR_ENV)
    return os.path.realpath(own) if own else None


def write_dir() -> str:
    """Where a file the debugger proposes goes: the served folder, else the current folder."""
    return served_write_dir() or os.getcwd()


def typed_path(text: str) -> str:
    """The absolute path a typed file name means: a relative one is in `write_dir()`
    (`~` is the user's home, except when served: there it is the server's and is refused)."""
    if served_write_dir() is None:
        text = os.path.expanduser(text)
    return os.path.abspath(os.path.join(write_dir(), text))


def outside_write_dir(text: str) -> str | None:
    """Why a served debugger may not write the file named `text` (None: it may, or not served)."""
    root = served_write_dir()
    if root is None:
        return None
    parts = text.replace("\\", "/").split("/")
    if ".." in parts or text.startswith("~"):
        return f"this debugger is served: it writes only in {root} (no .. or ~)"
    path = typed_path(text)
    real = os.path.realpath(path)  # (a symlink in the way, to a folder or as the file, leads where it points)
    if os.path.commonpath([root, real]) != root or real == root:
        return f"this debugger is served: it writes only in {root}"
    return None


def unreadable_when_served(path: str) -> str | None:
    """Why a served debugger may not open `path` (None: it may, or not served). A viewer reads
    the server's disk too: only the served folder and the bundled scenarios are open to it (an
    error quoting a line would show any other file's)."""
    root = served_write_dir()
    if root is None:
        return None
    from ..scenario.files import bundled_scenarios_dir

    real = os.path.realpath(path)
    for base in (root, os.path.realpath(bundled_scenarios_dir())):
        if os.path.commonpath([base, real]) == base:
            return None
    return f"this debugger is served: it opens files only in {root} and the bundled scenarios"
