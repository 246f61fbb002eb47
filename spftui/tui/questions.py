"""What `y` ("why?") asks about the row under the cursor, and the chain it answers with.

A question is a value at a step (an expression for `engine/why.py`, the
same chain `spftui why --at STEP EXPR` prints), optionally headed by the
event that raised it: an abort (its failed check and everything the
compared object went through since the fault sampled it) or a violation
(then the PTE that step installed is the value explained).

A row may hold several values (a frame: its words and counts; a VMA: its
fields; a thread: what its fault sampled): `candidates` lists them and the
user picks one.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple

import attrs

from ..engine.describe import object_path
from ..engine.expr import ExprError, parse
from ..engine.history import in_fault, with_derived
from ..engine.inspect import MachineResolver, show
from ..engine.view import Invalidated, Pte, SpfAbort, Validate, Violation
from ..engine.why import Cause, WhyError, freed_node_causes, why
from . import format as fmt

if TYPE_CHECKING:
    from ..engine.session import Session
    from ..engine.view import Event

_FRAME = re.compile(r"^frame\[(\d+)\]$")
_VMA = re.compile(r"^(\w+)\.vma\[(0x[0-9a-f]+)\]$")
_THREAD = re.compile(r"^(\w+)\.pc$")
VMA_FIELDS = ("vm_flags", "vm_start", "vm_end", "anon_vma", "vm_sequence", "vm_lock_seq")


class Question(NamedTuple):
    """Explain `expr` after `at` steps; `head` comes first (an abort's or a violation's causes)."""

    title: str
    at: int
    expr: str | None
    head: tuple[Cause, ...] = ()


def value(session: Session, expr: str) -> str:
    """`expr` on the current state, as the why chain shows values."""
    try:
        return show(parse(expr).evaluate(MachineResolver(session.machine)))
    except Exception as e:  # an unreadable value is shown as such (a frame not in use)
        return f"<{e}>"


def candidates(session: Session, expr: str) -> list[str]:
    """The values a row's expression stands for (a frame: its words and counts)."""
    m = session.machine
    if match := _FRAME.match(expr):
        pfn = int(match[1])
        if pfn >= len(m.frames):
            return []
        words = [f"frame[{pfn}].words[{w}]" for w in range(len(m.frames[pfn].words))]
        return [*words, f"frame[{pfn}].count", f"frame[{pfn}].mapcount"]
    if match := _VMA.match(expr):
        return [f"{expr}.{f}" for f in VMA_FIELDS]
    if match := _THREAD.match(expr):
        return sampled(session, match[1])
    return [expr]


def sampled(session: Session, thread: str) -> list[str]:
    """What a thread's fault sampled and will validate: its mmap_seq, PTE and VMA."""
    m = session.machine
    t = m.threads[session.names.index(thread)]
    vmf = t.vmf
    addr = vmf.get("addr")
    if addr is None or not in_fault(t):  # between faults: nothing sampled is still to be validated
        return []
    page = addr & ~0xFFF
    out = []
    if "seq" in vmf and vmf.get("mode") == "spf":
        out.append(f"{t.mm}.mmap_seq")
    if "orig_pte" in vmf:
        out.append(f"{t.mm}.pte[{page:#x}]")
    if "pvma" in vmf or "vma" in vmf:
        out += [f"{t.mm}.vma[{page:#x}].vm_flags", f"{t.mm}.vma[{page:#x}].vm_sequence"]
    return out


def expr_of(e: Validate | Invalidated) -> str | None:
    """The expression for what a check compared (None: nothing an expression can read, e.g. a pmd)."""
    if type(e) is not Validate:
        return None
    path = object_path(e.obj, e.mm, e.addr, e.vma)
    if e.obj == "vma":
        return f"{path}.vm_flags"
    if e.obj in ("pmd",):
        return None
    return path


def _written_word(session: Session, step: int) -> str | None:
    """The frame word the step wrote, if it wrote one."""
    before, after = session.timeline.machine_at(step), session.timeline.machine_at(step + 1)
    for f0, f1 in zip(before.frames, after.frames, strict=False):
        for w, (a, b) in enumerate(zip(f0.words, f1.words, strict=False)):
            if a != b:
                return f"frame[{f1.pfn}].words[{w}]"
    return None


