"""Race-window coverage of the current scenario and policy (engine/coverage.py): which
writer steps of one thread ever ran inside which speculative window of another.

Rows are writer steps, columns the checks that close a window (1, 2, …,
named below the matrix: numbers keep the matrix inside 80 columns); a cell counts the times that writer landed in
that window (a run may count twice: two faults), `·` marks a window never hit. `r`, `p` and `x` run it again
with random, PCT or every schedule.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.binding import Binding, BindingType

from ...engine.coverage import Coverage, coverage
from ...scenario.model import Scenario
from .report import ReportProgress, ReportScreen, step_cell

RUNS = 200
MAX_STATES = 200_000
MODES = {"random": f"{RUNS} random schedules", "pct": f"{RUNS} PCT schedules", "exhaustive": "every schedule"}


class CoverageScreen(ReportScreen):
    """The matrix for `scenario` under its policy; `mode` as `spftui coverage` takes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "mode('random')", "Random"),
        Binding("p", "mode('pct')", "PCT"),
        Binding("x", "mode('exhaustive')", "Every schedule"),
    ]
    keys = "r random · p PCT · x every schedule · ↑↓ scroll · Esc stops / closes"

    def __init__(self, scenario: Scenario, mode: str = "random") -> None:
        super().__init__()
        self.scenario = scenario
        self.mode = mode
        self.title_text = f"Race-window coverage: {scenario.title}"

    @property
    def working(self) -> str:  # type: ignore[override]
        return f"running {MODES[self.mode]} under {self.scenario.policy}…"

    def compute(self, cancelled: Any) -> Coverage:
        what = "states" if self.mode == "exhaustive" else "schedules"
        t0 = time.monotonic()
        shown = [0.0]

        def progress(done: int) -> None:  # (in the worker: post, a few times a second at most)
            now = time.monotonic()
            if now - shown[0] >= 0.25:
                shown[0] = now
                self.post_message(ReportProgress(f"{self.working} {done:,} {what}, {now - t0:.0f} s (Esc stops)"))

        return coverage(
            self.scenario, mode=self.mode, runs=RUNS, max_states=MAX_STATES, cancelled=cancelled, progress=progress
        )

    def action_mode(self, mode: str) -> None:
        if self.running:
            self.state(f"{self.working} (Esc stops it first)")
            return
        self.mode = mode
        self.start()

    def render_result(self, result: Any) -> RenderableType:
        cov: Coverage = result
        sc = self.scenario
        if cov.mode == "exhaustive":
            if cov.complete:
                how = f"every schedule: {cov.runs:,} states (complete)"
            elif cov.runs >= MAX_STATES:
                how = f"every schedule: cut at {cov.runs:,} states"
            else:
                how = f"every schedule: stopped after {cov.runs:,} states"
        else:
            how = f"{cov.runs:,} {'PCT' if cov.mode == 'pct' else 'random'} schedules"
            if cov.runs < RUNS:
                how += f" (stopped; of {RUNS:,})"
        parts: list[RenderableType] = [Text(f"policy {sc.policy} · reuse {sc.reuse} · {how}", "dim")]
        if not cov.rows:
            parts.append(Text("No speculative check ran: no window to cover (a classic policy takes mmap_lock)."))
            return Group(*parts)
        cells = cov.cells()
        hit = sum(1 for *_, n in cells if n)
        never = cov.never()
        summary = Text()
        summary.append(f"{hit} of {len(cells)} windows interleaved", "bold")
        summary.append(
            f" · {len(never)} never hit" if never else " · every window hit", "bold #ff8787" if never else ""
        )
        parts += [
            summary,
            Text("Rows: writer steps; columns: the checks listed below.", "dim"),
            Text("A cell counts the times the writer ran inside that check's window;", "dim"),
            Text("++ 100 or more, · never, blank: the same thread.", "dim"),
        ]
        ids = [str(i) for i in range(1, len(cov.rows) + 1)]
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=0, expand=True)  # (the box puts a space between)
        table.add_column("writer step", overflow="fold", ratio=1)
        for i in ids:
            table.add_column(i, justify="right", no_wrap=True, width=max(2, len(i)))
        room = self.app.size.width - 18 - 3 * len(ids)  # what the writer column gets, about
        for col in cov.cols:
            row: list[Text | str] = []
            for r in cov.rows:
                if r[0] == col[0]:
                    row.append("")
                else:
                    k = cov.hits.get((r, col), 0)
                    row.append(Text(str(k) if k < 100 else "++", "#87d787") if k else Text("·", "bold #ff5f5f"))
            table.add_row(step_cell(f"{col[0]} {col[1]}", room), *row)
        parts.append(table)
        legend = Table.grid(padding=(0, 1))
        legend.add_column(justify="right", style="bold", no_wrap=True)
        legend.add_column(overflow="fold")
        for i, r in zip(ids, cov.rows, strict=True):
            legend.add_row(
                i, Text.assemble((r[0], "bold"), f" {r[1]} ", (r[2], "#87afff"), f", ran {cov.checks[r]:,}×")
            )
        parts += [Text("Checks (the columns)", "bold"), legend]
        if never:
            rid = dict(zip(cov.rows, ids, strict=True))
            parts.append(Text(f"Never interleaved ({len(never)})", "bold #ff8787"))
            gaps = Table.grid(padding=(0, 1))
            gaps.add_column(justify="right", style="bold", no_wrap=True)
            gaps.add_column(overflow="fold")
            for r in cov.rows:
                writers = [f"{c[0]} {c[1]}" for rr, c in never if rr == r]
                if writers:
                    gaps.add_row(f"{rid[r]} ×", ", ".join(writers))
            parts.append(gaps)
        return Group(*parts)
