"""The palette's "Toggle fix NAME" restarts the debugger with the fix flipped."""

from __future__ import annotations

from textual.command import CommandList, CommandPalette
from tui_helpers import ROOT, press, screen_text, settle, steady, type_text

from spftui.scenario import load_scenario
from spftui.scenario.fixes import FIX
from spftui.tui.app import SpftuiApp
from spftui.tui.screens.debugger import DebuggerScreen
from spftui.tui.widgets.status import StatusLine

SCENARIO = ROOT / "scenarios" / "history_fork_vma_lock.toml"


async def toggle(pilot, app: SpftuiApp, name: str) -> None:  # type: ignore[no-untyped-def]
    await press(pilot, "ctrl+p")
    assert isinstance(app.screen, CommandPalette)
    await type_text(pilot, f"toggle fix {name}")
    commands = app.screen.query_one(CommandList)
    for _ in range(100):  # the palette searches in a worker: wait for its hits
        if commands.option_count:
            break
        await pilot.pause()
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(app.screen, DebuggerScreen)


async def test_toggling_a_fix_restarts_with_it_flipped() -> None:
    app = SpftuiApp(SCENARIO)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Toggle fix fork_vma_write_lock (now on)" in titles
        await press(pilot, "c")
        await settle(pilot)
        assert app.session is not None and app.session.violations() == []  # 6.4.3: the fix holds
        await toggle(pilot, app, "fork_vma_write_lock")
        s = app.session
        assert s.scenario.fixes_off == {"fork_vma_write_lock"} and s.position == 0
        status = app.screen.query_one(StatusLine)
        assert "fix off: fork_vma_write_lock" in status.where.plain
        await press(pilot, "c")
        await settle(pilot)
        assert [v.what for v in s.violations()] == ["lost_write"]  # 6.4.0: A3's store is lost
        await toggle(pilot, app, "fork_vma_write_lock")
        assert s.scenario.fixes_off == frozenset() and s.position == 0


async def test_the_toggle_works_in_a_small_terminal() -> None:
    app = SpftuiApp(SCENARIO)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "s")
        await toggle(pilot, app, "fork_vm_raw_write")
        assert app.session is not None and app.session.scenario.fixes_off == {"fork_vm_raw_write"}
        assert app.session.position == 0
        await steady(pilot)
        assert "step 0 of 0 · vma-lock · reuse anon-exclusive · fix off: fork_vm_raw_write ·" in screen_text(pilot)


async def test_the_palette_says_when_a_fix_cannot_matter_under_the_policy_rule_or_ops() -> None:
    """history_dirty_cow runs kernel 5.8's mapcount rule and pins nothing: the reuse
    fixes and the pinned-page fix are on, but switching them changes nothing there."""
    app = SpftuiApp(ROOT / "scenarios" / "history_dirty_cow.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        titles = {c.title for c in app.get_system_commands(app.screen) if c.title.startswith("Toggle fix")}
        assert {
            "Toggle fix foll_cow (now on)",
            "Toggle fix page_count_reuse (now on; no effect under the mapcount rule)",
            "Toggle fix gup_unshare (now on; no effect under the mapcount rule)",
            "Toggle fix fork_copy_pinned (now on; no page is pinned here)",
            "Toggle fix fork_vma_write_lock (now on; matters only under vma-lock)",
            "Toggle fix uffd_wp_flush_pending (now on; no uffd-wp mapping here)",
        } <= titles
        fork = load_scenario(ROOT / "scenarios" / "history_fork_vma_lock.toml")
        assert FIX["foll_cow"].inert(fork.policy, fork.reuse, fork.features) == "no gup op here"
        assert FIX["fork_vma_write_lock"].inert(fork.policy, fork.reuse, fork.features) == ""
        await toggle(pilot, app, "page_count_reuse")
        said = [str(n.message) for n in app._notifications]
        assert "fix page_count_reuse off: restarted at step 0 (no effect under the mapcount rule)" in said
