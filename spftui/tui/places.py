"""Where the debugger writes a screenshot (no path is asked for). An exported trace is proposed
in the current folder instead (screens/tools.py), as a saved session is."""

from __future__ import annotations

import os

from ..engine.session_file import state_dir

SCREENSHOT_ENV = "SPFTUI_SCREENSHOT_DIR"


def screenshot_dir() -> str:
    """Where screenshots go: $SPFTUI_SCREENSHOT_DIR, else ~/Downloads if
    it exists, else the state directory's `screenshots` folder (engine/session_file.state_dir)."""
    own = os.environ.get(SCREENSHOT_ENV)
    if own:
        return os.path.expanduser(own)
    downloads = os.path.join(os.path.expanduser("~"), "Downloads")
    return downloads if os.path.isdir(downloads) else os.path.join(state_dir(), "screenshots")
