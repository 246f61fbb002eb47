"""Every test gets its own state directory and screenshot folder: sessions saved on `q`,
screenshots and exported traces never reach the user's, and the user's saved sessions
never reach a test (a debugger served to a browser would ask to restore one)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state"
    monkeypatch.setenv("SPFTUI_STATE_DIR", str(path))
    monkeypatch.setenv("SPFTUI_SCREENSHOT_DIR", str(tmp_path / "screenshots"))
    return path
