"""What a checked value went through since the fault sampled it: ABA and stale snapshots.

The kernel emits `SpecRead` when a fault samples a value (mmap_seq, the VMA
copy, orig_pte, orig_pmd, vm_sequence) and `Validate` when it checks it. This
module derives two more kinds from the recorded events: `Aba` (a check passed
although the object changed and changed back since the sample) and
`Invalidated` (a check failed: every value the object took, and who wrote it).

Why here and not in the machine: a change log in the machine's state would
enter `Machine.snapshot()`, so the explorer's fingerprints (which cover the
whole state but the step counter and the reported set) would tell apart
states that differ only by their history, and its verdict-preserving state
merging would be lost. Deriving from the typed events costs nothing on the
hot path: only a passing or failing check, when asked about (an `aba`
breakpoint, a trace, a report), replays the fault's window — from the
thread's last `user:` step (where the access faulted) or GUP's
`faultin_page:handle_mm_fault` to the check — and only when another thread
ran inside that window.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..kernel.events import Aba, Change, Event, Invalidated, Pte, Seq, SpecRead, SpfAbort, Validate, VmaChange
from ..kernel.pte import PTRS_PER_PTE, format_pte
from ..kernel.state import format_vm_flags
from .describe import object_path, value_text

if TYPE_CHECKING:
    from ..kernel.state import Thread
    from .timeline import Timeline

Key = tuple[str, str, int | None]

GUP_FAULT = "faultin_page:handle_mm_fault"
FAULT_STARTS = ("user:", GUP_FAULT)
"""The steps where a thread's fault window begins: a user access (it faults there), or GUP's
faultin_page calling handle_mm_fault (a GUP thread has no `user:` step, and loops over faults)."""


def starts_fault(label: str) -> bool:
    """Does a step labelled `label` begin its thread's fault window?"""
    return label.startswith(FAULT_STARTS)


def in_fault(t: Thread) -> bool:
    """Is thread `t` inside a fault (up to the caller's unlock after the handler returns), not
    between faults? A fault's `mode` is dropped when it returns, except by GUP, which keeps its
    locals (and `mode`) across the retries of its follow_page / faultin_page loop."""
    mode = t.vmf.get("mode")
    if not t.pc or mode is None:
        return False
    return mode != "gup" or not t.pc.startswith(("__get_user_pages:", "follow_page_pte:", GUP_FAULT))