def _accessed_pte(session: Session, step: int) -> str | None:
    """The PTE of the address the step's thread was accessing (a violation found at a load or
    store changes no PTE: the chain starts at the PTE the access went through)."""
    t = session.timeline.machine_at(step).threads[session.timeline.thread_at(step)]
    addr = t.vmf.get("addr")
    return None if addr is None else f"{t.mm}.pte[{addr & ~0xFFF:#x}]"


def about_step(session: Session, step: int, events: tuple[Event, ...]) -> Question | None:
    """`y` on a timeline row: its abort or violation, else what it checked, else the PTE it wrote."""
    thread, label = session.step_thread(step), session.step_label(step)
    if not any(e.kind in ("aba", "invalidated") for e in events):
        events = with_derived(session.timeline, step, events)
    at = step + 1
    for e in events:
        if type(e) is SpfAbort:
            head = [Cause(step, thread, label, "abort", e.reason, f"{e.thread} spf abort {e.reason} — {e.detail}", 0)]
            failed = next((v for v in events if type(v) is Validate and not v.ok and v.thread == e.thread), None)
            expr = None
            if failed is not None:
                head.append(Cause(step, thread, label, failed.check, "✗", f"{e.thread} {fmt.check_text(failed)}", 1))
                expr = expr_of(failed)
            for inv in events:
                if type(inv) is Invalidated and inv.thread == e.thread:
                    for k, c in enumerate(inv.changes):
                        verb = "sampled" if k == 0 else "set"
                        text = f"{c.thread} {c.label} {verb} {c.object} = {c.value}"
                        head.append(Cause(c.step - 1, c.thread, c.label, c.object, c.value, text, 2))
            return Question(f"why {e.thread} aborted ({e.reason}) at step {at}", at, expr, tuple(head))
    for e in events:
        if type(e) is Violation:
            pte = next((p for p in reversed(events) if type(p) is Pte), None)
            if pte is not None:
                expr = f"{pte.mm}.pte[{pte.vpn << 12:#x}]"
            elif label == "__access_remote_vm:write":  # through a GUP'd page: the word's chain reaches the GUP
                expr = _written_word(session, step)
            else:  # a load or store: the PTE it went through (a reuse, a stale copy)
                expr = _accessed_pte(session, step)
            text = f"{e.oracle.replace('_', ' ')} — {e.detail}"
            violation = Cause(step, thread, label, e.oracle, "", text, 0)
            title = f"why the {e.oracle.replace('_', ' ')} at step {at}"
            freed = freed_node_causes(session.timeline, step) if e.oracle == "use_after_free" else []
            if freed:  # a maple node (StackRot): the pointer kept, the replacement, the RCU free; no value
                return Question(title, at, None, (violation, *freed))
            return Question(title, at, expr, (violation,))
    for e in events:
        if type(e) is Validate and e.check != "seq_start":
            expr = expr_of(e)
            if expr is not None:
                return Question(f"why {expr} passed {e.check} at step {at}", at, expr)
    for e in events:
        if type(e) is Pte:
            expr = f"{e.mm}.pte[{e.vpn << 12:#x}]"
            return Question(f"why {expr} at step {at}", at, expr)
    return None


def answer(session: Session, q: Question) -> tuple[list[Cause], str]:
    """The causes (the head, then `why`'s chain) and a sentence when the chain cannot be had."""
    if q.expr is None:
        return list(q.head), ""
    try:
        chain = why(session, q.at, q.expr)
    except (ExprError, WhyError) as err:
        return list(q.head), str(err)
    # An abort's head already lists every change of the compared object since the fault sampled
    # it: the chain adds only what those changes did not say (its deeper causes), under the check.
    told = {(c.step, c.what, c.value) for c in q.head}
    shift = 2 if len(q.head) > 1 else 0
    rest = [attrs.evolve(c, depth=c.depth + shift) for c in chain if (c.step, c.what, c.value) not in told]
    return [*q.head, *rest], ""
