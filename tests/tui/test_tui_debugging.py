"""Driving the debugger through the keys a user presses, on the seed race."""

from __future__ import annotations

from textual.command import CommandList, CommandPalette
from textual.widgets._footer import FooterKey
from tui_helpers import SEED, post_key, press, screen_text, settle, steady, type_text

from spftui.tui.app import SpftuiApp
from spftui.tui.screens.debugger import DebuggerScreen
from spftui.tui.widgets.source import SourcePane
from spftui.tui.widgets.status import StatusLine


def status(app: SpftuiApp) -> str:
    return str(app.screen.query_one(StatusLine).content)


async def test_continue_stops_at_the_abort_when_mprotect_moved_mmap_seq() -> None:
    app = SpftuiApp(SEED, policy="spf-mm-seq")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DebuggerScreen)
        await pilot.press("c")  # once through Pilot itself
        await settle(pilot)
        s = app.session
        assert s is not None
        assert s.stop.kind == "breakpoint"
        assert s.stop.text == "A1: spf abort — mmap_seq changed 0→4 at pte_map_lock:seq_check"
        assert [m.what for m in s.aborts()] == ["SEQ1"]
        assert s.position == s.aborts()[0].step + 1
        assert not s.violations()
        assert "spf abort — mmap_seq changed 0→4" in status(app)
        assert f"step {s.position} of {s.position}" in status(app)


async def test_continue_stops_at_the_lost_write_under_refetch_vma() -> None:
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "c")
        s = app.session
        assert s is not None
        assert s.stop.kind == "breakpoint"
        assert s.stop.text.startswith("lost write — A:0x10400 reads 0")
        assert [m.what for m in s.violations()] == ["lost_write"]
        assert "lost write" in status(app)
        await steady(pilot)
        text = screen_text(pilot)
        assert "‼" in text  # the timeline marks the violation


async def test_stepping_shows_the_speculative_snapshot_of_a1() -> None:
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    async with app.run_test(size=(120, 40)) as pilot:
        s = app.session
        assert s is not None
        a1 = s.machine.threads[0]
        while a1.pc != "wp_page_copy:copy" or "new_page" not in a1.vmf:
            await press(pilot, "s")
        assert a1.vmf["seq"] == 0
        await steady(pilot)
        text = screen_text(pilot)
        assert "orig_pte pfn 1 RO A D" in text
        assert "seq 0" in text
        assert "new_page pfn 2" in text


async def test_step_back_and_reverse_continue_return_to_the_abort() -> None:
    app = SpftuiApp(SEED, policy="spf-mm-seq")
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "c")
        s = app.session
        assert s is not None
        abort_at = s.position
        await press(pilot, "S")
        assert s.position == abort_at - 1
        assert s.stop.text == f"stepped back to step {abort_at - 1}"
        await press(pilot, "s")
        assert s.position == abort_at
        await press(pilot, "c")
        assert s.stop.kind == "finished"
        assert s.position == s.length > abort_at
        await press(pilot, "C")
        assert s.position == abort_at
        assert s.stop.kind == "breakpoint"
        assert "spf abort" in s.stop.text
        await press(pilot, "C")
        assert s.position == 0
        assert s.stop.text.startswith("reverse-continue reached the start")


async def test_stepping_another_thread_from_the_past_starts_a_branch() -> None:
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "c")
        s = app.session
        assert s is not None
        lost_at, lost_len = s.position, s.length
        await press(pilot, "g")
        await press(pilot, *"17", "enter")
        assert s.position == 17
        assert s.step_thread(17) == "B"  # the recorded future runs B next
        await press(pilot, "2")  # ... but we pick A2
        assert s.branches and s.branches[0].at == 17
        assert s.branch_id == 1
        assert s.position == 18 and s.length == 18
        assert s.step_thread(17) == "A2"
        await press(pilot, "c")  # the other future
        assert s.stop.kind in ("breakpoint", "finished")
        # Back to the original timeline through the palette's command.
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        screen.switch_branch(0)
        await settle(pilot)
        assert s.branch_id == 0
        assert s.length == lost_len
        await press(pilot, "g")
        await press(pilot, *str(lost_at), "enter")
        assert s.position == lost_at


