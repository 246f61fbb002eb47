"""The debugger's tools over a whole run, through the palette and keys: a Perfetto export,
a diff between two branches, the race-window coverage, and a scenario's own breakpoints."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from textual.widgets import Static
from tui_helpers import SEED, palette, press, screen_text, settle, type_text

from spftui.tui.app import SpftuiApp
from spftui.tui.screens.choice import ChoiceDialog
from spftui.tui.screens.coverage import CoverageScreen
from spftui.tui.screens.debugger import DebuggerScreen
from spftui.tui.screens.diff import DiffScreen
from spftui.tui.screens.error import ErrorDialog
from spftui.tui.screens.prompt import PromptDialog


def messages(app: SpftuiApp) -> list[str]:
    return [str(n.message).replace("\n", "") for n in app._notifications]  # (a toast's path is broken after / or .)


async def answer_prompt(pilot, app: SpftuiApp, path: str) -> None:  # type: ignore[no-untyped-def]
    prompt = app.screen
    assert isinstance(prompt, PromptDialog)
    field = prompt.query_one("#prompt-input")
    field.value = path  # type: ignore[attr-defined]
    await press(pilot, "enter")


async def test_the_palette_exports_the_timeline_as_a_perfetto_trace_and_asks_before_replacing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "c")
        await settle(pilot)
        s = app.session
        assert s is not None and s.violations()
        await palette(pilot, app, "export perfetto")
        prompt = app.screen
        assert isinstance(prompt, PromptDialog)
        default = prompt.query_one("#prompt-input").value  # type: ignore[attr-defined]
        assert default == str(tmp_path / "cow_lost_write.spf-refetch-vma.perfetto.json")  # the current folder
        await press(pilot, "enter")
        assert isinstance(app.screen, DebuggerScreen)
        trace = json.loads(Path(default).read_text())
        assert trace["otherData"]["steps"] == s.length
        assert any(default in m for m in messages(app))  # says where it went

        # a relative name is in the current folder; a taken one asks first
        (tmp_path / "run.json").write_text("mine")
        await press(pilot, "x")
        await answer_prompt(pilot, app, "run.json")
        ask = app.screen
        assert isinstance(ask, ChoiceDialog) and "already exists" in ask.title_text
        assert "●" not in screen_text(pilot)  # (Cancel is the default, not a state: no mark to stay behind)
        await press(pilot, "down", "enter")  # ↓ on Cancel, the last, stays there: it wrapped to Replace it
        assert (tmp_path / "run.json").read_text() == "mine"
        await press(pilot, "x")
        await answer_prompt(pilot, app, "run.json")
        await press(pilot, "escape")  # nothing written
        assert (tmp_path / "run.json").read_text() == "mine"
        await press(pilot, "x")
        await answer_prompt(pilot, app, "run.json")
        await press(pilot, "up", "enter")  # from Cancel: Keep both: the first free numbered name
        assert (tmp_path / "run.json").read_text() == "mine"
        assert json.loads((tmp_path / "run.2.json").read_text())["otherData"]["steps"] == s.length
        await press(pilot, "x")
        await answer_prompt(pilot, app, "run.json")
        await press(pilot, "home", "enter")  # the first: Replace it
        assert json.loads((tmp_path / "run.json").read_text())["otherData"]["steps"] == s.length


async def test_a_missing_folder_or_an_unwritable_one_is_a_sentence_not_a_traceback(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    app = SpftuiApp(SEED)
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "s", "x")
        await answer_prompt(pilot, app, str(tmp_path / "nowhere" / "t.json"))
        prompt = app.screen
        assert isinstance(prompt, PromptDialog)  # still open, saying why
        assert f"no such directory: {tmp_path / 'nowhere'}" in str(prompt.query_one("#prompt-error").content)  # type: ignore[attr-defined]
        await answer_prompt(pilot, app, str(tmp_path))
        assert "is a folder" in str(prompt.query_one("#prompt-error").content)  # type: ignore[attr-defined]
        if os.geteuid() != 0:  # root writes anywhere
            locked.chmod(0o500)
            try:
                await answer_prompt(pilot, app, str(locked / "t.json"))
                assert "permission denied" in str(prompt.query_one("#prompt-error").content)  # type: ignore[attr-defined]
            finally:
                locked.chmod(0o700)
        # a failure at write time (the folder went away after the prompt checked it) is a dialog
        await press(pilot, "escape")
        dbg = app.screen
        assert isinstance(dbg, DebuggerScreen)
        dbg._write_trace(str(tmp_path / "gone" / "t.json"), "refuse")
        await settle(pilot)
        assert isinstance(app.screen, ErrorDialog)
        assert "no such directory" in str(app.screen.query_one("#error-message").content)  # type: ignore[attr-defined]
        assert "Traceback" not in screen_text(pilot)


async def test_compare_with_branch_shows_the_divergence_and_the_flipped_pair_at_80x24() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(80, 24)) as pilot:
        await palette(pilot, app, "compare with branch")
        assert isinstance(app.screen, DebuggerScreen)  # one timeline: a sentence, no screen
        assert "only one timeline" in screen_text(pilot)
        await press(pilot, "c")
        await settle(pilot)
        s = app.session
        assert s is not None
        s.goto(17)
        await press(pilot, "1")  # A1 instead of B at step 18: a new branch
        assert s.branches and s.branch_id == 1
        await palette(pilot, app, "compare with branch")
        screen = app.screen
        assert isinstance(screen, DiffScreen)
        await wait_report(pilot, screen)
        text = screen_text(pilot)
        assert "Compare: run 1 = this timeline (branch 1), run 2 = branch 0" in text
        assert "First divergence at step 18: A1 pte_map_lock:seq_check in run 1, B" in " ".join(
            rendered(screen).split()
        )
        assert any(line.split()[:5] == ["#", "run", "1", "run", "2"] for line in rendered(screen).splitlines())
        assert "lost_write at step 52" in text
        body = rendered(screen)
        assert "This one is enough" in body or "are enough" in body
        assert "▶" in body and "Flipped schedule" in body
        assert max(len(line.rstrip()) for line in text.splitlines()) <= 80
        await press(pilot, "end")  # scrolls to the table's end
        await press(pilot, "escape")
        assert isinstance(app.screen, DebuggerScreen)


async def test_compare_with_branch_names_as_touched_by_both_only_what_both_runs_touch() -> None:
    """The line once said `both touch PTE table 0, mm A` from B's footprints alone; then, with steps
    matched by rank, that A never runs the flipped pair's A2 step (B's 48th), which A does run: its
    second mprotect's unlock is A's step 52. Matched by op and label, the steps touch both in both."""
    app = SpftuiApp(SEED)
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "c")
        await settle(pilot)
        s = app.session
        assert s is not None
        s.goto(17)
        await press(pilot, "1")  # branch 1 (A, no violation) against branch 0 (B, the lost write)
        await palette(pilot, app, "compare with branch")
        screen = app.screen
        assert isinstance(screen, DiffScreen)
        await wait_report(pilot, screen)
        body = " ".join(rendered(screen).split())
        assert (
            "A2 do_mprotect_pkey:mmap_write_unlock (step 48 of run 2) runs before A1 pte_map_lock:trylock "
            "(step 50 of run 2; in run 1: step 21); both touch PTE table 0, mm A."
        ) in body
        assert "never runs" not in body
        (pair,) = screen.result.pairs
        assert (pair.first.step_pass, pair.second.step_pass) == (52, 21)
        assert pair.objects == pair.failing_objects == ("PTE table 0", "mm A")


async def test_with_three_timelines_compare_asks_which_branch() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "c")
        await settle(pilot)
        s = app.session
        assert s is not None
        s.goto(17)
        await press(pilot, "1")
        s.goto(3)
        await press(pilot, "3")
        assert len(s.branches) == 2
        await palette(pilot, app, "compare with branch")
        assert isinstance(app.screen, ChoiceDialog)
        await press(pilot, "enter")
        screen = app.screen
        assert isinstance(screen, DiffScreen)
        await wait_report(pilot, screen)
        assert screen.result is not None and "Compare: run 1 = this timeline" in screen.title_text


async def test_race_window_coverage_runs_in_the_background_and_shows_the_matrix_at_80x24() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(80, 24)) as pilot:
        await palette(pilot, app, "race-window coverage")
        screen = app.screen
        assert isinstance(screen, CoverageScreen)
        await wait_report(pilot, screen)
        cov = screen.result
        assert cov is not None and cov.mode == "random" and cov.runs == 200
        body = rendered(screen)
        hit = sum(1 for *_, n in cov.cells() if n)
        assert f"{hit} of {len(cov.cells())} windows interleaved" in body
        assert "REFETCH" in body and "Never interleaved" in body
        assert max(len(line.rstrip()) for line in screen_text(pilot).splitlines()) <= 80
        await press(pilot, "p")  # PCT schedules instead
        await wait_report(pilot, screen)
        assert screen.result.mode == "pct"
        await press(pilot, "escape")
        assert isinstance(app.screen, DebuggerScreen)


async def test_escape_stops_an_exhaustive_coverage_run_and_shows_what_it_has() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        app.screen.action_coverage()  # type: ignore[attr-defined]
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CoverageScreen)
        await wait_report(pilot, screen)
        await press(pilot, "x")  # every schedule: ~35 s on the seed
        assert screen.running
        await pilot.pause(0.3)
        await press(pilot, "s")  # the debugger's keys do not reach through
        assert app.session is not None and app.session.position == 0
        for _ in range(100):  # how far it is, while it runs
            state = str(screen.query_one("#report-state", Static).render())
            if " states, " in state:
                break
            await pilot.pause(0.1)
        assert "running every schedule under spf-refetch-vma… " in state and "(Esc stops)" in state, state
        await press(pilot, "escape")
        await wait_report(pilot, screen)
        assert app.screen is screen  # stopped, still open, with the matrix so far
        cov = screen.result
        assert cov.mode == "exhaustive" and not cov.complete and cov.runs < 150_000
        assert "every schedule: stopped after" in rendered(screen)
        await press(pilot, "escape")
        assert isinstance(app.screen, DebuggerScreen)


async def wait_report(pilot, screen) -> None:  # type: ignore[no-untyped-def]
    for _ in range(600):
        await pilot.pause(0.05)
        if not screen.running:
            break
    assert not screen.running
    await pilot.pause()


def rendered(screen) -> str:  # type: ignore[no-untyped-def]
    """The whole report as text (also the part scrolled out of view)."""
    from rich.console import Console

    console = Console(width=76, record=True, file=io.StringIO())
    console.print(screen.render_result(screen.result))
    return console.export_text()


SCENARIO_BREAKS = (
    '\n[[breakpoint]]\nkind = "aba"\nthread = "A1"\n\n[[breakpoint]]\nwatch = "A.mmap_seq"\nenabled = false\n'
)


async def test_the_debugger_sets_the_scenarios_breakpoints_on_open_and_stops_at_the_aba(tmp_path: Path) -> None:
    path = tmp_path / "aba.toml"
    path.write_text(SEED.read_text() + SCENARIO_BREAKS)
    app = SpftuiApp(path)
    async with app.run_test(size=(80, 24)) as pilot:
        s = app.session
        assert s is not None
        assert [(b.kind, b.match, b.thread, b.enabled) for b in s.breakpoints.items] == [
            ("aba", "", "A1", True),
            ("watch", "", "", False),
        ]  # instead of the default pair (any abort, any violation)
        await press(pilot, "c")
        await settle(pilot)
        assert s.position == 51 and s.stop.kind == "breakpoint"
        assert "passed by ABA" in s.stop.text
        # opening the scenario again (o) keeps them and sets nothing twice
        app.install(app.session.scenario)  # type: ignore[union-attr]
        await pilot.pause()
        assert len(app.session.breakpoints.items) == 2  # type: ignore[union-attr]


async def test_the_picker_refuses_a_scenario_whose_breakpoint_expression_is_misspelt(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SEED.read_text() + '\n[[breakpoint]]\nwhen = "A1.sate == 1"\n')
    line = SEED.read_text().count("\n") + 3
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "o")
        picker = app.screen
        picker.query_one("#picker-path").focus()
        await type_text(pilot, str(bad))
        await press(pilot, "enter")
        dialog = app.screen
        assert isinstance(dialog, ErrorDialog)
        message = str(dialog.query_one("#error-message").content)  # type: ignore[attr-defined]
        assert message.startswith(f"{bad}:{line}: breakpoint[0].when: thread A1 has no field 'sate'")
