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

from collections.abc import Hashable

from ..engine import Cursor, Session, Timeline
from ..engine.view import Machine

WINDOW = 96
"""How many positions of seq history to keep behind the current one."""


def seq_values(m: Machine) -> tuple[int, ...]:
    """Each mm's mmap_seq, in `m.mms` order."""
    return tuple(mm.mmap_seq for mm in m.mms.values())


class Recent:
    """Lagging replays of the session's timeline (through the engine's Timeline)."""

    def __init__(self) -> None:
        self.key: Hashable = None
        self.cursor: Cursor | None = None
        self.timeline: Timeline | None = None
        self.seq: dict[int, tuple[int, ...]] = {}

    def _cursor(self, session: Session, key: Hashable) -> Cursor:
        # A restart (or a policy switch) gives the session a new timeline under the same key:
        # a cursor on the old one would replay the old run's steps.
        if key != self.key or self.cursor is None or self.timeline is not session.timeline:
            self.key = key
            self.timeline = session.timeline
            self.cursor = session.timeline.cursor()
            self.seq = {}
        return self.cursor

    def update(self, session: Session, key: Hashable) -> Machine | None:
        """Bring the lagging machine to `session.position - 1`; return it (None at step 0)."""
        cursor = self._cursor(session, key)
        pos = session.position
        self.seq[pos] = seq_values(session.machine)
        if len(self.seq) > 200_000:
            self.seq = {p: v for p, v in self.seq.items() if abs(p - pos) <= WINDOW}
        if pos == 0:
            return None
        m = cursor.at(pos - 1)
        self.seq[pos - 1] = seq_values(m)
        return m

    def adopt(self, session: Session, key: Hashable, snapshot: tuple[object, ...], position: int) -> None:
        """Take the state at `position` (a snapshot the caller already has) as the lagging machine."""
        m = self._cursor(session, key).adopt(snapshot, position)
        self.seq[position] = seq_values(m)

    def missing(self, position: int) -> bool:
        """Whether the history window before `position` has gaps."""
        return any(p not in self.seq for p in range(max(0, position - WINDOW), position))

    def backfill(self, session: Session) -> bool:
        """Fill the history window behind the current position; True if anything was added."""
        pos = session.position
        gaps = [p for p in range(max(0, pos - WINDOW), pos) if p not in self.seq]
        if not gaps:
            return False
        timeline = session.timeline
        if gaps[0] == 0:
            self.seq[0] = seq_values(timeline.machine_at(0))
        # replay(k, …) yields the machine after step k, i.e. at position k + 1
        for k, m, _ in timeline.replay(max(gaps[0] - 1, 0), gaps[-1]):
            self.seq[k + 1] = seq_values(m)
        return True

    def history(self, position: int, index: int, width: int) -> list[int | None]:
        """mm #index's mmap_seq at the `width` positions ending at `position`."""
        out: list[int | None] = []
        for p in range(position - width + 1, position + 1):
            v = self.seq.get(p) if p >= 0 else None
            out.append(None if v is None or index >= len(v) else v[index])
        return out
