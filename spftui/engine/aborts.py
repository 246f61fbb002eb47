"""Speculative-abort statistics: how many aborts a policy causes, and how many were unnecessary.

Unnecessary aborts (an estimate, not a re-execution without the check)
The simulator cannot re-run a step with its validation skipped, so for
every speculative abort in a random run we compare two outcomes:
  retry  what the real run committed: the faulting address's PTE
         (present? writable?) and the words of the page it maps, taken
         when the fault that aborted returns to user space after its
         classic retry (or the op ends, e.g. SIGSEGV);
  solo   restore the snapshot taken right after the access faulted
         (before the first speculative step), run that thread alone
         until its fault returns, observe the same things.
The abort is *unnecessary* when the solo fault completed speculatively
(no abort of its own) and both outcomes are equal: the interference
that made it abort changed nothing it would have committed. If the solo
fault aborts too, blocks (another thread holds a lock it needs) or runs
too long, the abort counts as necessary ("undetermined" is reported
separately). Page frame numbers and A/D bits are not compared: the
retry may get a different free page. Interference after the retry's
commit can only make the outcomes differ, so the share is a lower
bound. The abort rate is aborts per speculative fault (a fault whose
first step was a speculative one).

Headless: standard library and attrs only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from ..kernel.events import Event, Fault, OpDone, Segv, SpfAbort
from ..kernel.pte import pte_pfn, pte_present, pte_special, pte_write, vpn_of
from ..kernel.state import RUNNABLE
from ..scenario.policies import POLICY

if TYPE_CHECKING:
    from ..kernel.machine import Machine

CLASSIC_ENTRY = POLICY["classic"].entry  # where an aborted fault retries
_USER = ("user:load", "user:store")
SOLO_LIMIT = 2000


@attrs.define
class AbortStats:
    """Speculative faults and aborts seen over a set of random runs."""

    faults: int = 0  # speculative fault entries
    aborts: int = 0
    unnecessary: int = 0
    undetermined: int = 0  # the solo fault blocked or ran too long

    def add(self, o: AbortStats) -> None:
        self.faults += o.faults
        self.aborts += o.aborts
        self.unnecessary += o.unnecessary
        self.undetermined += o.undetermined

    @property
    def rate(self) -> float | None:
        return self.aborts / self.faults if self.faults else None

    @property
    def unnecessary_share(self) -> float | None:
        return self.unnecessary / self.aborts if self.aborts else None

    def to_json(self) -> dict[str, Any]:
        return {
            **attrs.asdict(self),
            "abort_rate": None if self.rate is None else round(self.rate, 4),
            "unnecessary_share": None if self.unnecessary_share is None else round(self.unnecessary_share, 4),
        }


def observe(m: Machine, index: int, addr: int) -> tuple[Any, ...]:
    """What a fault at addr left: PTE kind, writable, page words (not the pfn)."""
    t = m.threads[index]
    mm = m.mms[t.mm]
    pte = m.pte_lookup(mm, vpn_of(addr))
    if pte_present(pte):
        words = (0,) * m.nwords if pte_special(pte) else tuple(m.frames[pte_pfn(pte)].words)
        return ("present", pte_write(pte), words)
    return ("swap",) if pte else ("none",)


def _fault_returned(m: Machine, index: int, events: list[Event]) -> bool:
    t = m.threads[index]
    return t.pc in _USER or any(isinstance(e, OpDone | Segv) and e.thread == t.name for e in events)


def solo(scratch: Machine, snap: tuple[Any, ...], index: int, addr: int) -> tuple[str, tuple[Any, ...] | None]:
    """Run thread `index` alone from `snap` until its fault returns: (how, outcome)."""
    scratch.restore(snap)
    aborted = False
    for _ in range(SOLO_LIMIT):
        if scratch.threads[index].state != RUNNABLE:
            return "blocked", None
        events = scratch.step(index)
        aborted = aborted or any(isinstance(e, SpfAbort) for e in events)
        if _fault_returned(scratch, index, events):
            return ("aborted" if aborted else "speculative"), observe(scratch, index, addr)
    return "too long", None


def count_aborts(
    m: Machine,
    scratch: Machine,
    c: int,
    events: list[Event],
    faults: dict[int, tuple[tuple[Any, ...], int]],
    pending: dict[int, tuple[tuple[Any, ...], int]],
    st: AbortStats,
) -> None:
    """Abort bookkeeping for the step thread `c` just took (see the module docstring)."""
    for e in events:
        if isinstance(e, Fault):
            if m.threads[c].pc != CLASSIC_ENTRY:
                st.faults += 1
                faults[c] = (m.snapshot(), e.addr)
            else:
                faults.pop(c, None)
        elif isinstance(e, SpfAbort):
            st.aborts += 1
            if c in faults:
                pending[c] = faults[c]
    if c in pending and m.threads[c].pc != CLASSIC_ENTRY and _fault_returned(m, c, events):
        snap, addr = pending.pop(c)
        retry = observe(m, c, addr)
        how, alone = solo(scratch, snap, c, addr)
        if how in ("blocked", "too long"):
            st.undetermined += 1
        elif how == "speculative" and alone == retry:
            st.unnecessary += 1
