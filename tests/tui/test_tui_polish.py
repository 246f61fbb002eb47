"""What a user trying the TUI reported (the tui-polish round), each through the keys a user presses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Input
from tui_helpers import ROOT, SEED, press, screen_once, screen_text, settle, steady

from spftui.scenario import load_scenario
from spftui.tui.app import SpftuiApp
from spftui.tui.screens.breakpoint import BreakpointDialog
from spftui.tui.screens.debugger import DebuggerScreen
from spftui.tui.screens.help import HelpScreen
from spftui.tui.screens.picker import PickerScreen
from spftui.tui.screens.prompt import PromptDialog
from spftui.tui.widgets.source import SourcePane

DIRTY_COW = ROOT / "scenarios" / "history_dirty_cow.toml"


def seen(pilot, widget) -> str:  # type: ignore[no-untyped-def]
    """The words a widget shows on screen, its lines joined (a wrapped sentence reads whole)."""
    r = widget.region
    lines = screen_text(pilot).splitlines()[r.y : r.y + r.height]
    return " ".join(" ".join(line[r.x : r.x + r.width].split()) for line in lines)


async def test_the_step_description_is_shown_whole_and_the_listing_keeps_its_cursor_in_view() -> None:
    """The box under the listing was two lines tall and cut mid-sentence; 13 docstrings' hard
    line breaks were kept. Dirty COW's key sentence is in faultin_page:ret's."""
    for size in ((120, 40), (80, 24)):
        app = SpftuiApp(DIRTY_COW)
        async with app.run_test(size=size) as pilot:
            dbg = app.screen
            assert isinstance(dbg, DebuggerScreen)
            source = dbg.query_one(SourcePane)
            listing, doc = source.listing, source.query_one("#source-doc")
            assert listing.label_at(listing.cursor) == "__get_user_pages:mmap_read_lock"
            await press(pilot, *["down"] * 5)
            await pilot.pause()  # (the box's new height is laid out on the next refresh)
            assert listing.label_at(listing.cursor) == "faultin_page:ret"
            assert (
                "faultin_page:ret VM_FAULT_WRITE on a !VM_WRITE VMA: COW is broken. Before 19be0eaffa3a clear "
                "FOLL_WRITE (the retry is a read); with the fix `foll_cow` set FOLL_COW. Then retry follow_page "
                "(cond_resched ⟂)." in seen(pilot, doc)
            ), size
            assert "ret VM_FAULT_WRITE" in seen(pilot, listing)  # the cursor's row is still in view
            await press(pilot, *["up"] * 6)
            await pilot.pause()
            assert listing.label_at(listing.cursor) == "finish_fault:set_pte"
            assert (
                "else install the COW copy (page_add_new_anon_rmap; dirty, W only with VM_WRITE) or the "
                "page-cache page (page_add_file_rmap; read-only, clean)." in seen(pilot, doc)
            ), size
            assert "set_pte Under the PTL" in seen(pilot, listing)
            assert listing.size.height >= 5, size  # the listing is not squeezed out


async def test_a_description_longer_than_its_box_says_so_and_zoom_shows_it_whole() -> None:
    app = SpftuiApp(ROOT / "scenarios" / "fork_cow_isolation.toml")  # four threads: a short Source pane
    async with app.run_test(size=(80, 24)) as pilot:
        dbg = app.screen
        assert isinstance(dbg, DebuggerScreen)
        source = dbg.query_one(SourcePane)
        await settle(pilot)  # (the first refresh puts the cursor on the thread's line: before the keys)
        await press(pilot, *["down"] * 5)
        assert source.listing.label_at(source.listing.cursor) == "copy_page_range:copy_pte_range"
        text = await screen_once(pilot, lambda text: "description continues: wheel, or z to zoom" in text)
        assert "description continues: wheel, or z to zoom" in text  # (the box re-measures a refresh later)
        await press(pilot, "z")
        text = await screen_once(pilot, lambda text: "description continues" not in text)  # zoomed
        assert "copy_page_range runs per VMA" in text and "and faults them in again." in text
        assert "description continues" not in text
        await press(pilot, "z", "up")
        text = await screen_once(pilot, lambda text: "description continues" not in text)
        assert "description continues" not in text  # a short one fits


async def test_the_threads_and_mm_panes_say_the_fault_mode_decode_gup_flags_and_name_lock_modes() -> None:
    """`spf orig_pte` was shown for classic and GUP faults; `gup_foll 21` was raw decimal;
    madvise's zap range read `start 0x10 · end 0x11` (page numbers shown as addresses);
    `mmap_lock R W` read as "read-write" with a thread named W."""
    app = SpftuiApp(DIRTY_COW)
    async with app.run_test(size=(120, 40)) as pilot:
        dbg = app.screen
        assert isinstance(dbg, DebuggerScreen)
        threads, mm = dbg.query_one("#threads"), dbg.query_one("#mm")
        await press(pilot, *"ssssss")  # W in do_cow_fault, under GUP
        await steady(pilot)
        text = seen(pilot, threads)
        assert "gup orig_pte none" in text and "spf" not in text
        assert "gup_foll FOLL_WRITE|FOLL_GET|FOLL_FORCE" in text
        assert "holds mmap_lock(P) read" in text
        assert "mmap_lock read-locked by W " in seen(pilot, mm)
        await press(pilot, *"ssssss", "2", "2", "2")  # D in madvise's zap: tlb_finish_mmu
        await steady(pilot)
        text = seen(pilot, threads)
        assert "start 0x10000" in text and "end 0x11000" in text
        assert "mmap_lock read-locked by W,D " in seen(pilot, mm)

    app = SpftuiApp(ROOT / "scenarios" / "cow_lost_write.toml", policy="classic")
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, *"1111")  # A1's classic fault has sampled orig_pte
        await steady(pilot)
        text = seen(pilot, app.screen.query_one("#threads"))
        assert "classic orig_pte pfn 1 RO A D" in text and "spf" not in text


async def test_at_80x24_the_status_line_keeps_the_policy_first_with_a_fix_off() -> None:
    """It read `step 0 of 0 · fix off: fork_vma_write_lock · mm_lock_seq A 0 (vm_lock_seq -…`:
    the policy and reuse rule were cut off the end."""
    sc = load_scenario(ROOT / "scenarios" / "history_fork_vma_lock.toml").with_fixes({"fork_vma_write_lock": False})
    app = SpftuiApp(sc)
    async with app.run_test(size=(80, 24)) as pilot:
        await steady(pilot)
        line = next(ln for ln in screen_text(pilot).splitlines() if ln.lstrip().startswith("step 0 of 0"))
        assert line.strip().startswith("step 0 of 0 · vma-lock · reuse anon-exclusive · fix off: fork_vma_write_lock")


async def test_at_80x24_each_picker_entry_is_its_title_on_one_line_over_its_whole_name() -> None:
    """Entries wrapped over four to eight lines with nothing between two, and the names were cut."""
    app = SpftuiApp(SEED)
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "o")
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        await pilot.pause()
        for k, (path, title, _) in enumerate(picker.bundled):
            if k:
                await press(pilot, "down")
            lines = screen_text(pilot).splitlines()
            at = next(i for i, ln in enumerate(lines) if f"▊ {path.stem} " in ln)  # the name, whole
            above = lines[at - 1].split("▊ ", 1)[1]
            assert above.startswith(title[:20]) and ("…" in above or title in above), (title, above)
            below = lines[at + 1]
            assert "▊ ───" in below or "▊▁▁▁" in below, below  # a rule under it, or the list's end


async def test_f1_opens_the_help_which_lists_it_and_f1_closes_it() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "f1")
        assert isinstance(app.screen, HelpScreen)
        assert "? F1" in screen_text(pilot)
        await press(pilot, "f1")
        assert isinstance(app.screen, DebuggerScreen)


async def test_the_breakpoint_dialog_field_says_what_each_kind_takes() -> None:
    """The reason / match field had no placeholder: it looked like a blank line."""
    app = SpftuiApp(SEED)
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "B")
        dialog = app.screen
        assert isinstance(dialog, BreakpointDialog) and dialog.kind == "abort"
        assert "any reason (empty) or SEQ1, SEQ2, ODD, VMA_COPY, …" in screen_text(pilot)
        for kind, shown in (
            ("violation", "any oracle (empty) or lost_write, cow_isolation"),
            ("aba", "any check (empty) or REFETCH, pte_same"),
            ("step", "a step label, e.g. wp_page_copy:copy"),
            ("watch", "an expression, e.g. A.pte[0x10000]"),
            ("condition", "an expression, e.g. A.mmap_seq > 2"),
        ):
            await pilot.click(f"#kind-{kind}")
            await steady(pilot)
            assert dialog.kind == kind and shown in screen_text(pilot), kind


async def test_zoom_fills_the_screen_with_the_pane_itself_above_the_status_line() -> None:
    """`z` on a short pane (mm / seqcounts) left a small box on Textual's hatch pattern."""
    for size in ((120, 40), (80, 24)):
        app = SpftuiApp(SEED)
        async with app.run_test(size=size) as pilot:
            dbg = app.screen
            assert isinstance(dbg, DebuggerScreen)
            if dbg.narrow:
                await press(pilot, "v")  # the Memory view, its first pane focused
            else:
                dbg.query_one("#mm").focus()
            await press(pilot, "z", "s")  # (a step while zoomed: the status line says it)
            await pilot.pause()
            mm = dbg.query_one("#mm")
            assert dbg.maximized is mm
            text = screen_text(pilot)
            assert "╱" not in text, size
            assert mm.region.y == 0 and mm.region.width == size[0], size
            assert mm.region.bottom == size[1] - 3, size  # down to the status line (2 rows) and the keys
            assert "step 1 of 1" in text.splitlines()[-3], size
            await press(pilot, "z")
            assert dbg.maximized is None and mm.region.height < size[1] - 3


