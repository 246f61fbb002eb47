"""SVG snapshots of the main screen and the dialogs (pytest-textual-snapshot).

Plain `def` tests: snap_compare runs its own event loop. Regenerate the
baselines with `pytest tests/tui --snapshot-update` after a deliberate change.
"""

from __future__ import annotations

from tui_helpers import SEED, press

from spftui.tui.app import SpftuiApp
from spftui.tui.screens.picker import PickerScreen


async def _to_the_lost_write(pilot) -> None:  # type: ignore[no-untyped-def]
    await press(pilot, "c")


def test_main_screen_at_the_lost_write_120x40(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    assert snap_compare(app, terminal_size=(120, 40), run_before=_to_the_lost_write)


def test_main_screen_at_the_lost_write_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    assert snap_compare(app, terminal_size=(80, 24), run_before=_to_the_lost_write)


def test_main_screen_memory_view_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await press(pilot, "c", "v")

    app = SpftuiApp(SEED, policy="spf-mm-seq")
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_picker_dialog(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.app.push_screen(PickerScreen(bundled=[SEED]))
        await pilot.pause()

    assert snap_compare(SpftuiApp(SEED), terminal_size=(120, 40), run_before=run_before)


def test_breakpoint_dialog(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await press(pilot, "B")
        await pilot.click("#kind-step")
        await pilot.pause()

    assert snap_compare(SpftuiApp(SEED), terminal_size=(120, 40), run_before=run_before)
