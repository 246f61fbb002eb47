"""Backward dataflow: why does a value have the value it has at a step?

`why(session_or_timeline, at, expr)` answers with a numbered chain of
`Cause`s: the step that last wrote the value (found by replaying the
timeline and evaluating `expr` after every step), then the earlier causes
the kernel's data flow implies:

- a frame word written by `wp_page_copy:copy` came from the old page's word
  (cow_user_page reads it without a lock): the chain follows that word, and
  says when it changed after the copy (the copy was stale);
- a PTE that do_wp_page (or do_swap_page) reused or copied: its `decision`
  (the counts the reuse rule read), and for a reuse the step that left the
  mapcount it read (the seed race's munmap);
- a store through a TLB entry the PTE no longer agrees with: the entry, the
  step that changed the PTE, and the flush that came after the store;
- a write through a GUP'd page: the GUP, its faultin_page decisions and the
  PTE it took the page from; a PTE a fault installed: what it found there;
- a PTE installed by `wp_page_copy:pte_same` was allowed by the fault's
  checks: each `validate` event, and the `aba` history when one passed by ABA;
  and the write faulted because the PTE was write-protected: the step that
  made it so (fork's copy_pte_range, mprotect, ...) is named too, after the
  step the fault sampled the PTE (its orig_pte) when it was written since;
- a thread's local (`A1.vmf.orig_pte`, `A1.new_page`) reads as the trace writes
  it, "unset" before it was set; a sampled one (orig_pte, pvma, pmd, seq) names
  the shared value it was read from and follows it; `A1.vmf` as a whole names
  the fault (or op) that set it up and the step that set each field;
- a sequence count is the sum of its writers: each earlier bump is listed;
- any other write names the op its thread was running.

The engine part is this module (the CLI's `spftui why` and the TUI's `y`
key read it); it never changes the session.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from ..kernel.events import (
    MAPLE_NODE,
    Aba,
    Decision,
    Flush,
    Invalidated,
    OpDone,
    OpStart,
    RcuFree,
    SpecRead,
    SpfAbort,
    Validate,
)
from ..kernel.pte import pte_pfn, pte_present, pte_write
from .describe import format_event, local_text, object_path, validation_text, value_text
from .expr import Expr, parse
from .history import Derivation
from .inspect import Locals, MachineResolver, Names, check_names, local_of, show

if TYPE_CHECKING:
    from .session import Session
    from .timeline import Timeline

MAX_CAUSES = 40
_FRAME_WORD = re.compile(r"^frame\[(\w+)\]\.words\[(\w+)\]$")
_PTE_HISTORY = 3  # how deep a chain goes back through a PTE's earlier faults (not every fault since the start)
_COW_INSTALLS = ("wp_page_reuse:set_pte", "wp_page_copy:pte_same")  # a write fault on a write-protected PTE
_FAULT_INSTALLS = (*_COW_INSTALLS, "finish_fault:set_pte", "do_anonymous_page:set_pte", "do_swap_page:set_pte")
_SEQS = ("mmap_seq", "mm_lock_seq", "vm_sequence", "vm_lock_seq")
_MAS_WALK = "find_vma_prev:mas_walk"  # (kernel/stack.py: the step that keeps a maple node pointer)
# Locals the model keeps only to take a kernel loop one step at a time: `word` is
# cow_user_page's copy counter (the kernel's struct vm_fault has no such field). A
# "what changed in A1.vmf" report skips them: every copy step would name them.
_BOOKKEEPING = frozenset({"word"})
# The locals a fault fills by sampling shared state (each sample is a SpecRead event
# of the same step): which event objects each was read from.
_SAMPLED = {
    "orig_pte": ("pte",),
    "pvma": ("vma",),
    "pmd": ("pmd",),
    "seq": ("mmap_seq", "vm_sequence", "mm_lock_seq", "vm_lock_seq"),
}


@attrs.frozen
class Cause:
    """One link of the chain.

    step   the 0-based step that made it (-1: the scenario's initial state)
    thread, label  who ran that step, and which
    what   the value it explains (an expression, or an event's sentence)
    value  that value after the step, as shown
    text   one sentence
    depth  0 for the value asked about, 1 for its causes, …
    """

    step: int
    thread: str
    label: str
    what: str
    value: str
    text: str
    depth: int


@attrs.frozen
class _Change:
    step: int
    old: str
    new: str
    old_value: object = None
    new_value: object = None


def _function(label: str) -> str:
    """The kernel function a step label names (`do_wp_page:reuse_check` → `do_wp_page`)."""
    return label.split(":", 1)[0]


class WhyError(Exception):
    """The expression cannot be evaluated at that step."""


@attrs.frozen
class _Unreadable:
    """An unreadable value is a value too (e.g. a frame not yet allocated)."""

    why: str


def _read(expr: Expr, m: Any) -> object:
    try:
        return expr.evaluate(MachineResolver(m))
    except Exception as e:
        return _Unreadable(str(e))


def _shown(v: object) -> str:
    return f"<{v.why}>" if isinstance(v, _Unreadable) else show(v)


def _value(expr: Expr, m: Any) -> str:
    return _shown(_read(expr, m))


def _locals_changed(old: object, new: object) -> str | None:
    """What a step did to a thread's locals, field by field (`page=pfn 1, seq 0 → 2`), or None
    when `old`/`new` are not both locals."""
    if not isinstance(old, Locals) or not isinstance(new, Locals):
        return None
    if old and not new:
        return "its op returned, dropping its locals"
    parts = [
        f"{k}={local_text(k, v, new)}"
        if k not in old
        else f"{k} {local_text(k, old[k], old)} → {local_text(k, v, new)}"
        for k, v in new.items()
        if (k not in old or old[k] != v) and k not in _BOOKKEEPING
    ]
    parts += [f"{k} dropped" for k in old if k not in new and k not in _BOOKKEEPING]
    return ", ".join(parts)


def _in_fault(vmf: object) -> bool:
    """Are these locals a fault's (a struct vm_fault: the fault entry sets `mode`), not an op's?"""
    return isinstance(vmf, dict) and "mode" in vmf


def _copied_into(m: Any, thread: int, target: tuple[int, int]) -> bool:
    """Did the step just taken by `thread` (m is after it) copy a word into frame word `target`?"""
    if m.last_label != "wp_page_copy:copy":
        return False
    vmf = m.threads[thread].vmf
    return bool(vmf.get("new_page") == target[0] and vmf.get("word", m.nwords) - 1 == target[1])


class _Why:
    def __init__(self, tl: Timeline) -> None:
        self.tl = tl
        self.out: list[Cause] = []
        self.ops: list[str] | None = None  # per step: the op its thread was running
        self.top = len(tl)  # the step asked about: "since the start" is said only of a value unchanged up to it

    def _op_of(self, step: int) -> str:
        if self.ops is None:
            current: dict[str, str] = {}
            ops: list[str] = []
            for pos, _, events in self.tl.replay(0, len(self.tl)):
                thread = self.tl.names[self.tl.thread_at(pos)]
                for e in events:
                    if type(e) is OpStart:
                        current[e.thread] = e.op
                ops.append(current.get(thread, ""))
            self.ops = ops
        return self.ops[step] if 0 <= step < len(self.ops) else ""

    def _doer(self, step: int) -> str:
        """`A2 wp_page_reuse:set_pte in `write 0x10400 42``: who ran the step, in which op."""
        tl = self.tl
        op = self._op_of(step)
        return f"{tl.names[tl.thread_at(step)]} {tl.label_at(step)}" + (f" in `{op}`" if op else "")

    def _shower(self, expr: Expr) -> Callable[[object, Any], str]:
        """How a value of `expr` is shown (given the machine it was read on): a thread local as
        the trace writes it (`pfn 1 RO A D`, `pfn 2`) and "unset" while the thread has not set it."""
        local = local_of(expr, self.tl.names)
        if local is None:
            return lambda v, m: _shown(v)
        idx, key = self.tl.names.index(local[0]), local[1]

        def shown(v: object, m: Any) -> str:
            if isinstance(v, _Unreadable):
                return "unset"
            return _shown(v) if key is None else local_text(key, v, m.threads[idx].vmf)

        return shown

    def history(self, expr: Expr, at: int) -> tuple[str, list[_Change]]:
        """The value after `at` steps, and every write before it: each change, and each
        cow_user_page copy into a frame word (which may store the value it already had)."""
        tl = self.tl
        shown = self._shower(expr)
        m0 = tl.machine_at(0)
        prev = _read(expr, m0)
        prev_text = shown(prev, m0)
        word = _FRAME_WORD.match(expr.source)
        target = (int(word[1], 0), int(word[2], 0)) if word else None
        changes: list[_Change] = []
        # compare values, not their text: a long value's text is cut, and a change past the cut was missed
        for pos, m, _ in tl.replay(0, at):
            v = _read(expr, m)
            if v != prev or (target is not None and _copied_into(m, tl.thread_at(pos), target)):
                text = shown(v, m)
                changes.append(_Change(pos, prev_text, text, prev, v))
                prev, prev_text = v, text
        return prev_text, changes

    def add(self, step: int, what: str, value: str, text: str, depth: int) -> None:
        tl = self.tl
        if len(self.out) >= MAX_CAUSES:
            return
        thread = tl.names[tl.thread_at(step)] if step >= 0 else ""
        label = tl.label_at(step) if step >= 0 else ""
        self.out.append(Cause(step, thread, label, what, value, text, depth))

    def explain(self, expr: Expr, at: int, depth: int, lead: str = "") -> None:
        value, changes = self.history(expr, at)
        what = expr.source
        if not changes:
            # (a cause explains a value at an earlier step: it may have changed after that)
            since = (
                "since the start" if at >= self.top else f"from the start through step {at}" if at else "at the start"
            )
            self.add(-1, what, value, f"{lead}{what} = {value} {since} (the scenario's initial state)", depth)
            return
        tl = self.tl
        local = local_of(expr, tl.names)
        if local is not None and local[1] is None and changes[-1].new_value:
            self._locals(local[0], what, changes, depth, lead)
            return
        last = changes[-1]
        thread, label = tl.names[tl.thread_at(last.step)], tl.label_at(last.step)
        # A step writes a value; an expression worked out of values (`A.mmap_seq + 1`,
        # a comparison) is not what it wrote, only what its write changed.
        verb = "set" if expr.single else "changed"
        fields = _locals_changed(last.old_value, last.new_value)
        if fields is not None:  # `A1.vmf`: the fields the step set, not the whole before and after
            now = f"; now {last.new}" if last.new_value else ""
            text = f"{lead}{self._doer(last.step)} {verb} {what}: {fields}{now}"
        else:
            text = f"{lead}{self._doer(last.step)} {verb} {what}: {last.old} → {last.new}"
        self.add(last.step, what, last.new, text, depth)
        word = _FRAME_WORD.match(what)
        if local is not None and local[1] is not None and not isinstance(last.new_value, _Unreadable):
            self._local_causes(local[0], local[1], last.step, depth + 1, follow=True)
        elif word and label == "wp_page_copy:copy":
            self._copied_from(last.step, at, depth + 1)
        elif word and label == "__access_remote_vm:write":
            self._through_gup(last.step, thread, depth + 1)
        elif word:
            self._stale_tlb(last.step, depth + 1)
        elif ".pte[" in what and label in _FAULT_INSTALLS:
            # the fault's checks (a COW copy) or its reuse decision, then why it faulted at all
            copying = label == "wp_page_copy:pte_same"
            start = (self._checks_of if copying else self._decision_of)(last.step, thread, depth + 1)
            if depth < _PTE_HISTORY and what.endswith("]"):
                found = "write-protected" if label in _COW_INSTALLS else last.old
                sampled = self._sample_of(thread, what, start, last.step)
                written = [c for c in changes if sampled is not None and sampled < c.step < last.step]
                if sampled is None or not written:
                    self.explain(
                        expr, start if sampled is None else sampled, depth + 1, f"the fault found it {found}: "
                    )
                    return
                # written between the fault's read (its orig_pte) and its commit: say so, then why it read what it did
                seen = _shown(_read(expr, tl.machine_at(sampled)))
                writes = ", ".join(f"{c.step + 1} (→ {c.new})" for c in written)
                aba = " — back to the value it sampled (ABA)" if written[-1].new == seen else ""
                text = (
                    f"{thread}'s fault sampled {what} at step {sampled + 1} (its orig_pte): {seen}; "
                    f"since then written at step{'s' if len(written) > 1 else ''} {writes}{aba}"
                )
                self.add(sampled, what, seen, text, depth + 1)
                self.explain(expr, sampled, depth + 2, f"the fault found it {found}: ")
        elif ".pte[" in what and label == "try_to_unmap_one:unmap":
            # reclaim: its decision on the page (a lazyfree page discarded, with the counts it read), then
            # the PTE it found (clean: MADV_FREE made it so, and nothing wrote the page since)
            for pos, _, evs in tl.replay(last.step, last.step + 1):
                for d in evs:
                    if type(d) is Decision and d.thread == thread:
                        self.add(pos, _function(label), d.what, format_event(d), depth + 1)
                        if d.what == "discard" and d.pfn is not None:
                            self._written_after_discard(d.pfn, pos, at, depth + 2)
            if depth < _PTE_HISTORY:
                self.explain(expr, last.step, depth + 1, "the PTE reclaim found: ")
        elif what.endswith(_SEQS):
            for c in reversed(changes[:-1]):
                self.add(
                    c.step, what, c.new, f"earlier: {self._doer(c.step)} {verb} {what}: {c.old} → {c.new}", depth + 1
                )

    def _written_after_discard(self, pfn: int, discard: int, at: int, depth: int) -> None:
        """Writes into a page reclaim discarded (a pin's, as direct IO's): no PTE maps it any
        more, so no later read sees them (the MADV_FREE race of 6c8e2a256915)."""
        _, changes = self.history(parse(f"frame[{pfn}].words"), at)
        for c in [c for c in changes if c.step > discard][:3]:
            thread = self.tl.names[self.tl.thread_at(c.step)]
            self.add(
                c.step,
                f"frame[{pfn}].words",
                c.new,
                f"after the discard, {self._doer(c.step)} wrote pfn {pfn}: {c.old} → {c.new}; "
                "no PTE maps the page any more, so no read sees it",
                depth,
            )
            if self.tl.label_at(c.step) == "__access_remote_vm:write":
                self._through_gup(c.step, thread, depth + 1)

    def _sample_of(self, thread: str, path: str, start: int, step: int) -> int | None:
        """The last step in [start, step) where `thread` sampled `path` (a SpecRead), or None."""
        found = None
        for pos, _, evs in self.tl.replay(start, step):
            if any(
                type(e) is SpecRead and e.thread == thread and object_path(e.obj, e.mm, e.addr, e.vma) == path
                for e in evs
            ):
                found = pos
        return found

    def _locals(self, thread: str, what: str, changes: list[_Change], depth: int, lead: str) -> None:
        """`A1.vmf` as a whole: the step that set the locals up (the fault's entry, or the op's
        start), then the step that set each field to its value now, with where a sampled one came from."""
        now = changes[-1].new_value
        assert isinstance(now, dict)
        fault = _in_fault(now)
        setup = 0  # the last change that began these locals: out of none (an op starts), or into a fault
        for i, c in enumerate(changes):
            old = c.old_value if isinstance(c.old_value, dict) else {}
            if not old or (fault and not _in_fault(old)):
                setup = i
        steps: dict[int, list[str]] = {}
        for key in now:
            if key in _BOOKKEEPING:
                continue
            step = changes[setup].step
            for c in reversed(changes[setup:]):
                old = c.old_value if isinstance(c.old_value, dict) else {}
                new = c.new_value if isinstance(c.new_value, dict) else {}
                if key in new and (key not in old or old[key] != new[key]):
                    step = c.step
                    break
            steps.setdefault(step, []).append(key)
        first = changes[setup].step
        shown = ", ".join(f"{k}={local_text(k, now[k], now)}" for k in steps.get(first, []))
        if fault:
            kind = f"{what} is the locals of the fault it entered (its struct vm_fault)"
        else:
            kind = f"{what} is {thread}'s locals for it (not a fault: no struct vm_fault)"
        whole = ", ".join(f"{k}={local_text(k, v, now)}" for k, v in now.items() if k not in _BOOKKEEPING)
        self.add(first, what, whole, f"{lead}{self._doer(first)}: {kind}; set up with {shown or 'nothing'}", depth)
        for key in steps.get(first, []):
            self._local_causes(thread, key, first, depth + 1, follow=False)
        for step in sorted(steps):
            if step == first:
                continue
            keys = steps[step]
            text = ", ".join(f"{k}={local_text(k, now[k], now)}" for k in keys)
            paths = ", ".join(f"{thread}.vmf.{k}" for k in keys)
            self.add(step, paths, text, f"{self._doer(step)} set {text}", depth + 1)
            for key in keys:
                self._local_causes(thread, key, step, depth + 2, follow=False)

    def _local_causes(self, thread: str, key: str, step: int, depth: int, follow: bool) -> None:
        """Where a local set at `step` came from: the shared value it sampled (and, `follow`ing
        or not, why that had its value), or for `page` the PTE (orig_pte) it is the page of."""
        tl = self.tl
        objs = _SAMPLED.get(key, ())
        for _, _, evs in tl.replay(step, step + 1):
            for e in evs:
                if type(e) is SpecRead and e.thread == thread and e.obj in objs:
                    path = object_path(e.obj, e.mm, e.addr, e.vma)
                    seen = value_text(e.obj, e.value)
                    self.add(step, path, seen, f"{thread} sampled {key} from {path} = {seen}", depth)
                    if e.obj != "pmd":  # (no expression reads a pmd)
                        self.explain(parse(path), step, depth + 1, "the value it sampled: ")
        if key == "page":
            vmf = tl.machine_at(step + 1).threads[tl.names.index(thread)].vmf
            orig = vmf.get("orig_pte")
            if isinstance(orig, int) and pte_present(orig) and pte_pfn(orig) == vmf.get("page"):
                text = f"vm_normal_page: the page {thread}.vmf.orig_pte ({local_text('orig_pte', orig, vmf)}) maps"
                self.add(step, f"{thread}.vmf.orig_pte", local_text("orig_pte", orig, vmf), text, depth)
                if follow:
                    self.explain(parse(f"{thread}.vmf.orig_pte"), step, depth + 1)

    def _copied_from(self, step: int, at: int, depth: int) -> None:
        """cow_user_page copied this word from the old page: follow that word."""
        m = self.tl.machine_at(step)  # before the copy step
        t = m.threads[self.tl.thread_at(step)]
        page, word = t.vmf.get("page"), t.vmf.get("word")
        if page is None or word is None:
            return
        src = parse(f"frame[{page}].words[{word}]")
        self.add(step, src.source, _value(src, m), f"the copy read {src.source} (no lock held: it can be stale)", depth)
        self.explain(src, step, depth + 1)  # (what it read, under the read: before the stores it missed)
        idx = self.tl.thread_at(step)
        _, later = self.history(src, min(at, self._commit_after(step, idx)))
        for c in later:
            if c.step > step and self._same_mm(c.step, idx):
                self.add(
                    c.step, src.source, c.new,
                    f"after the copy, {self._doer(c.step)} set {src.source}: {c.old} → {c.new} — the copy missed it",
                    depth,
                )  # fmt: skip
                self._stale_tlb(c.step, depth + 1)

    def _stale_tlb(self, step: int, depth: int) -> None:
        """If step is a store that hit a TLB entry the PTE no longer agrees with (a flush
        still to come): which entry, what the PTE says instead and who changed it, and the flush."""
        tl = self.tl
        op = self._op_of(step).split()
        if tl.label_at(step) != "user:store" or len(op) < 2 or op[0] != "write":
            return
        addr = int(op[1], 0)
        m = tl.machine_at(step)  # before the store
        idx = tl.thread_at(step)
        thread, mm, vpn = tl.names[idx], m.threads[idx].mm, addr >> 12
        entry = m.tlbs[idx].get((mm, vpn))
        if entry is None:
            return
        pfn, writable = entry
        pte = m.pte_lookup(m.mms[mm], vpn)
        if pte_present(pte) and pte_pfn(pte) == pfn and (pte_write(pte) or not writable):
            return  # the entry agrees with the PTE
        path = f"{mm}.pte[{addr & ~0xFFF:#x}]"
        mode = "writable" if writable else "read-only"
        self.add(step, "tlb", "", f"{thread}'s store hit its TLB entry (pfn {pfn}, {mode}): stale", depth)
        self.explain(parse(path), step, depth + 1, "the PTE it no longer matches: ")
        for pos, _, evs in tl.replay(step + 1, len(tl)):
            if any(type(e) is Flush and e.mm == mm and e.start_vpn <= vpn < e.end_vpn for e in evs):
                who = f"{tl.names[tl.thread_at(pos)]} {tl.label_at(pos)}"
                self.add(pos, "tlb", "", f"the flush that drops the entry comes after the store: {who}", depth + 1)
                break

    def _fault_start(self, step: int, thread: str) -> int:
        """The first step of the fault `step` belongs to: a user access, or GUP's faultin_page."""
        tl = self.tl
        idx = tl.names.index(thread)
        for pos in range(step - 1, -1, -1):
            if tl.thread_at(pos) == idx and tl.label_at(pos).startswith(("user:", "faultin_page:handle_mm_fault")):
                return pos
        return 0

    def _through_gup(self, step: int, thread: str, depth: int) -> None:
        """A write through a page GUP returned: which GUP, what it decided on the way
        (faultin_page's FOLL_WRITE), and the PTE it took the page from."""
        tl = self.tl
        done: tuple[int, OpDone] | None = None
        begun = 0
        decisions: list[tuple[int, Decision]] = []
        for pos, _, evs in tl.replay(0, step):
            for e in evs:
                if type(e) is OpStart and e.thread == thread and e.op.startswith("gup "):
                    begun, decisions = pos, []
                elif type(e) is Decision and e.thread == thread:
                    decisions.append((pos, e))
                elif type(e) is OpDone and e.thread == thread and e.op.startswith("gup "):
                    done = (pos, e)
        if done is None:
            return
        pos, e = done
        self.add(pos, "gup", "", f"the page is the one `{e.op}` returned: {e.result}", depth)
        for p, d in decisions:
            if p >= begun:
                self.add(p, _function(tl.label_at(p)), d.what, format_event(d), depth + 1)
        m = tl.machine_at(pos)
        addr = int(e.op.split()[1], 0)
        pte = parse(f"{m.threads[tl.names.index(thread)].mm}.pte[{addr & ~0xFFF:#x}]")
        self.explain(pte, pos, depth + 1, "follow_page_pte took the page from the PTE: ")

    def _attempt_start(self, step: int, thread: str, depth: int) -> int:
        """The first step of the attempt of the fault `step` commits: after the last abort of a
        speculative (or VMA-locked) attempt, which is named with its reason, since the retry
        under mmap_lock decided and checked everything again."""
        tl = self.tl
        start = self._fault_start(step, thread)
        for pos, _, evs in tl.replay(start, step):
            for e in evs:
                if type(e) is SpfAbort and e.thread == thread:
                    self.add(
                        pos,
                        "spf_abort",
                        e.reason,
                        f"an earlier attempt of {thread}'s fault aborted: {e.reason} at {e.label} ({e.detail}); "
                        "the fault began again under mmap_lock",
                        depth,
                    )
                    start = pos + 1
        return start

    def _decision_of(self, step: int, thread: str, depth: int) -> int:
        """do_wp_page's reuse-or-copy decision in this fault's attempt, with the counts it read."""
        tl = self.tl
        start = self._attempt_start(step, thread, depth)
        found: list[tuple[int, Decision]] = []
        for pos, _, evs in tl.replay(start, step + 1):
            found += [(pos, e) for e in evs if type(e) is Decision and e.thread == thread]
        for pos, e in found:
            self.add(pos, _function(tl.label_at(pos)), e.what, format_event(e), depth)
            if e.what == "reuse" and e.pfn is not None and depth < _PTE_HISTORY:
                # what the reuse rule read (the GUP-after-fork leak's munmap left the mapcount)
                read, field = _rule_read(e.detail)
                if field:
                    self.explain(parse(f"frame[{e.pfn}].{field}"), pos, depth + 1, f"the {read} it read: ")
        return start

    def _commit_after(self, step: int, idx: int) -> int:
        """The step at which the COW fault copying at `step` (by thread `idx`) installs its copy
        (wp_page_copy:pte_same), or the timeline's end: a store after it is not the copy's to see."""
        tl = self.tl
        for pos in range(step + 1, len(tl)):
            if tl.thread_at(pos) == idx and tl.label_at(pos) == "wp_page_copy:pte_same":
                return pos
        return len(tl)

    def _same_mm(self, step: int, idx: int) -> bool:
        """Did the thread of `step` run in thread `idx`'s process? Only its stores are ones a
        COW copy for that process "missed": another process's are isolated from it by design."""
        threads = self.tl.machine_at(0).threads
        return bool(threads[self.tl.thread_at(step)].mm == threads[idx].mm)

    def _checks_of(self, step: int, thread: str, depth: int) -> int:
        """The checks that let the COW commit (each validate of the fault, and any ABA),
        and what the copy it installed missed. Returns the fault's first step."""
        tl = self.tl
        start = self._decision_of(step, thread, depth)
        self._copy_of(start, step, thread, depth)
        # one forward pass from step 0 (a window replay per step of this window was quadratic)
        for pos, evs, derived in Derivation().along(tl, step + 1):
            if pos < start:
                continue
            for e in evs:
                if type(e) is Validate and e.thread == thread and e.check != "seq_start":
                    self.add(pos, e.check, "✓" if e.ok else "✗", f"{thread} {validation_text(e)}", depth)
            for d in derived:
                if isinstance(d, Aba | Invalidated) and d.thread == thread:  # (not another fault's, in this window)
                    self.add(pos, d.kind, "", format_event(d), depth + 1)
        return start

    def _copy_of(self, start: int, step: int, thread: str, depth: int) -> None:
        tl = self.tl
        idx = tl.names.index(thread)
        copies = [p for p in range(start, step) if tl.thread_at(p) == idx and tl.label_at(p) == "wp_page_copy:copy"]
        m = tl.machine_at(step)  # just before the commit
        vmf = m.threads[idx].vmf
        old, new = vmf.get("page"), vmf.get("new_page")
        if not copies or old is None or new is None:
            return
        steps = ", ".join(str(c + 1) for c in copies)  # 1-based, as everywhere
        self.add(copies[-1], f"frame[{new}]", "", f"pfn {new} is the copy of pfn {old} made at steps {steps}", depth)
        for w, p in enumerate(copies[: m.nwords]):
            src = parse(f"frame[{old}].words[{w}]")
            for c in self.history(src, step)[1]:
                if c.step > p and self._same_mm(c.step, idx):
                    self.add(
                        c.step, src.source, c.new,
                        f"after the copy (step {p + 1}), {self._doer(c.step)} set {src.source}: {c.old} → {c.new}"
                        " — the copy missed it",
                        depth + 1,
                    )  # fmt: skip
                    self._stale_tlb(c.step, depth + 2)


def freed_node_causes(tl: Timeline, step: int) -> list[Cause]:
    """Why the maple node read at `step` (find_vma_prev:mas_prev, a use-after-free) was freed:
    where its thread kept the pointer without rcu_read_lock (mas_walk), the expansion that
    replaced the node and under which mmap lock, and the RCU callback that freed it (StackRot).
    Empty when `step` reads no node its thread kept."""
    idx = tl.thread_at(step)
    thread = tl.names[idx]
    walk = next((p for p in range(step - 1, -1, -1) if tl.thread_at(p) == idx and tl.label_at(p) == _MAS_WALK), None)
    if walk is None:
        return []
    mm = tl.machine_at(0).threads[idx].mm
    node = tl.machine_at(walk + 1).threads[idx].vmf.get("mt_node")  # (the pointer mas_walk kept)
    if node is None:
        return []
    out: list[Cause] = []
    live = True
    expanding: dict[str, Cause] = {}  # per thread: its fault's decision to expand, and under which lock
    for pos, m, evs in tl.replay(walk, step):  # (m: the state after step pos)
        who, label = tl.names[tl.thread_at(pos)], tl.label_at(pos)
        replaced = live and m.mms[mm].maple[node] != "live"
        live = live and not replaced
        for e in evs:
            if type(e) is Decision and pos == walk and e.thread == thread:
                out.append(Cause(pos, who, label, "mas_walk", str(node), f"{thread} {e.detail}", 1))
            elif type(e) is Decision and e.what == "expand_stack":
                expanding[e.thread] = Cause(pos, who, label, "expand_stack", "", f"{who} {e.detail}", 2)
            elif type(e) is Decision and e.what == "maple" and replaced:
                out.append(Cause(pos, who, label, "mas_replace", str(node), f"{who} {e.detail}", 1))
                if e.thread in expanding:
                    out.append(expanding.pop(e.thread))
            elif type(e) is RcuFree and e.what == MAPLE_NODE + mm and e.id == node:
                text = (
                    f"{format_event(e)}: the grace period did not wait for {thread}, which holds the node "
                    "outside rcu_read_lock (only the mmap read lock)"
                )
                out.append(Cause(pos, who, label, "rcu_free", str(node), text, 1))
    return out


def _rule_read(detail: str) -> tuple[str, str]:
    """What a reuse decision read, by its rule (kernel/wp.py `_what_decides`, do_swap_page):
    (the name it is said by, the frame's field), or ("", "") when it read no count."""
    if "the mapcount rule" in detail or "reuse_swap_page" in detail:
        return "mapcount", "mapcount"
    if "page_count" in detail:
        return "page_count", "count"
    return "", ""  # PageAnonExclusive set: the flag, no count


def why(source: Session | Timeline, at: int, expr: str | Expr) -> list[Cause]:
    """The chain of causes of `expr`'s value after `at` steps (0 = the start).

    Raises ExprError when `expr` does not parse, WhyError when it cannot be
    read at that step.
    """
    from .session import Session

    tl = source.timeline if isinstance(source, Session) else source
    at = max(0, min(at, len(tl)))
    e = parse(expr) if isinstance(expr, str) else expr
    check_names(e, Names.of(tl.scenario))  # as a watch's: `A1.sate`, `frame[-1]`, a bare `A` are refused
    m = tl.machine_at(at)
    now = _value(e, m)
    local = local_of(e, tl.names)
    if now.startswith("<") and local is not None and local[1] is not None:
        held = show(Locals(m.threads[tl.names.index(local[0])].vmf))
        raise WhyError(f"{e.source} is not set at step {at} ({local[0]}'s locals then: {held})")
    if now.startswith("<"):
        raise WhyError(f"{e.source} cannot be read at step {at}: {now[1:-1]}")
    w = _Why(tl)
    w.top = at
    w.explain(e, at, 0)
    return w.out
