"""Every TUI test gets its own state directory: sessions saved on `q` never reach the user's."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state"
    monkeypatch.setenv("SPFTUI_STATE_DIR", str(path))
    return path
