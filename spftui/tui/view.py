"""What every pane is handed on a refresh: the session, now and one step ago.

Built once per refresh by the debugger screen. Panes read it; nothing here or
in a pane mutates the session or its machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..engine.session import Session, StepInfo
from ..engine.view import Machine
from .recent import Recent


@dataclass
class View:
    """One refresh's worth of state.

    Attributes:
        session: The session (read only).
        machine: `session.machine` (read only).
        before: The machine one step ago, or None at step 0.
        last: The step that led here (thread, label, events), or None.
        selected: Index of the selected thread.
        recent: Seq history for sparklines.
    """

    session: Session
    machine: Machine
    before: Machine | None
    last: StepInfo | None
    selected: int
    recent: Recent
    pte_old: dict[tuple[str, int], int] = field(default_factory=dict)
    """(mm, vpn) -> the PTE value before the last step, for PTEs it changed."""
    seq_changed: set[tuple[str, str]] = field(default_factory=set)
    """(mm, counter name) pairs the last step moved (`mmap_seq`, `vma0.vm_sequence`)."""
    epoch: Any = None
    """Identifies the timeline (scenario load, restart, branch): row caches key on it."""

    @property
    def position(self) -> int:
        return self.session.position

    @property
    def ran(self) -> int | None:
        """Index of the thread that ran the last step."""
        if self.last is None:
            return None
        try:
            return self.session.names.index(self.last.thread)
        except ValueError:
            return None

    @classmethod
    def build(cls, session: Session, selected: int, recent: Recent, key: Any) -> View:
        before = recent.update(session, key)
        pos = session.position
        last = session.last
        if pos == 0:
            last = None
        elif last is None or last.step != pos - 1:
            last = StepInfo(
                pos - 1, session.step_thread(pos - 1), session.step_label(pos - 1), session.events_of(pos - 1)
            )
        view = cls(session, session.machine, before, last, selected, recent, epoch=key)
        if last is not None:
            for e in last.events:
                if e.kind == "pte":
                    view.pte_old.setdefault((e.mm, e.vpn), e.old)
                elif e.kind == "seq":
                    view.seq_changed.add((e.mm, e.counter))
        return view
