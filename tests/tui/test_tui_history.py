"""The panes show the model the history gallery needs: page-cache pages, file mappings and GUP pins."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.text import Text
from tui_helpers import ROOT, press, screen_text, settle

from spftui.tui.app import SpftuiApp

DIRTY_COW = ROOT / "scenarios" / "history_dirty_cow.toml"


def lines(app: SpftuiApp, pane: str) -> list[str]:
    """A pane's rows as the text it draws (headers are Text already)."""
    p = app.screen.query_one(pane)
    return [r.plain if isinstance(r, Text) else p.draw(r).plain for r in p.rows]  # type: ignore[attr-defined]


def fix_off(tmp_path: Path) -> Path:
    head, sep, tail = DIRTY_COW.read_text().partition("\n[expect")
    out = tmp_path / "dirty_cow_off.toml"
    out.write_text(f"{head}\n[fixes]\nfoll_cow = false\n{sep}{tail}")
    return out


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_continue_stops_at_the_write_into_the_page_cache_and_the_panes_show_it(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    app = SpftuiApp(fix_off(tmp_path))
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await press(pilot, "c")
        s = app.session
        assert s is not None
        assert s.stop.kind == "breakpoint"
        assert [m.what for m in s.violations()] == ["file_integrity"]
        if size[0] < 120:
            await press(pilot, "v")  # the narrow layout shows one group at a time: the Memory tab
            assert app.screen.query_one("#g-memory").has_class("-shown")
        else:
            text = screen_text(pilot)
            assert "page cache F[0]" in text and "file F" in text and "W gup pfn" in text
        frames, ptes = lines(app, "#frames"), lines(app, "#ptes")
        assert any("page cache F[0]" in line and len(line) <= size[0] - 2 for line in frames)  # the page-cache page
        assert any("file F" in line for line in ptes)  # the VMA maps file F
        assert any("W gup pfn" in line for line in ptes)  # ... and W holds the page-cache page from gup


async def test_a_pin_shows_in_the_pages_pane_with_its_pincount() -> None:
    app = SpftuiApp(ROOT / "scenarios" / "history_gup_pin_unshare.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        s = app.session
        assert s is not None
        for _ in range(30):  # the [schedule]: C1 takes the unshare fault, then pins the copy
            await press(pilot, "s")
            if s.machine.threads[0].pins:
                break
        text = screen_text(pilot)
        assert "C1 pin pfn 2" in text  # the page-tables pane: C's PTE there, and C1's pin on the copy
        assert "pinned ×1" in text


async def test_a_child_being_forked_is_not_called_not_forked_yet() -> None:
    """Inside dup_mmap the child's pages are mapped already (the pages pane names C): the
    mm pane said "(not forked yet)" beside it."""
    app = SpftuiApp(ROOT / "scenarios" / "history_fork_pinned.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        s = app.session
        assert s is not None
        seen = []
        for _ in range(12):
            await press(pilot, "s")
            mm = lines(app, "MmPane")
            seen.append(next(line for line in mm if line.startswith("C")))
        assert "C  (not forked yet)" in seen  # before the fork
        assert "C  (being forked: dup_mmap copies into it)" in seen  # copy_pte_range has mapped C's page
        while not any("being forked" in line for line in lines(app, "MmPane")):
            await press(pilot, "S")  # back to a step inside dup_mmap
        tables = lines(app, "PtePane")
        assert any(line.startswith("C  1 VMA") and line.endswith("(being forked)") for line in tables), tables
        child = tables[next(i for i, line in enumerate(tables) if line.startswith("C  ")) :]
        assert any("0x20000 pfn 2 W" in line for line in child), child  # fork_copy_pinned: C got a copy


async def test_a_restart_forgets_the_explorers_narration_and_the_palette_lists_the_scenarios_fix_first() -> None:
    """After Toggle fix, `t` told the counterexample of the run the restart dropped."""
    from spftui.tui.screens.debugger import DebuggerScreen

    app = SpftuiApp(ROOT / "scenarios" / "history_fork_pinned.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        dbg = app.screen
        assert isinstance(dbg, DebuggerScreen)
        commands = [c.title for c in app.get_system_commands(dbg) if c.title.startswith("Toggle fix")]
        assert commands[0] == "Toggle fix fork_copy_pinned (now on)"  # its [expect.fixes_off] table names it
        dbg.narration = ("Explorer: pin_coherence at step 28", "", "")
        dbg.action_toggle_fix("fork_copy_pinned")
        await settle(pilot)
        assert dbg.narration is None
        assert "fork_copy_pinned" in app.session.scenario.fixes_off  # type: ignore[union-attr]


async def test_the_source_pane_of_a_finished_thread_shows_the_step_it_took_last(tmp_path: Path) -> None:
    """After `c` stopped at A2's last step, the pane titled A2 still showed A1's first line."""
    from spftui.tui.widgets.source import SourcePane

    off = tmp_path / "off.toml"
    text = (ROOT / "scenarios" / "history_fork_pinned.toml").read_text()
    head, sep, tail = text.partition("\n[expect")
    off.write_text(f"{head}\n[fixes]\nfork_copy_pinned = false\n{sep}{tail}")
    app = SpftuiApp(off)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await press(pilot, "c")
        await settle(pilot)
        s = app.session
        assert s is not None and [v.what for v in s.violations()] == ["pin_coherence"]
        assert s.last is not None and s.last.thread == "A2"
        assert app.screen.query_one(SourcePane).selected_label() == s.last.label == "user:store"


async def test_the_mm_pane_shows_the_maple_node_a_stack_expansion_replaced_and_frees() -> None:
    """StackRot: the root node replaced by the expansion and the old one freed after the grace
    period are the race; before the expansion the pane says nothing of the tree."""
    from spftui.scenario import load_scenario

    sc = load_scenario(ROOT / "scenarios" / "history_stackrot.toml").with_fixes({"expand_stack_write_lock": False})
    app = SpftuiApp(sc)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert not [row for row in lines(app, "#mm") if "maple" in row]
        await press(pilot, "c")  # to the use-after-free
        assert app.session is not None and [m.what for m in app.session.violations()] == ["use_after_free"]
        assert "   maple root node 1 · node 0 freed" in lines(app, "#mm")