async def test_switching_policy_restarts_at_step_0_and_keeps_breakpoints() -> None:
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "c")
        s = app.session
        assert s is not None
        before = [b.describe() for b in s.breakpoints.items]
        await press(pilot, "p")
        assert type(app.screen).__name__ == "ChoiceDialog"
        # The list opens on the current policy (spf-refetch-vma); spf-mm-seq is 3 up.
        await press(pilot, "up", "up", "up", "enter")
        assert isinstance(app.screen, DebuggerScreen)
        assert s.scenario.policy == "spf-mm-seq"
        assert s.position == 0 and s.length == 0
        assert [b.describe() for b in s.breakpoints.items] == before
        await press(pilot, "c")
        assert "spf abort" in s.stop.text
        assert "spf-mm-seq" in status(app)


async def test_switching_the_reuse_rule_closes_the_race() -> None:
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "k")
        await press(pilot, "down", "enter")  # mapcount -> page-count
        s = app.session
        assert s is not None and s.scenario.reuse == "page-count"
        await press(pilot, "c")
        assert not s.violations()


async def test_a_blocked_thread_is_refused_in_the_status_line() -> None:
    app = SpftuiApp(SEED, policy="classic")
    async with app.run_test(size=(120, 40)) as pilot:
        s = app.session
        assert s is not None
        s.breakpoints.add("condition", expr='A2.state == "blocked"')
        await press(pilot, "c")  # A2's mprotect waits for A1's mmap_lock
        assert s.machine.threads[1].state == "blocked"
        pos = s.position
        await press(pilot, "2")
        assert s.position == pos
        assert "A2 cannot run: it is blocked on mmap_lock(A) write" in status(app)
        await press(pilot, "9")
        assert "there is no thread 9" in status(app)


async def test_b_toggles_a_step_breakpoint_on_the_source_line() -> None:
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "s")  # the source pane follows A1 to its next step
        s = app.session
        assert s is not None
        label = s.machine.threads[0].pc
        await press(pilot, "b")
        steps = [b for b in s.breakpoints.items if b.kind == "step"]
        assert [b.match for b in steps] == [label]
        await press(pilot, "b")
        assert not [b for b in s.breakpoints.items if b.kind == "step"]


async def test_w_watches_the_pte_under_the_cursor() -> None:
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    async with app.run_test(size=(120, 40)) as pilot:
        s = app.session
        assert s is not None
        for b in list(s.breakpoints.items):
            s.breakpoints.remove(b.id)
        app.screen.query_one("#ptes").focus()
        await press(pilot, "home", "down", "down", "down")  # A, vma0, pmd 0, the PTE
        await press(pilot, "w")
        watches = [b for b in s.breakpoints.items if b.kind == "watch"]
        assert [str(b.expr) for b in watches] == ["A.pte[0x10000]"]
        await press(pilot, "c")
        assert s.stop.kind == "breakpoint"
        assert s.stop.text.startswith("A.pte[0x10000] changed pfn 1 RO A D → pfn 1 W A D")


async def test_the_breakpoint_dialog_rejects_a_bad_label_and_adds_a_good_one() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        s = app.session
        assert s is not None
        await press(pilot, "B")
        dialog = app.screen
        assert type(dialog).__name__ == "BreakpointDialog"
        await pilot.click("#kind-step")
        await settle(pilot)
        dialog.query_one("#bp-match").focus()
        await type_text(pilot, "wp_page_copy:cpy")
        await press(pilot, "enter")
        assert app.screen is dialog
        assert "did you mean 'wp_page_copy:copy'" in str(dialog.query_one("#bp-error").content)
        await press(pilot, "backspace", "backspace", "o", "p", "y", "enter")
        assert isinstance(app.screen, DebuggerScreen)
        assert [b.match for b in s.breakpoints.items if b.kind == "step"] == ["wp_page_copy:copy"]
        await press(pilot, "c")
        assert s.stop.text == "A1 reached wp_page_copy:copy (breakpoint 3)"


