"""Headless apps under test compose a frame only when a test reads the screen.

A headless app still renders every frame into strips that nobody sees, which
was about 40% of the CPU of these tests. Here the compositor's refresh keeps
its bookkeeping but draws nothing; `screen_text` and the snapshots compose
the screen themselves when they read it. A widget whose render raises would
go unseen in a test that never reads the screen, so tests marked
`every_frame` (the random-keys monkey) draw
every frame as a terminal would.
"""

from __future__ import annotations

import pytest
from textual.screen import Screen


@pytest.fixture(autouse=True)
def draw_only_what_is_read(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("every_frame") is not None:
        return
    draw = Screen._compositor_refresh

    def refresh(screen: Screen) -> None:  # type: ignore[type-arg]
        app = screen.app
        if not (app.is_headless and screen is app.screen):
            draw(screen)
            return
        screen._compositor._dirty_regions.clear()
        screen._dirty_widgets.clear()
        app._update_mouse_over(screen)

    monkeypatch.setattr(Screen, "_compositor_refresh", refresh)
