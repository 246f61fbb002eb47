"""`e` runs the interleaving explorer in a worker and lands on its counterexample."""

from __future__ import annotations

from tui_helpers import SEED, press

from spftui.tui.app import SpftuiApp
from spftui.tui.screens.narration import NarrationScreen
from spftui.tui.widgets.status import StatusLine


def status(app: SpftuiApp) -> str:
    return str(app.screen.query_one(StatusLine).content)


async def test_explore_jumps_to_the_lost_write_under_refetch_vma() -> None:
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    async with app.run_test(size=(120, 40)) as pilot:
        session = app.session
        assert session is not None
        breakpoints = [(b.kind, b.enabled) for b in session.breakpoints.items]
        await press(pilot, "e")
        assert isinstance(app.screen, NarrationScreen)  # the whole narrated counterexample, to reread
        assert "lost_write" in app.screen.text
        await press(pilot, "escape")
        assert app.screen.busy is None
        assert session.scenario.policy == "spf-refetch-vma"
        assert session.position > 0
        assert any(mk.what == "lost_write" and mk.step < session.position for mk in session.violations())
        assert [(b.kind, b.enabled) for b in session.breakpoints.items] == breakpoints
        assert "explorer: lost_write" in status(app)
        assert f"at step {session.position}" in status(app)
        at = session.position
        await press(pilot, "S")  # a normal session: step back over the violating step
        assert session.position == at - 1


async def test_explore_reports_no_violation_under_mm_seq() -> None:
    app = SpftuiApp(SEED, policy="spf-mm-seq")
    async with app.run_test(size=(120, 40)) as pilot:
        session = app.session
        assert session is not None
        before = session.position
        await press(pilot, "e")
        assert app.screen.busy is None
        assert "no violation" in status(app)
        assert session.scenario.policy == "spf-mm-seq"
        assert session.position == before
        await press(pilot, "s")  # still usable
        assert session.position == before + 1


async def test_the_exploring_status_keeps_to_one_line_and_the_estimate_at_80_columns() -> None:
    from spftui.engine.narrate import Progress
    from spftui.tui.screens.background import ExploreProgress

    report = Progress("spf-mm-seq", "exhaustive", 487_118, 1_100_000, 60, 9, 151.0, (), 0.47, 171.0)
    for size, shown, gone in (
        ((120, 40), ["exploring (exhaustive)… 487,118 states", "3,226 states/s", "~47% done, ~3 min left"], []),
        ((80, 24), ["exploring… 487,118 states", "~47% done, ~3 min left", "Esc interrupts"], ["states/s"]),
        ((60, 24), ["exploring… 487,118 states · Esc interrupts"], ["done"]),
    ):
        app = SpftuiApp(SEED)
        async with app.run_test(size=size) as pilot:
            screen = app.screen
            screen.busy = "explore"  # type: ignore[attr-defined]
            screen.on_explore_progress(ExploreProgress(report))  # type: ignore[attr-defined]
            await pilot.pause()
            line = status(app).splitlines()[-1]
            assert all(s in line for s in shown), (size, line)
            assert not any(s in line for s in gone), (size, line)
            assert len(line) + 3 <= size[0]  # "■ " and the status's padding
            screen.busy = None  # type: ignore[attr-defined]