async def test_the_breakpoint_dialog_refuses_an_abort_reason_no_abort_has() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        s = app.session
        assert s is not None
        had = len(s.breakpoints.items)
        await press(pilot, "B")  # the abort kind, its reason field focused
        dialog = app.screen
        await type_text(pilot, "SEQ3")
        await press(pilot, "enter")
        assert app.screen is dialog and len(s.breakpoints.items) == had
        assert "unknown abort reason 'SEQ3'; did you mean 'SEQ2'?" in str(dialog.query_one("#bp-error").content)
        await press(pilot, "backspace", "2", "enter")
        assert isinstance(app.screen, DebuggerScreen) and s.breakpoints.items[-1].match == "SEQ2"


async def test_arrows_in_the_breakpoint_dialogs_empty_field_pick_the_kind_that_enter_adds() -> None:
    """B, Right x5 (meaning "condition"), Enter added an abort breakpoint: the arrows moved the
    reason field's cursor. In the empty field they now change the kind; with text they move the cursor."""
    app = SpftuiApp(SEED)
    async with app.run_test(size=(80, 24)) as pilot:
        s = app.session
        assert s is not None
        had = len(s.breakpoints.items)
        await press(pilot, "B", *["right"] * 5)
        dialog = app.screen
        assert type(dialog).__name__ == "BreakpointDialog" and dialog.kind == "condition"  # type: ignore[attr-defined]
        assert dialog.query_one("#kind-condition").value  # type: ignore[attr-defined]  # the radio button says so too
        assert app.focused is dialog.query_one("#bp-expr")  # the condition's own field
        await press(pilot, "enter")  # empty: refused, not an abort breakpoint
        assert app.screen is dialog and len(s.breakpoints.items) == had
        await type_text(pilot, "A.mmap_seq > 2")
        await press(pilot, "left", "left", "right", "enter")  # with text, the arrows move the cursor
        assert isinstance(app.screen, DebuggerScreen)
        added = s.breakpoints.items[-1]
        assert (added.kind, str(added.expr)) == ("condition", "A.mmap_seq > 2")
        await press(pilot, "B", "left")  # from the first kind, back round to the last
        assert app.screen.kind == "condition"  # type: ignore[attr-defined]
        await press(pilot, "escape", "B")
        for key in ["right"] * 4 + list("A1.state") + ["enter"]:  # at once, as a fast typist's or tmux's keys
            post_key(app, key)
        await settle(pilot)
        assert isinstance(app.screen, DebuggerScreen)
        added = s.breakpoints.items[-1]
        assert (added.kind, str(added.expr)) == ("watch", "A1.state")


async def test_the_breakpoint_dialog_offers_a_step_label_first_where_faults_never_abort() -> None:
    app = SpftuiApp(SEED, policy="classic")
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "B")
        dialog = app.screen
        assert type(dialog).__name__ == "BreakpointDialog" and dialog.kind == "step"
        await type_text(pilot, "wp_page_copy:copy")
        await press(pilot, "enter")
        assert app.session is not None and app.session.breakpoints.items[-1].match == "wp_page_copy:copy"


async def test_breakpoints_pane_disables_and_deletes() -> None:
    app = SpftuiApp(SEED, policy="spf-mm-seq")
    async with app.run_test(size=(120, 40)) as pilot:
        s = app.session
        assert s is not None
        app.screen.query_one("#breakpoints").focus()
        await press(pilot, "home", "space")  # disable "spf abort"
        assert not s.breakpoints.items[0].enabled
        await press(pilot, "c")
        assert s.stop.kind == "finished"  # the abort no longer stops it
        await press(pilot, "home", "delete")
        assert [b.kind for b in s.breakpoints.items] == ["violation"]


async def test_goto_runs_on_past_the_recorded_end_and_refuses_a_step_before_the_start() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        s = app.session
        assert s is not None and s.length == 0  # a fresh run: nothing recorded yet
        await press(pilot, "g")
        await type_text(pilot, "52")
        await press(pilot, "enter")
        assert isinstance(app.screen, DebuggerScreen) and s.position == 52  # as `--goto 52` opens
        assert "went on to step 52" in screen_text(pilot)  # (not "stopped after 52 steps (limit)")
        await press(pilot, "g")
        dialog = app.screen
        await type_text(pilot, "-99")
        await press(pilot, "enter")
        assert app.screen is dialog
        assert "before the start" in str(dialog.query_one("#goto-error").content)
        await press(pilot, "ctrl+u")
        await type_text(pilot, "999")
        await press(pilot, "enter")
        assert isinstance(app.screen, DebuggerScreen) and s.position == s.length == 54  # the run's end
        assert any("the run ends after step 54" in str(n.message) for n in app._notifications)


