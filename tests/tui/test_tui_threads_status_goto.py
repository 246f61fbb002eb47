"""The Threads pane shows only the current fault; the status line, goto and Ctrl+S say what a user needs, through the keys a user presses."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Label
from tui_helpers import ROOT, SEED, press, screen_text

from spftui.scenario import load_scenario
from spftui.tui.app import SpftuiApp
from spftui.tui.screens.debugger import DebuggerScreen
from spftui.tui.screens.goto import GotoDialog
from spftui.tui.screens.prompt import PromptDialog
from spftui.tui.widgets.threads import ThreadsPane

DIRTY_COW = ROOT / "scenarios" / "history_dirty_cow.toml"


def block(pilot, name: str) -> str:  # type: ignore[no-untyped-def]
    """Thread `name`'s block in the Threads pane, as the screen shows it (its lines joined)."""
    pane = pilot.app.screen.query_one(ThreadsPane)
    r = pane.region
    rows = [ln[r.x + 1 : r.x + r.width - 1] for ln in screen_text(pilot).splitlines()[r.y + 1 : r.y + r.height - 1]]
    out: list[str] = []
    for row in rows:
        head = row[1:].split()
        if head and head[0].isdigit() and len(head) > 1:  # a thread's first row: `N name …`
            if out:
                break
            if head[1] != name:
                continue
        if out or (head and len(head) > 1 and head[1] == name):
            out.append(" ".join(row.split()))
    return " ".join(out)


async def goto(pilot, step: int) -> None:  # type: ignore[no-untyped-def]
    await press(pilot, "g", *str(step), "enter")


async def test_a_thread_whose_fault_returned_shows_none_of_that_faults_checks_stepping_or_jumping() -> None:
    """Under spf-mm-seq A2's fault returns at step 37 and A2 retries its store: the pane kept the
    fault's seven checks and `write fault 0x10400`, as if it were still in the fault."""
    app = SpftuiApp(SEED, policy="spf-mm-seq")
    async with app.run_test(size=(120, 40)) as pilot:
        assert isinstance(app.screen, DebuggerScreen)
        await press(pilot, *"s" * 36)  # A2 ran last: its block is selected, shown whole
        text = block(pilot, "A2")
        assert "wp_page_reuse:set_pte" in text and "SEQ2 ✓" in text and "write fault 0x10400" in text
        await press(pilot, "s")  # wp_page_reuse:set_pte: the fault returns
        assert app.screen.session.position == 37
        text = block(pilot, "A2")
        assert "▶ user:store" in text, text
        assert "check" not in text and "✓" not in text and "fault" not in text and "spf" not in text, text
        await goto(pilot, 20)
        await goto(pilot, 37)  # a jump rebuilds what the pane shows
        text = block(pilot, "A2")
        assert "▶ user:store" in text and "check" not in text and "fault" not in text, text


async def test_a_gup_thread_shows_its_current_faults_checks_and_not_the_previous_ones() -> None:
    """Dirty COW's GUP faults twice (steps 4-12 and 14-20): stepping, the pane showed none of its
    checks (a fault's window began only at a `user:` step); after a jump it showed the first
    fault's `pte_same ✓ none` in follow_page and into the second fault."""
    app = SpftuiApp(DIRTY_COW)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, *"s" * 11)  # finish_fault:set_pte checked pte_same
        assert "check pte_same ✓ none" in block(pilot, "W")
        await press(pilot, *"s" * 2)  # faultin_page:ret, then follow_page_pte: between faults
        assert "check" not in block(pilot, "W")
        await press(pilot, *"s" * 4)  # the second fault's pte_same
        assert "check pte_same ✓ pfn 2 RO A D" in block(pilot, "W")
        for step in (13, 16):
            await goto(pilot, 0)
            await goto(pilot, step)
            text = block(pilot, "W")
            assert "pte_same ✓ none" not in text, (step, text)
        assert "check" not in block(pilot, "W")  # (at 16, the second fault has not checked yet)


def status_lines(pilot) -> list[str]:  # type: ignore[no-untyped-def]
    """The status line's two rows as the screen shows them."""
    lines = screen_text(pilot).splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("step "))
    return [" ".join(ln.split()) for ln in lines[at : at + 2]]


