"""Scheduling strategies: who runs next.

A strategy's state is a small tuple (`state` / `set_state`) so a Session can
checkpoint it with the machine and rewind it. `choose` both decides and
advances that state. Manual steps bypass the strategy (`observe` keeps it in
step where it needs to).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..kernel.state import RUNNABLE
from .describe import counted

if TYPE_CHECKING:
    from ..kernel.machine import Machine
    from ..scenario.model import ScheduleEntry

MASK64 = (1 << 64) - 1


def splitmix64(x: int) -> tuple[int, int]:
    """One splitmix64 step: (new state, output). Small state, same everywhere."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return x, z ^ (z >> 31)


class Strategy:
    name = "strategy"

    def choose(self, m: Machine) -> int | None:
        raise NotImplementedError

    def observe(self, m: Machine, index: int) -> None:
        """A step the strategy did not choose (a manual step)."""

    @property
    def state(self) -> Any:
        return None

    def set_state(self, state: Any) -> None:
        pass

    def describe(self) -> str:
        """Where the strategy is now (the status line)."""
        return self.name

    def describe_next(self, m: Machine) -> str:
        """Where the strategy will be for the step it chooses next on `m` (the status line's
        "next:"); the strategy is left as it was."""
        return self.describe()

    def summary(self) -> str:
        """What the strategy is (report headers)."""
        return self.describe()


class RoundRobin(Strategy):
    """Each runnable thread in turn, one step each."""

    name = "round-robin"

    def __init__(self) -> None:
        self.last = -1

    def choose(self, m: Machine) -> int | None:
        n = len(m.threads)
        for k in range(1, n + 1):
            i = (self.last + k) % n
            if m.threads[i].state == RUNNABLE:
                self.last = i
                return i
        return None

    def observe(self, m: Machine, index: int) -> None:
        self.last = index

    @property
    def state(self) -> Any:
        return self.last

    def set_state(self, state: Any) -> None:
        self.last = state


class SeededRandom(Strategy):
    """A uniformly random runnable thread per step, from a seeded splitmix64."""

    name = "random"

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.x = seed & MASK64

    def choose(self, m: Machine) -> int | None:
        runnable = [t.index for t in m.threads if t.state == RUNNABLE]
        if not runnable:
            return None
        # splitmix64, inlined: this runs once per step
        x = self.x = (self.x + 0x9E3779B97F4A7C15) & MASK64
        z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return runnable[(z ^ (z >> 31)) % len(runnable)]

    @property
    def state(self) -> Any:
        return self.x

    def set_state(self, state: Any) -> None:
        self.x = state

    def describe(self) -> str:
        return f"random (seed {self.seed})"


class Replay(Strategy):
    """A fixed schedule; after its last entry the run finishes round-robin.

    An entry whose thread is blocked, finished, or never reaches its label
    ends early, so one schedule stays meaningful under every policy.
    """

    name = "schedule"

    def __init__(self, entries: Sequence[ScheduleEntry]) -> None:
        self.entries = tuple(entries)
        self.idx = 0
        self.k = 0  # steps taken in the current entry
        self.rr = RoundRobin()

    def current_entry(self) -> ScheduleEntry | None:
        return self.entries[self.idx] if self.idx < len(self.entries) else None

    def choose(self, m: Machine) -> int | None:
        index = self._entry_thread(m)
        if index is None:
            return self.rr.choose(m)
        self.k += 1
        self.rr.last = index
        return index

    def observe(self, m: Machine, index: int) -> None:
        """A step chosen by hand: one of the current entry's thread counts toward the entry, as
        if the schedule had chosen it (`u` to the entry's label ends it: the next `s` follows the
        next entry); another thread's leaves the entry waiting."""
        if self._entry_thread(m) == index:
            self.k += 1
        self.rr.last = index

    def _entry_thread(self, m: Machine) -> int | None:
        """The thread the current entry runs next, past the entries that are over (None: none left)."""
        names = {t.name: t for t in m.threads}
        while self.idx < len(self.entries):
            e = self.entries[self.idx]
            t = names[e.thread]
            if t.state != RUNNABLE:
                self._next()
                continue
            if e.until is None:
                if self.k >= e.steps:
                    self._next()
                    continue
            elif e.until != "done" and self.k > 0 and t.pc == e.until:
                self._next()
                continue
            return t.index
        return None

    def _next(self) -> None:
        self.idx += 1
        self.k = 0

    @property
    def state(self) -> Any:
        return (self.idx, self.k, self.rr.last)

    def set_state(self, state: Any) -> None:
        self.idx, self.k, self.rr.last = state

    def summary(self) -> str:
        return f"fixed schedule ({counted(len(self.entries), 'entry', 'entries')}, then round-robin)"

    def describe_next(self, m: Machine) -> str:
        # The current entry may be over (its thread finished or blocked since): choose skips it.
        state = self.state
        try:
            self.choose(m)
            return self.describe()
        finally:
            self.set_state(state)

    def describe(self) -> str:
        e = self.current_entry()
        if e is None:
            return "schedule done; round-robin"
        step = f" ({self.k} of {e.steps})" if e.until is None and e.steps > 1 and self.k else ""
        return f"schedule entry {self.idx + 1}/{len(self.entries)}: {e.text or e.thread}{step}"


class Fixed(Strategy):
    """Exactly these thread indices, in order (for replaying a recorded run)."""

    name = "fixed"

    def __init__(self, choices: Sequence[int]) -> None:
        self.choices = tuple(choices)
        self.i = 0

    def choose(self, m: Machine) -> int | None:
        while self.i < len(self.choices):
            c = self.choices[self.i]
            self.i += 1
            if m.threads[c].state == RUNNABLE:
                return c
        return None

    @property
    def state(self) -> Any:
        return self.i

    def set_state(self, state: Any) -> None:
        self.i = state