async def test_goto_end_runs_on_to_the_end_of_the_run_and_says_when_it_is_there_already() -> None:
    """`g end` did nothing when the recorded steps stopped short of the run's end, and the
    status kept the last run's "stopped after 10 steps (limit)" though nothing ran."""
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        s = app.session
        assert s is not None

        async def goto(text: str) -> None:
            await press(pilot, "g")
            await type_text(pilot, text)
            await press(pilot, "enter")
            assert isinstance(app.screen, DebuggerScreen)

        await goto("10")
        assert s.position == s.length == 10 and "went on to step 10" in status(app)
        assert "limit" not in status(app)
        await goto("end")
        assert s.position == s.length == 54 and s.finished() and s.stop.kind == "finished"
        assert "all threads finished after 54 steps" in status(app)
        assert s.last is not None and (s.last.step, s.last.thread) == (53, "A1")  # (the Source pane follows it)
        assert app.screen.query_one(SourcePane).selected_label() == s.last.label
        await goto("end")
        assert s.position == 54 and "already at the end (step 54)" in status(app)
        await goto("5")
        await goto("end")  # the recorded end is the run's end: a replay
        assert s.position == 54 and "all threads finished after 54 steps" in status(app)
        await goto("54")
        assert "already at step 54" in status(app)


async def test_goto_past_the_recorded_end_says_which_breakpoint_stops_it_went_over() -> None:
    """`g end` ran over a condition breakpoint (step 44) and the lost write (52) and said
    nothing, though the help promised "as c does". It stays a jump, and says what it passed."""
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        s = app.session
        dbg = app.screen
        assert s is not None and isinstance(dbg, DebuggerScreen)
        dbg.add_breakpoint({"kind": "condition", "expr": "A.mmap_seq > 2"})
        await press(pilot, "r", "g")
        await type_text(pilot, "end")
        await press(pilot, "enter")
        assert s.position == 54 and s.stop.kind == "finished"
        said = (
            "all threads finished after 54 steps · passed 2 breakpoint stops (steps 44, 52): g jumps, c stops at them"
        )
        assert said in status(app)
        assert [b.hits for b in s.breakpoints.items] == [0, 1, 1]  # (abort, violation, the condition)
        await press(pilot, "question_mark")
        assert "go to a step, a jump: breakpoints do not stop it" in screen_text(pilot)
        await press(pilot, "escape", "r", "c")  # c stops at the first
        assert s.position == 44 and s.stop.kind == "breakpoint"


async def test_the_palette_lists_every_action() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for needed in (
            "Step  (s)",
            "Step thread A2  (2)",
            "Continue  (c)",
            "Reverse-continue  (C)",
            "Policy: spf-mm-seq",
            "Reuse rule: page-count",
            "Breakpoint: add watch…",
            "Breakpoint: add condition…",
            "Open scenario…  (o)",
        ):
            assert any(t.startswith(needed) for t in titles), needed
        await press(pilot, "ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await type_text(pilot, "policy spf-mm")
        commands = app.screen.query_one(CommandList)
        for _ in range(100):  # the palette searches in a worker: wait for its hits, not for a fixed time
            if commands.option_count:
                break
            await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert app.session is not None and app.session.scenario.policy == "spf-mm-seq"


async def test_help_opens_and_closes() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "question_mark")
        assert type(app.screen).__name__ == "HelpScreen"
        await press(pilot, "escape")
        assert isinstance(app.screen, DebuggerScreen)


async def test_narrow_terminals_show_one_group_of_panes_at_a_time() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.has_class("narrow")
        assert screen.query_one("#threads").display
        assert not screen.query_one("#g-memory").has_class("-shown")
        await press(pilot, "v")
        assert screen.query_one("#g-memory").has_class("-shown")
        assert app.focused is not None and app.focused.id == "mm"
        await press(pilot, "v", "v")
        assert screen.query_one("#g-code").has_class("-shown")
        await pilot.resize_terminal(120, 40)
        await settle(pilot)
        assert not screen.has_class("narrow")