def key_of(obj: str, mm: str, addr: int, vma: int | None) -> Key:
    """The identity of a sampled object (a PTE by page, a VMA by id, a pmd by index)."""
    if obj == "pte":
        return ("pte", mm, addr >> 12)
    if obj == "pmd":
        return ("pmd", mm, (addr >> 12) // PTRS_PER_PTE)
    if obj == "mmap_seq":
        return ("mmap_seq", mm, None)
    return (obj, mm, vma)  # vma, vm_sequence, vm_lock_seq


def _changed(e: Event) -> tuple[Key, Any, str] | None:
    """(key, comparable value, shown value) of an event that writes a sampled kind of object."""
    if type(e) is Pte:
        return ("pte", e.mm, e.vpn), e.new, format_pte(e.new)
    if type(e) is Seq:
        c = e.counter
        if c == "mmap_seq":
            return ("mmap_seq", e.mm, None), e.new, str(e.new)
        if c.endswith(".vm_sequence"):
            return ("vm_sequence", e.mm, int(c[3 : -len(".vm_sequence")])), e.new, str(e.new)
        return None
    if type(e) is VmaChange:
        if e.action == "vm_flags":
            return ("vma", e.mm, e.vma), e.vm_flags, format_vm_flags(e.vm_flags or 0)
        return ("vma", e.mm, e.vma), e.action, e.action  # a split/merge/detach never compares equal
    return None


def _comparable(obj: str, value: Any) -> Any:
    """The part of a sampled value a later change is compared with (a VMA: its vm_flags)."""
    return value[2] if obj == "vma" and isinstance(value, (tuple, list)) else value


def _shown(obj: str, value: Any) -> str:
    if obj == "vma" and isinstance(value, (tuple, list)):
        return format_vm_flags(value[2])
    return value_text(obj, value)


class _Sample:
    __slots__ = ("changes", "first", "last", "path")

    def __init__(self, path: str, value: Any, change: Change) -> None:
        self.path = path
        self.first = value
        self.last = value
        self.changes = [change]


class HistoryTracker:
    """Fed one step at a time; follows the samples of one thread and the writes to them."""

    def __init__(self, thread: str) -> None:
        self.thread = thread
        self.samples: dict[Key, _Sample] = {}

    def feed(self, step: int, thread: str, label: str, events: Sequence[Event]) -> list[Event]:
        """The Aba / Invalidated events of this step (for checks of `self.thread`)."""
        out: list[Event] = []
        samples = self.samples
        for e in events:
            if type(e) is SpecRead:
                if e.thread == self.thread:
                    path = object_path(e.obj, e.mm, e.addr, e.vma)
                    first = Change(path, step + 1, thread, label, _shown(e.obj, e.value))
                    samples[key_of(e.obj, e.mm, e.addr, e.vma)] = _Sample(path, _comparable(e.obj, e.value), first)
            elif type(e) is Validate:
                if e.thread == self.thread:
                    d = self._checked(e)
                    if d is not None:
                        out.append(d)
            elif type(e) is SpfAbort:
                if e.thread == self.thread:
                    samples.clear()  # the retry samples again
            elif samples:
                ch = _changed(e)
                if ch is not None and ch[0] in samples:
                    s = samples[ch[0]]
                    s.last = ch[1]
                    s.changes.append(Change(s.path, step + 1, thread, label, ch[2]))
        return out

    def _checked(self, e: Validate) -> Event | None:
        s = self.samples.get(key_of(e.obj, e.mm, e.addr, e.vma))
        if s is None or len(s.changes) < 2:
            return None
        if not e.ok:
            return Invalidated(e.thread, e.check, s.path, tuple(s.changes))
        back = [s] + [o for o in self.samples.values() if o is not s and len(o.changes) > 1 and o.last == o.first]
        return Aba(e.thread, e.check, tuple(o.path for o in back), tuple(c for o in back for c in o.changes))


def fault_window(tl: Timeline, step: int, thread: int) -> tuple[int, bool]:
    """(the start of `thread`'s fault attempt that step `step` belongs to, did another thread run since)."""
    others = False
    pos = step - 1
    while pos >= 0:
        if tl.thread_at(pos) == thread:
            if starts_fault(tl.label_at(pos)):
                return pos, others
        else:
            others = True
        pos -= 1
    return 0, others


def checking_threads(events: Sequence[Event]) -> dict[str, None]:
    """The threads whose checks (not the `seq_start` sample) are among `events`, in order:
    the ones whose windows a step's derived events come from."""
    return dict.fromkeys(e.thread for e in events if type(e) is Validate and e.check != "seq_start")


def derived_events(tl: Timeline, step: int, events: Sequence[Event]) -> tuple[Event, ...]:
    """The Aba and Invalidated events of recorded step `step`, whose kernel events are `events`."""
    checking = checking_threads(events)
    if not checking or step >= len(tl):
        return ()
    out: list[Event] = []
    for name in checking:
        idx = tl.names.index(name)
        start, others = fault_window(tl, step, idx)
        if not others:
            continue  # nobody else ran: nothing can have changed
        tracker = HistoryTracker(name)
        found: list[Event] = []
        for pos, _, evs in tl.replay(start, step + 1):
            found = tracker.feed(pos, tl.names[tl.thread_at(pos)], tl.label_at(pos), evs)
        out += found
    return tuple(out)


class Derivation:
    """`derived_events` for consecutive steps (from step 0, or `start`), in one forward pass.

    `derived_events` replays each checking step's window afresh, which on a
    long timeline with many threads is quadratic (a 130-thread trace: 6.8 s).
    This keeps one `HistoryTracker` per thread instead, reset at the thread's
    `user:` step (or GUP's faultin_page) where its window begins, and feeds a step only to the
    trackers it can change: the threads its samples, checks and aborts name,
    and the trackers holding samples. Whether another thread ran inside a
    window is read off the runs of steps (`_others`), not kept per thread.
    The same events as `derived_events`, in the same order (tests compare
    them on every bundled scenario).
    """

    def __init__(self, start: int = 0) -> None:
        """From step `start` on: the derived events of a step are right when the
        window of every check it makes begins at or after `start` (a window is
        never read before its own start, `starts_fault`), so a reader that wants a few
        steps starts at their earliest window (`windows_start`)."""
        self.trackers: dict[str, HistoryTracker] = {}
        self.window: dict[str, int] = {}  # thread -> the step its window starts at (-1: none yet, from 0)
        self.pos = start  # the next step to feed
        self._prev = ""  # the thread of the step before `pos`
        self._run = 0  # where the run of `_prev`'s consecutive steps began

    def feed(self, thread: str, label: str, events: Sequence[Event]) -> tuple[Event, ...]:
        """The derived events of the next step (`self.pos`), run by `thread`."""
        step = self.pos
        trackers = self.trackers
        named = [e.thread for e in events if isinstance(e, _OWN)]
        checking = checking_threads(events)
        fed = [t for t in dict.fromkeys(named) if t not in trackers or not trackers[t].samples]
        fed += [t for t, tr in trackers.items() if tr.samples]
        found: dict[str, list[Event]] = {}
        for t in fed:
            tracker = trackers.get(t)
            if tracker is None:
                tracker = trackers[t] = HistoryTracker(t)
            out = tracker.feed(step, thread, label, events)
            if out and t in checking and self._others(t, step):
                found[t] = out
        if starts_fault(label):  # a new fault: its window starts here (this step included)
            fresh = trackers[thread] = HistoryTracker(thread)
            fresh.feed(step, thread, label, events)
            self.window[thread] = step
        if thread != self._prev:
            self._prev, self._run = thread, step
        self.pos = step + 1
        return tuple(d for t in checking for d in found.get(t, ()))

    def _others(self, t: str, step: int) -> bool:
        """Did a thread other than `t` run strictly between `t`'s window start and `step`?"""
        start = self.window.get(t, -1)
        if step - 1 <= start:
            return False
        if self._prev != t:  # (the step before this one)
            return True
        return self._run - 1 > start  # the step before `t`'s current run is another thread's

    def along(self, tl: Timeline, end: int) -> Iterator[tuple[int, tuple[Event, ...], tuple[Event, ...]]]:
        """(step, its events, its derived events) for the recorded steps from `self.pos` to `end`."""
        for pos, _, events in tl.replay(self.pos, end):
            yield pos, events, self.feed(tl.names[tl.thread_at(pos)], tl.label_at(pos), events)


def windows_start(tl: Timeline, steps: Iterable[tuple[int, Sequence[Event]]]) -> int:
    """The earliest step where a window of a check among `steps` ((step, its
    kernel events) pairs) begins: where a `Derivation` for them may start."""
    begin: int | None = None
    for step, events in steps:
        begin = step if begin is None else min(begin, step)
        for name in checking_threads(events):
            begin = min(begin, fault_window(tl, step, tl.names.index(name))[0])
    return 0 if begin is None else begin


_OWN = (SpecRead, Validate, SpfAbort)  # the event types a tracker takes only from its own thread


def with_derived(tl: Timeline, step: int, events: Sequence[Event]) -> tuple[Event, ...]:
    """A recorded step's kernel events followed by its derived ones."""
    return (*events, *derived_events(tl, step, events))
