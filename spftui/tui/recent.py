"""The recent past of the timeline: the machine one step back, and seq history.

"What did the last step change" needs the state before it; the mmap_seq
sparkline needs the last few dozen values. Both come from scratch machines
replaying the session's recorded choices from its checkpoints; the session's
own machine is never touched.

`update` keeps one machine lagging the session by a step: moving forward one
step costs one replayed step, a jump at most a checkpoint interval. The
history further back is filled by `backfill`, which the debugger runs after
the screen is painted, so a jump is not slowed down by it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Hashable

from ..engine.session import MANUAL, Session
from ..kernel import build_machine
from ..kernel.machine import Machine

WINDOW = 96
"""How many positions of seq history to keep behind the current one."""


def seq_values(m: Machine) -> tuple[int, ...]:
    """Each mm's mmap_seq, in `m.mms` order."""
    return tuple(mm.mmap_seq for mm in m.mms.values())


class Recent:
    """Lagging replays of the session's timeline."""

    def __init__(self) -> None:
        self.key: Hashable = None
        self.machine: Machine | None = None
        self.pos = -1
        self.seq: dict[int, tuple[int, ...]] = {}
        self._scratch: Machine | None = None

    def update(self, session: Session, key: Hashable) -> Machine | None:
        """Bring the lagging machine to `session.position - 1`; return it (None at step 0)."""
        if key != self.key or self.machine is None:
            self.key = key
            self.machine = build_machine(session.scenario)
            self._scratch = None
            self.pos = 0
            self.seq = {}
        pos = session.position
        self.seq[pos] = seq_values(session.machine)
        if len(self.seq) > 200_000:
            self.seq = {p: v for p, v in self.seq.items() if abs(p - pos) <= WINDOW}
        target = pos - 1
        if target < 0:
            return None
        if not 0 <= self.pos <= target or target - self.pos > session.every:
            self.machine, self.pos = self._restore(session, target, self.machine)
        self.pos = self._replay(session, self.machine, self.pos, target)
        return self.machine

    def adopt(self, session: Session, key: Hashable, snapshot: tuple[object, ...], position: int) -> None:
        """Take the state at `position` (a snapshot the caller already has) as the lagging machine."""
        if key != self.key or self.machine is None:
            self.key = key
            self.machine = build_machine(session.scenario)
            self._scratch = None
            self.seq = {}
        self.machine.restore(snapshot)
        self.pos = position
        self.seq[position] = seq_values(self.machine)

    def missing(self, position: int) -> bool:
        """Whether the history window before `position` has gaps."""
        return any(p not in self.seq for p in range(max(0, position - WINDOW), position))

    def backfill(self, session: Session) -> bool:
        """Fill the history window behind the current position; True if anything was added."""
        pos = session.position
        gaps = [p for p in range(max(0, pos - WINDOW), pos) if p not in self.seq]
        if not gaps:
            return False
        m = self._scratch if self._scratch is not None else build_machine(session.scenario)
        m, at = self._restore(session, gaps[0], m)
        self._scratch = m
        self._replay(session, m, at, gaps[-1])
        return True

    def _replay(self, session: Session, m: Machine, at: int, target: int) -> int:
        """Step `m` from position `at` to `target`, recording mmap_seq at each position."""
        choices = session.choices
        while at < target:
            self.seq[at] = seq_values(m)
            m.step(choices[at] & ~MANUAL)
            at += 1
        self.seq[at] = seq_values(m)
        return at

    def _restore(self, session: Session, at: int, m: Machine) -> tuple[Machine, int]:
        """`m` (or a fresh machine) at the checkpoint at or before position `at`."""
        keys = sorted(session.ckpts)
        c = keys[bisect_right(keys, at) - 1]
        snap = session.ckpts[c][0]
        if snap is None:  # checkpoint 0 is built lazily: it is the initial machine
            return build_machine(session.scenario), c
        m.restore(snap)
        return m, c

    def history(self, position: int, index: int, width: int) -> list[int | None]:
        """mm #index's mmap_seq at the `width` positions ending at `position`."""
        out: list[int | None] = []
        for p in range(position - width + 1, position + 1):
            v = self.seq.get(p) if p >= 0 else None
            out.append(None if v is None or index >= len(v) else v[index])
        return out
