"""`y` (why?), `/` (search), the checks in the panes and the aba breakpoint, on the seed race, by keys."""

from __future__ import annotations

import json

from cli_run import spftui
from textual.widgets import OptionList, RadioButton
from tui_helpers import ROOT, SEED, press, screen_text, settle, type_text

from spftui.engine.why import Cause
from spftui.tui.app import SpftuiApp
from spftui.tui.screens.breakpoint import BreakpointDialog
from spftui.tui.screens.choice import ChoiceDialog
from spftui.tui.screens.debugger import DebuggerScreen
from spftui.tui.screens.why import WhyScreen
from spftui.tui.widgets.frames import FramesPane
from spftui.tui.widgets.mm import MmPane
from spftui.tui.widgets.pagetables import PtePane, PteRow
from spftui.tui.widgets.status import StatusLine
from spftui.tui.widgets.threads import ThreadsPane
from spftui.tui.widgets.timeline import TimelinePane

FIELDS = ("step", "thread", "label", "what", "value", "text", "depth")


def cli_chain(policy: str, at: int, expr: str) -> list[dict[str, object]]:
    """`spftui why … --json`: the chain the TUI must show."""
    r = spftui("why", str(SEED), "--policy", policy, "--at", str(at), expr, "--json")
    assert r.returncode == 0, r.stderr
    chain: list[dict[str, object]] = json.loads(r.stdout)
    return chain


def as_cli(causes: list[Cause]) -> list[dict[str, object]]:
    """The TUI's causes as the CLI prints them (steps 1-based, -1 for the initial state)."""
    return [{k: (c.step + 1 if k == "step" and c.step >= 0 else getattr(c, k)) for k in FIELDS} for c in causes]


def debugger(app: SpftuiApp) -> DebuggerScreen:
    for screen in app.screen_stack:
        if isinstance(screen, DebuggerScreen):
            return screen
    raise AssertionError("no debugger screen")


async def test_y_on_a_pte_shows_the_chain_spftui_why_prints_and_enter_goes_to_a_cause() -> None:
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "c")  # stops at the lost write, step 52
        s = app.session
        assert s is not None and s.position == 52
        ptes = debugger(app).query_one(PtePane)
        ptes.focus()
        row = next(i for i, r in enumerate(ptes.rows) if isinstance(r, PteRow) and r.mm == "A" and r.vpn == 0x10)
        ptes.move_cursor(row)
        await press(pilot, "y")
        why = app.screen
        assert isinstance(why, WhyScreen)
        assert as_cli(why.causes) == cli_chain("spf-refetch-vma", 52, "A.pte[0x10000]")
        assert "passed by ABA" in screen_text(pilot)
        # Enter on A2's store that the copy missed: the debugger goes to the state just after it.
        missed = next(i for i, c in enumerate(why.causes) if "A2 user:store" in c.text and "missed" in c.text)
        await press(pilot, *["down"] * missed, "enter")
        assert s.position == why.causes[missed].step + 1 == 38
        assert isinstance(app.screen, DebuggerScreen)


async def test_y_on_a_frame_asks_which_word_and_shows_the_chain_of_the_lost_word() -> None:
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "c")
        frames = debugger(app).query_one(FramesPane)
        frames.focus()
        frames.move_cursor(next(i for i, r in enumerate(frames.rows) if i and r.pfn == 2))
        await press(pilot, "y")
        choice = app.screen
        assert isinstance(choice, ChoiceDialog)
        assert [v for v, _, _ in choice.options][:2] == ["frame[2].words[0]", "frame[2].words[1]"]
        assert "frame[2].count" in [v for v, _, _ in choice.options]
        await press(pilot, "down", "enter")  # words[1]: A2's 42 went to the old page
        why = app.screen
        assert isinstance(why, WhyScreen)
        assert as_cli(why.causes) == cli_chain("spf-refetch-vma", 52, "frame[2].words[1]")
        assert why.causes[1].text == "the copy read frame[1].words[1] (no lock held: it can be stale)"


async def test_y_on_an_abort_names_the_failed_check_the_writers_and_the_seqcount_chain() -> None:
    app = SpftuiApp(SEED, policy="spf-mm-seq")
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "c")  # stops at A1's SEQ1 abort, step 49
        s = app.session
        assert s is not None and s.position == 49
        assert "✗ SEQ1 failed: A.mmap_seq 0 → 1 (A2 #39) → 2 (A2 #43)" in screen_text(pilot)  # A1's block
        timeline = debugger(app).query_one(TimelinePane)
        timeline.focus()
        await press(pilot, "y")  # the cursor is on the current step
        why = app.screen
        assert isinstance(why, WhyScreen)
        head = [c for c in why.causes if c.depth > 0 or c.what == "abort"][:7]
        assert head[0].text == "A1 spf abort SEQ1 — mmap_seq changed 0→4"
        assert head[1].text == "A1 SEQ1 ✗ mmap_seq 0 ≠ 4"
        assert [(c.step + 1, c.thread, c.value) for c in head[2:]] == [
            (2, "A1", "0"),
            (39, "A2", "1"),
            (43, "A2", "2"),
            (44, "A2", "3"),
            (48, "A2", "4"),
        ]
        # The chain `spftui why` prints for A.mmap_seq is those four writers: said once, in the head.
        assert {(c["step"], c["value"]) for c in cli_chain("spf-mm-seq", 49, "A.mmap_seq")} == {
            (c.step + 1, c.value) for c in head[3:]
        }
        assert len(why.causes) == 7
        await press(pilot, "escape")
        assert isinstance(app.screen, DebuggerScreen) and s.position == 49