async def test_the_key_bar_keeps_palette_help_and_quit_and_is_not_rebuilt_for_nothing() -> None:
    """KeyBar (widgets/footer.py) recomposes only when the keys it shows change; on a narrow
    terminal the keys past the edge are cut, so the palette, Help and Quit come first."""
    app = SpftuiApp(SEED)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)

        def keys() -> list[FooterKey]:
            return list(screen.footer.query(FooterKey))

        for width, height in ((80, 24), (60, 20), (120, 40)):
            await pilot.resize_terminal(width, height)
            await settle(pilot)
            await steady(pilot)
            bar = screen_text(pilot).splitlines()[-1]
            assert bar.startswith("^p palette") and "? Help q Quit" in bar, (width, bar)
        shown = keys()
        await press(pilot, "tab", "tab", "s", "s")  # focus moves, steps run: the same keys
        await pilot.pause()
        assert keys() == shown and all(a is b for a, b in zip(keys(), shown, strict=True))


async def test_adding_a_breakpoint_that_is_there_already_adds_none_and_says_which() -> None:
    """What the palette's "Breakpoint: on any violation" calls; the seed has one already."""
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DebuggerScreen) and app.session is not None
        bps = app.session.breakpoints
        (violation,) = [b for b in bps.items if b.kind == "violation" and not b.match]
        before = [b.id for b in bps.items]
        notes: list[str] = []
        screen.notify = lambda text, **kw: notes.append(text)  # type: ignore[method-assign,assignment]
        screen.add_breakpoint({"kind": "violation"})
        assert [b.id for b in bps.items] == before
        assert notes[-1] == f"Breakpoint {violation.id} already stops there: violation."
        app.session.disable_breakpoint(violation.id)
        screen.add_breakpoint({"kind": "violation"})
        assert violation.enabled and [b.id for b in bps.items] == before
        assert notes[-1] == f"Breakpoint {violation.id} (violation) is on again."
        screen.add_breakpoint({"kind": "watch", "expr": "A.mmap_seq"})
        screen.add_breakpoint({"kind": "watch", "expr": "A.mmap_seq", "condition": "A.mmap_seq > 2"})
        assert len(bps.items) == len(before) + 2  # a condition makes it another breakpoint
        screen.add_breakpoint({"kind": "watch", "expr": "A.mmap_seq"})
        assert len(bps.items) == len(before) + 2 and notes[-1].endswith("already stops there: watch A.mmap_seq.")


async def test_a_condition_true_when_it_is_added_says_when_it_will_fire() -> None:
    """A condition fires when it becomes true: one already true sat at 0 hits with no word why."""
    app = SpftuiApp(SEED)
    async with app.run_test(size=(80, 24)) as pilot:
        for text, said in (("A.mmap_seq >= 0", True), ("A.mmap_seq > 2", False)):
            await press(pilot, "B", *["right"] * 5)
            await type_text(pilot, text)
            await press(pilot, "enter")
            await settle(pilot)
            last = list(app._notifications)[-1].message
            assert ("It is true now: it fires when it turns false, then true again." in last) is said, last


async def test_the_breakpoint_dialog_offers_the_scenarios_own_oracles_for_a_violation() -> None:
    """Its hint, placeholder and completion listed only the built-in oracles."""
    from pathlib import Path

    from textual.widgets import Input, Static

    scenario = Path(__file__).resolve().parents[1] / "engine" / "scenarios" / "cow_lost_write_oracles.toml"
    app = SpftuiApp(str(scenario))
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "B", "right")  # abort → violation
        dialog = app.screen
        assert dialog.kind == "violation"  # type: ignore[attr-defined]
        hint = str(dialog.query_one("#bp-hint", Static).render())
        assert "a2_store_lost" in hint and "lost_write" in hint, hint
        assert dialog.query_one("#bp-match", Input).placeholder.startswith("any oracle (empty) or a2_store_lost")
        await type_text(pilot, "a2_st")
        await press(pilot, "right", "enter")  # the completion, then add
        added = app.session.breakpoints.items[-1] if app.session else None
        assert added is not None and (added.kind, added.match) == ("violation", "a2_store_lost")