async def test_x_proposes_the_perfetto_trace_in_the_current_folder_not_the_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_dir: Path
) -> None:
    """It proposed `<state dir>/screenshots/…` (no ~/Downloads here): a trace is a file to share."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/Downloads
    monkeypatch.delenv("SPFTUI_SCREENSHOT_DIR", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    app = SpftuiApp(SEED)
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "s", "x")
        prompt = app.screen
        assert isinstance(prompt, PromptDialog)
        default = prompt.query_one("#prompt-input", Input).value
        assert default == str(work / "cow_lost_write.spf-refetch-vma.perfetto.json")
        await press(pilot, "enter")
        assert (
            json.loads((work / "cow_lost_write.spf-refetch-vma.perfetto.json").read_text())["otherData"]["steps"] == 1
        )
        assert not (state_dir / "screenshots").exists()


async def test_the_breakpoint_dialogs_examples_use_the_scenarios_names() -> None:
    """Dirty COW has process P and threads W, D: an example naming A or A1 fails as typed."""
    app = SpftuiApp(ROOT / "scenarios" / "history_dirty_cow.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "B")
        dialog = app.screen
        assert isinstance(dialog, BreakpointDialog)
        await pilot.click("#kind-condition")
        await steady(pilot)
        text = screen_text(pilot)
        assert "an expression, e.g. P.mmap_seq > 2" in text
        assert 'e.g. P.mmap_seq > 2 and W.state == "blocked"' in text and "A1" not in text


async def test_zoom_with_the_view_tabs_focused_says_what_to_do_instead_of_blanking_the_screen() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(80, 24)) as pilot:
        dbg = app.screen
        assert isinstance(dbg, DebuggerScreen)
        dbg.query_one("Tabs").focus()
        await press(pilot, "z")
        assert dbg.maximized is None
        assert "put the focus on a pane to zoom it" in screen_text(pilot)
        dbg.source.query_one("#source-view").focus()
        await press(pilot, "z")
        assert dbg.maximized is dbg.source