async def test_the_status_line_threads_and_timeline_show_the_checks_and_the_aba() -> None:
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    async with app.run_test(size=(120, 40)) as pilot:
        s = app.session
        assert s is not None
        await press(pilot, "c", "g", *"51", "enter")  # A1's pte_map_lock:seq_recheck, passed by ABA
        status = " ".join(str(debugger(app).query_one(StatusLine).content).split())  # (wrapped)
        assert "REFETCH ✓ vma rw-p 0x10000-0x11000" in status
        assert "≋ REFETCH passed by ABA: A.vma[0x10000] rw-p → r--p (A2 #40) → rw-p (A2 #45)" in status
        text = screen_text(pilot)
        # the threads pane, A1's block: the ABA with every value in between, then each check
        assert "≋ REFETCH passed by ABA:" in text
        assert "A.vma[0x10000] rw-p → r--p (A2 #40)" in text and "→ rw-p (A2 #45)" in text  # (wrapped)
        assert "check REFETCH ✓ vma rw-p 0x10000-0x11000" in text
        assert "51 ≋ A1  pte_map_lock:seq_recheck  REFETCH ✓" in text  # the timeline row
        assert "A.mmap_seq 3→4" in text  # what step 48 changed


async def test_slash_filters_the_timeline_and_n_and_N_jump_between_the_hits() -> None:
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "c")
        s = app.session
        assert s is not None
        await press(pilot, "g", *"10", "enter")
        await press(pilot, "slash")
        await type_text(pilot, "kind:aba")
        await press(pilot, "enter")
        timeline = debugger(app).query_one(TimelinePane)
        assert timeline.hits == [51, 52]
        assert s.position == 51  # the first hit after step 10
        assert "kind:aba: hit 1 of 2" in str(timeline.border_title)
        await press(pilot, "n")
        assert s.position == 52
        await press(pilot, "N")
        assert s.position == 51
        await press(pilot, "N")  # no hit before: wraps to the last, as vim does
        assert s.position == 52
        await press(pilot, "slash")
        await type_text(pilot, "t:A2 l:mprotect_fixup")
        await press(pilot, "enter")
        assert timeline.hits == [40, 45]
        await press(pilot, "slash", "ctrl+u", "enter")  # empty: every row again
        assert timeline.search is None and timeline.row_count() == s.length + 1
        for query, said in (("kind:abaa", "'abaa' is not an event kind; did you mean aba?"),
                            ("t:A7 mprotect", "'a7' is not a thread (A1, A2, B)")):  # fmt: skip
            await press(pilot, "slash", "ctrl+u")
            await type_text(pilot, query)
            await press(pilot, "enter")
            text = " ".join(screen_text(pilot).split())  # (the status line wraps at 80 columns)
            assert timeline.hits == [] and f"/{query}: no step matches — {said}" in text


async def test_an_aba_breakpoint_from_the_B_dialog_stops_before_the_lost_write() -> None:
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "B")
        dialog = app.screen
        assert isinstance(dialog, BreakpointDialog)
        dialog.query_one("#kind-aba", RadioButton).value = True  # as a click on "aba" does
        await settle(pilot)
        assert dialog.kind == "aba"
        await press(pilot, "enter")  # the check field, empty: any check
        s = app.session
        assert s is not None
        assert [b.kind for b in s.breakpoints.items] == ["abort", "violation", "aba"]
        await press(pilot, "c")
        assert s.position == 51 and not s.violations()
        assert s.stop.text.startswith("A1: REFETCH passed by ABA")
        await press(pilot, "c")
        assert s.position == 52 and s.stop.text.startswith("lost write")  # (pte_same passed by ABA there too)


async def test_the_palette_offers_an_aba_breakpoint() -> None:
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "ctrl+p")
        await type_text(pilot, "passed by ABA")
        for _ in range(50):  # (the palette searches in the background: longer on a loaded machine)
            await pilot.pause(0.1)
            options = app.screen.query_one(OptionList)
            if any("validation passed by ABA" in str(o.prompt) for o in options.options):
                break
        assert any("validation passed by ABA" in str(o.prompt) for o in options.options)


