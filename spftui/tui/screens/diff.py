"""Compare with branch: where this timeline and another part, and which reordered
pair of conflicting steps turns the passing one into the failing one (engine/diff.py).

Each timeline is run as `spftui diff` runs a schedule: its recorded steps, then
round-robin to the end, so a timeline cut short is compared as a whole run.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ...engine.diff import RUNS, Diff, DiffCancelled, diff_runs, prose, side_rows, side_title
from ...engine.recording import record_choices
from ...scenario.model import Scenario
from .report import ReportScreen, step_cell


class DiffScreen(ReportScreen):
    """The diff of timeline `a` against timeline `b` (thread indices per step), labelled."""

    working = "replaying both timelines and looking for the smallest reordered pair…"

    def __init__(self, scenario: Scenario, a: tuple[int, ...], b: tuple[int, ...], labels: tuple[str, str]) -> None:
        super().__init__()
        self.scenario = scenario
        self.a, self.b = a, b
        self.labels = labels
        self.title_text = f"Compare: {RUNS[0]} = {labels[0]}, {RUNS[1]} = {labels[1]}"

    def compute(self, cancelled: Any) -> Diff | None:
        sc = self.scenario
        try:
            return diff_runs(sc, record_choices(sc, self.a), record_choices(sc, self.b), cancelled=cancelled)
        except DiffCancelled:
            return None

    def render_result(self, result: Any) -> RenderableType:
        d: Diff = result
        parts: list[RenderableType] = [
            Text(f"{self.scenario.title} · policy {self.scenario.policy} · reuse {self.scenario.reuse}", "dim"),
            Text("Each timeline runs to its end: its recorded steps, then round-robin.", "dim"),
            Text(""),
        ]
        for line in prose(d, self.labels, "timelines"):
            style = ""
            if line.startswith("First divergence"):
                style = "bold"
            elif line.lstrip()[:2].rstrip(".").isdigit():
                style = "#ffaf5f"
            elif line.startswith("Flipped schedule"):
                style = "dim"
            parts.append(Text(line, style))
        if d.divergence is not None:
            parts += [Text(""), self.table(d, (self.app.size.width - 28) // 2)]
        return Group(*parts)

    @staticmethod
    def table(d: Diff, room: int = 60) -> Table:
        """Both runs side by side (engine/diff.side_rows); `room`: about what each column gets."""
        table = Table(title=side_title(d), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, expand=True)
        table.add_column("#", justify="right", no_wrap=True)
        for name in RUNS:
            table.add_column(name, overflow="fold", ratio=1)
        for r in side_rows(d):
            if not r.step:
                table.add_row("…", Text(r.a, "dim"), "")
                continue
            cells = []
            for text, marked in ((r.a, r.marked_a), (r.b, r.marked_b)):
                if marked and text:
                    cell = Text("▶ ", "bold #ffaf5f")
                    cell.append_text(step_cell(text, room - 2, "bold #ffaf5f"))
                else:
                    cell = step_cell(text, room)
                cells.append(cell)
            table.add_row(str(r.step), *cells, style="bold" if r.divergence else None)
        return table