async def test_with_several_fixes_off_the_status_line_says_how_many_and_the_names_that_fit() -> None:
    """It read `fix off: foll_cow, gup_unsha…` at 80 columns: one fix's label, and a name cut."""
    off = {"foll_cow": False, "gup_unshare": False, "page_count_reuse": False}
    sc = load_scenario(SEED).with_fixes(off)
    for size, want in (
        ((80, 24), "· reuse mapcount · fixes off: 3 (foll_cow, …) ·"),
        ((120, 40), "· reuse mapcount · fixes off: foll_cow, gup_unshare, page_count_reuse · mmap_seq A 0"),
    ):
        app = SpftuiApp(sc)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            assert want in status_lines(pilot)[0], (size, status_lines(pilot))


async def test_a_one_off_message_goes_at_the_next_key_and_the_stop_sentence_comes_back() -> None:
    """`already at the start` stayed on after the user moved on (a cursor key, Tab), as did
    `put the focus on a pane to zoom it` after Tab and z had zoomed one: only a step cleared it."""
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "S")
        assert "already at the start: nothing to step back over" in status_lines(pilot)[1]
        await press(pilot, "S")  # the key's own action says it again: it stays
        assert "already at the start" in status_lines(pilot)[1]
        await press(pilot, "down")
        assert status_lines(pilot)[1] == "■ at the start: nothing has run yet"
        await press(pilot, "s", "s")
        app.screen.query_one("#views").focus()
        await press(pilot, "z")
        assert "put the focus on a pane to zoom it" in status_lines(pilot)[1]
        await press(pilot, "tab", "z")
        assert app.screen.maximized is not None
        assert "put the focus" not in screen_text(pilot) and "SEQ" not in status_lines(pilot)[1]


async def test_enter_on_an_empty_goto_says_what_the_dialog_takes_and_keeps_it_open() -> None:
    """It said `not a step number: ''`."""
    app = SpftuiApp(SEED)
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "s", "g", "enter")
        assert isinstance(app.screen, GotoDialog)
        error = " ".join(str(app.screen.query_one("#goto-error", Label).content).split())
        assert error == "type a step number, +N or -N, start or end; Esc cancels"
        await press(pilot, "escape", "m", *"seed", "enter", "g", "space", "enter")  # with a bookmark
        error = " ".join(str(app.screen.query_one("#goto-error", Label).content).split())
        assert error == "type a step number, +N or -N, start, end or a bookmark (seed); Esc cancels"
        await press(pilot, "escape")
        assert isinstance(app.screen, DebuggerScreen) and app.screen.session.position == 1


async def test_ctrl_s_proposes_a_file_named_after_the_scenario_and_policy_and_numbers_a_taken_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It proposed `cow_lost_write.session.toml` whatever the policy (two policies' sessions took
    one name), and a taken name became `….session.2.toml`, no longer a `.session.toml`. The next
    Ctrl+S proposes the session's own file and updates it (it wrote a numbered copy)."""
    monkeypatch.chdir(tmp_path)
    app = SpftuiApp(SEED, policy="classic")
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "s", "ctrl+s")
        assert isinstance(app.screen, PromptDialog)
        first = tmp_path / "cow_lost_write.classic.session.toml"
        assert app.screen.query_one("#prompt-input", Input).value == str(first)
        await press(pilot, "enter")
        text = first.read_text()
        await press(pilot, "s", "ctrl+s")  # now this session's own file is proposed, and updated
        assert app.screen.query_one("#prompt-input", Input).value == str(first)
        await press(pilot, "enter")
        assert first.read_text() != text and [p.name for p in tmp_path.iterdir()] == [first.name]
        assert app.session_file == str(first)
        await press(pilot, "ctrl+s")  # another name that is taken: numbered, the taken file untouched
        (tmp_path / "other.session.toml").write_text("mine")
        field = app.screen.query_one("#prompt-input", Input)
        field.value = str(tmp_path / "other.session.toml")
        await press(pilot, "enter")
        assert (tmp_path / "other.session.toml").read_text() == "mine"
        assert (tmp_path / "other.2.session.toml").is_file()
        assert app.session_file == str(tmp_path / "other.2.session.toml")