async def test_y_on_a_seqcount_and_on_a_thread_in_a_fault() -> None:
    app = SpftuiApp(SEED, policy="spf-mm-seq")
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "c", "S")  # step 48: A2's last mprotect is done, A1 about to abort
        mm = debugger(app).query_one(MmPane)
        mm.focus()
        mm.move_cursor(mm.exprs.index("A.mmap_seq"))
        await press(pilot, "y")
        why = app.screen
        assert isinstance(why, WhyScreen)
        assert as_cli(why.causes) == cli_chain("spf-mm-seq", 48, "A.mmap_seq")
        await press(pilot, "escape")
        threads = debugger(app).query_one(ThreadsPane)
        threads.focus()
        threads.move_cursor(threads.heads[0], notify=True)  # A1, in its speculative fault
        await press(pilot, "y")
        choice = app.screen
        assert isinstance(choice, ChoiceDialog)
        assert [v for v, _, _ in choice.options] == [
            "A.mmap_seq",
            "A.pte[0x10000]",
            "A.vma[0x10000].vm_flags",
            "A.vma[0x10000].vm_sequence",
        ]
        await press(pilot, "escape")
        threads.move_cursor(threads.heads[1], notify=True)  # A2: done, nothing sampled
        await press(pilot, "y")
        assert isinstance(app.screen, DebuggerScreen)
        assert "put the cursor on a value" in str(debugger(app).query_one(StatusLine).content)


async def test_y_on_the_violation_row_explains_the_pte_it_installed_and_on_a_quiet_row_says_so() -> None:
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "c", "v", "v")  # narrow: the trace view, the timeline focused
        timeline = debugger(app).query_one(TimelinePane)
        assert app.focused is timeline
        await press(pilot, "y")
        why = app.screen
        assert isinstance(why, WhyScreen)
        assert why.causes[0].what == "lost_write" and why.causes[0].step + 1 == 52
        assert as_cli(why.causes[1:]) == cli_chain("spf-refetch-vma", 52, "A.pte[0x10000]")
        await press(pilot, "escape", "up", "up", "up")  # row 49: A1 pte_map_lock:seq_check checks nothing
        await press(pilot, "y")
        assert isinstance(app.screen, DebuggerScreen)
        assert "nothing to explain on this row" in str(debugger(app).query_one(StatusLine).content)


async def test_y_on_a_violation_at_a_store_explains_the_pte_the_store_went_through() -> None:
    """The GUP-after-fork leak under the mapcount rule without 5.8's forced COW break (5.7):
    the violation is found at P1's store, which writes no PTE; the chain is the reuse that
    made the PTE writable."""
    app = SpftuiApp(ROOT / "scenarios" / "history_gup_after_fork.toml", reuse="mapcount")
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.session is not None
        app.session.restart(fixes={"gup_force_cow": False})
        await press(pilot, "c", "v", "v")
        assert app.session is not None and app.session.violations()
        await press(pilot, "y")
        why = app.screen
        assert isinstance(why, WhyScreen)
        assert [c.what for c in why.causes[:3]] == ["cow_isolation", "P.pte[0x10000]", "do_wp_page"]
        assert why.causes[2].text == "P1 reuses pfn 1: mapcount 1 (the mapcount rule: page_count 2 is not looked at)"


async def test_y_on_dirty_cows_violation_tells_the_chain_through_the_gup() -> None:
    app = SpftuiApp(ROOT / "scenarios" / "history_dirty_cow.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.session is not None
        app.session.restart(fixes={"foll_cow": False})
        await press(pilot, "c")
        timeline = debugger(app).query_one(TimelinePane)
        timeline.focus()
        await press(pilot, "y")
        why = app.screen
        assert isinstance(why, WhyScreen)
        assert [c.what for c in why.causes[:3]] == ["file_integrity", "frame[1].words[0]", "gup"]
        assert any("clears FOLL_WRITE" in c.text for c in why.causes)


async def test_y_with_nothing_under_the_cursor_explains_the_step_just_run() -> None:
    """The Source pane has the focus at start: `y` after `c` stopped at the lost write
    explains the violation, as `y` on its timeline row does (it used to refuse)."""
    app = SpftuiApp(ROOT / "scenarios" / "cow_lost_write.toml")
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "c")
        assert not isinstance(debugger(app).focused, TimelinePane)
        await press(pilot, "y")
        assert isinstance(app.screen, WhyScreen)
        assert [c.what for c in app.screen.causes[:2]] == ["lost_write", "A.pte[0x10000]"]


async def test_y_on_stackrots_use_after_free_names_the_kept_pointer_the_replacement_and_the_rcu_free() -> None:
    """It showed the madvise's PTE, which has nothing to do with the freed node."""
    from spftui.scenario import load_scenario

    sc = load_scenario(ROOT / "scenarios" / "history_stackrot.toml").with_fixes({"expand_stack_write_lock": False})
    app = SpftuiApp(sc)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "c")  # the use-after-free, step 8
        s = app.session
        assert s is not None and [m.what for m in s.violations()] == ["use_after_free"]
        debugger(app).query_one(TimelinePane).focus()
        await press(pilot, "y")
        why = app.screen
        assert isinstance(why, WhyScreen)
        assert [(c.step + 1, c.thread, c.depth) for c in why.causes] == [
            (8, "M", 0),
            (2, "M", 1),  # mas_walk: the pointer kept without rcu_read_lock
            (7, "F", 1),  # the expansion that replaced node 0
            (5, "F", 2),  # under the mmap read lock
            (7, "F", 1),  # RCU frees node 0
        ]
        assert "outside rcu_read_lock" in why.causes[-1].text and "pte" not in " ".join(c.text for c in why.causes)
