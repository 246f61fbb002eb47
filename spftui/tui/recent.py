"""The recent past of the timeline: the machine one step back, and seq history.

"What did the last step change" needs the state before it; the mmap_seq
sparkline needs the last few dozen values. Both come from one scratch
machine that lags the session by a step. Moving forward one step costs one
replayed step; after a jump it restores the nearest checkpoint and replays at
most a checkpoint interval plus the history window. The session's machine is
never touched.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Hashable

from ..engine.session import MANUAL, Session
from ..kernel import build_machine
from ..kernel.machine import Machine

WINDOW = 96
"""How many positions of seq history to keep filled behind the current one."""


def seq_values(m: Machine) -> tuple[int, ...]:
    """Each mm's mmap_seq, in `m.mms` order."""
    return tuple(mm.mmap_seq for mm in m.mms.values())


class Recent:
    """A lagging replay of the session's timeline."""

    def __init__(self) -> None:
        self.key: Hashable = None
        self.machine: Machine | None = None
        self.pos = -1
        self.seq: dict[int, tuple[int, ...]] = {}

    def reset(self) -> None:
        self.key = None

    def update(self, session: Session, key: Hashable) -> Machine | None:
        """Bring the lagging machine to `session.position - 1` and fill history.

        Returns the machine as it was one step ago (None at step 0).
        """
        if key != self.key or self.machine is None:
            self.key = key
            self.machine = build_machine(session.scenario)
            self.pos = -1
            self.seq = {}
        pos = session.position
        self.seq[pos] = seq_values(session.machine)
        if len(self.seq) > 500_000:
            self.seq = {p: v for p, v in self.seq.items() if abs(p - pos) <= WINDOW}
        target = pos - 1
        if target < 0:
            return None
        lo = max(0, pos - WINDOW)
        missing = next((p for p in range(lo, pos) if p not in self.seq), None)
        start = target if missing is None else min(missing, target)
        if self.pos == target and missing is None:
            return self.machine
        if not 0 <= self.pos <= start or start - self.pos > 2 * session.every:
            self._restore(session, start)
        m = self.machine
        choices = session.choices
        while self.pos < target:
            self.seq[self.pos] = seq_values(m)
            m.step(choices[self.pos] & ~MANUAL)
            self.pos += 1
        self.seq[self.pos] = seq_values(m)
        return m

    def _restore(self, session: Session, at: int) -> None:
        keys = sorted(session.ckpts)
        c = keys[bisect_right(keys, at) - 1]
        snap = session.ckpts[c][0]
        if snap is None:  # checkpoint 0 is built lazily: the initial machine
            self.machine = build_machine(session.scenario)
        else:
            assert self.machine is not None
            self.machine.restore(snap)
        self.pos = c

    def history(self, position: int, index: int, width: int) -> list[int | None]:
        """mm #index's mmap_seq at the `width` positions ending at `position`."""
        out: list[int | None] = []
        for p in range(position - width + 1, position + 1):
            v = self.seq.get(p) if p >= 0 else None
            out.append(None if v is None or index >= len(v) else v[index])
        return out
