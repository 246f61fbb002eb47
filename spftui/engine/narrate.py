"""Counterexamples and results: what the explorer hands back, and the
paragraph that tells a counterexample.

`Result` is one scenario under one policy: a verdict per oracle kind, the
search's size and whether it was complete, and a `Counterexample` per kind
found (exact per-thread step counts that `Replay` reproduces, the violating
step, its preemptions). `narrate` turns a counterexample into one paragraph:
the run is replayed on a fresh machine; consecutive steps of one thread form
a segment; each step contributes short phrases taken from its events
(`op_start`, `fault`, `spf_abort`, `pte`, `cow`, `alloc`, `violation`, ...)
and, for the steps whose effect is a sampled value, from its label and the
thread's fault locals ("samples mmap_seq 0", "reads orig_pte pfn 1 RO A D").
Repeated phrases collapse ("copies pfn 1 into pfn 2 (4 steps)"). Segments
are joined with semicolons; the violation ends the paragraph.

Headless: standard library and attrs only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from ..kernel.events import (
    Alloc,
    Block,
    Cow,
    Decision,
    Event,
    Fault,
    Fork,
    Free,
    OpDone,
    OpStart,
    Pte,
    RcuFree,
    Segv,
    Seq,
    SpfAbort,
    Swap,
    Validate,
    Violation,
    VmaChange,
    Wake,
)
from ..kernel.pte import format_pte
from ..kernel.state import format_vm_flags
from .describe import decision_short, format_event
from .user_oracles import build_machine

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..kernel.machine import Machine
    from ..scenario.model import Scenario

from ..scenario.model import ORACLE_KINDS, ScheduleEntry

_VALIDATE = ("pte_map_lock:seq_check", "pte_map_lock:trylock", "pte_map_lock:seq_recheck")
_WALKS = ("__handle_mm_fault:spf_walk", "__handle_mm_fault:walk", "handle_speculative_fault:walk")


def replay_steps(sc: Scenario, choices: Sequence[int]) -> list[tuple[str, str, list[Event], dict[str, Any], str]]:
    """(thread, label, events, the thread's locals and next label after the step) per step."""
    m: Machine = build_machine(sc)
    out = []
    for c in choices:
        events = m.step(c)
        t = m.threads[c]
        out.append((t.name, m.last_label, list(events), dict(t.vmf), t.pc))
    return out


def _phrases(label: str, events: list[Event], vmf: dict[str, Any], next_label: str, copying: bool) -> list[str]:
    """Phrases for one step; `next_label` is where the thread goes next."""
    out: list[str] = []
    faulted = False
    for e in events:
        match e:
            case Fault(_, addr, access):
                out.append(f"{access}-faults at {addr:#x}")
                faulted = True
            case OpStart(_, op):
                if not any(isinstance(x, Fault | OpDone) for x in events):
                    out.append(f"starts `{op}`")
            case OpDone(_, op, result):
                out.append(f"completes `{op}` ({result})" if result not in ("0", "") else f"finishes `{op}`")
            case SpfAbort(_, reason, detail, at):
                out.append(f"aborts in {at} ({reason}: {detail}) and retries under mmap_lock")
            case Alloc(_, pfn):
                out.append(f"allocates pfn {pfn}")
            case Cow(_, old_pfn, new_pfn):
                src = "the zero page" if old_pfn is None else f"pfn {old_pfn}"
                out.append(f"installs pfn {new_pfn} in place of {src}")
            case Pte(mm, vpn, old_pte, new_pte) if not any(isinstance(x, Cow) for x in events):
                out.append(f"sets {mm}:{vpn << 12:#x} {format_pte(old_pte)} → {format_pte(new_pte)}")
            case VmaChange(_, "vm_flags", vma, _, flags):
                out.append(f"sets vma{vma} {format_vm_flags(flags or 0)}")
            case VmaChange(_, action, vma, _, _):
                out.append(f"{action}es vma{vma}" if action.endswith("h") else f"{action}s vma{vma}")
            case Free(pfn):
                out.append(f"frees pfn {pfn}")
            case Block(_, on):
                out.append(f"blocks on {on}")
            case Wake(thread):
                out.append(f"wakes {thread}")
            case Segv(_, addr, why):
                out.append(f"gets SIGSEGV at {addr:#x} ({why})")
            case Fork(_, child):
                out.append(f"forks {child}")
            case Swap(_, pfn, slot):
                out.append(f"moves pfn {pfn} to swap slot {slot}")
            case Decision(_, "foll", _, _):
                out.append(decision_short(e))
            case Decision(_, "expand_stack" | "maple", _, detail):  # StackRot's (kernel/stack.py): the lock, the node
                out.append(detail)
            case RcuFree() if e.maple:
                out.append(format_event(e))
    aborted = any(isinstance(e, SpfAbort) for e in events)
    if not aborted and not faulted:
        if label == "do_user_addr_fault:spf_seq_start" and "seq" in vmf:
            out.insert(0, f"samples mmap_seq {vmf['seq']}")
        elif label == "handle_speculative_fault:vma_checks" and "seq" in vmf:
            out.insert(0, f"samples vm_sequence {vmf['seq']}")
        elif label == "do_user_addr_fault:spf_vma_copy":
            out.insert(0, "copies the VMA")
        elif label in _WALKS and "orig_pte" in vmf:
            out.insert(0, f"reads orig_pte {format_pte(vmf['orig_pte'])}")
        elif label in _VALIDATE:  # (a policy that checks nothing at this step only passes through)
            checks = any(type(e) is Validate for e in events)
            out.insert(0, "validates in pte_map_lock" if checks else "enters pte_map_lock")
        elif label == "do_wp_page:reuse_check":
            if next_label == "do_wp_page:get_page":
                out.insert(0, "takes do_wp_page's copy path")
            elif next_label.startswith("wp_page_reuse"):
                out.insert(0, "reuses the page in do_wp_page")
        elif label == "wp_page_copy:copy" and copying:
            old, new = vmf.get("page"), vmf.get("new_page")
            out.insert(0, f"copies pfn {old} into pfn {new}" if old is not None else f"zeroes pfn {new}")
    return out


def _seq_summary(events_list: list[list[Event]]) -> list[str]:
    """mmap_seq moves within a segment, first and last value per mm."""
    moves: dict[str, list[int]] = {}
    for events in events_list:
        for e in events:
            if isinstance(e, Seq) and e.counter == "mmap_seq":
                moves.setdefault(e.mm, [e.old, e.new])[1] = e.new
    return [f"moves {mm}.mmap_seq {a}→{b}" for mm, (a, b) in moves.items() if a != b]


def narrate(sc: Scenario, choices: Sequence[int], upto: int | None = None, oracle: str | None = None) -> str:
    """One paragraph telling what the run `choices` does, up to step `upto`, ending with its first
    violation (of kind `oracle`, when given: a counterexample's, not another on its way)."""
    steps = replay_steps(sc, choices[:upto] if upto is not None else choices)
    if not steps:
        return "Nothing runs."
    segments: list[str] = []
    violation = ""
    i = 0
    while i < len(steps):
        name = steps[i][0]
        j = i
        while j < len(steps) and steps[j][0] == name:
            j += 1
        phrases: list[tuple[str, int]] = []
        for k in range(i, j):
            _, label, events, vmf, nxt = steps[k]
            prev_label = steps[k - 1][1] if k > i else ""
            for p in _phrases(label, events, vmf, nxt, copying=prev_label != label):
                if phrases and phrases[-1][0] == p:
                    phrases[-1] = (p, phrases[-1][1] + 1)
                else:
                    phrases.append((p, 1))
            if label == "wp_page_copy:copy" and prev_label == label and phrases and phrases[-1][0].startswith("copies"):
                phrases[-1] = (phrases[-1][0], phrases[-1][1] + 1)
            for e in events:
                if isinstance(e, Violation) and not violation and oracle in (None, e.oracle):
                    violation = f"{e.oracle}: {e.detail}"
        phrases += [(p, 1) for p in _seq_summary([s[2] for s in steps[i:j]])]
        text = ", ".join(p if n == 1 else f"{p} ({n} steps)" for p, n in phrases)
        span = f"step {i + 1}" if j - i == 1 else f"steps {i + 1}–{j}"  # 1-based: step N is the N-th taken
        segments.append(f"{name} ({span}) {text}" if text else f"{name} ({span}) runs {steps[i][1]}")
        i = j
    out = "; ".join(segments)
    if violation:
        out += f" — {violation}"
    return out + "."


# ------------------------------------------------------------- results
_WHY_CUT = {
    "max-states": "the search hit its state limit",
    "timeout": "the search timed out",
    "interrupted": "the search was interrupted",
    "bound": "the preemption bound cut the search",
    "runs": "random schedules never prove 'never', and this sample did not show it",
    "found": "the search stopped at the first violation",
}


@attrs.frozen
class Progress:
    """A progress report: what the running search has done so far."""

    policy: str
    phase: str  # "bounded 0", "exhaustive", "random", ...
    states: int
    transitions: int
    depth: int
    frontier: int
    seconds: float
    found: tuple[str, ...]
    # An estimate of how much of this phase is done (0..1) and of the seconds
    # it has left, when the search can tell (estimate.py); None until then.
    done: float | None = None
    left: float | None = None
    # With a checkpoint file: seconds since the last one was written (None: none
    # yet), and why the last try failed ("" when it did not).
    saved: float | None = None
    save_error: str = ""


def seconds_left(done: float | None, seconds: float) -> float | None:
    """A phase's seconds left at its rate so far, once `done` means something."""
    if done is None or done < 1e-4 or seconds < 1.0:
        return None
    return seconds * (1.0 - done) / done


def estimate_text(p: Progress, lead: str = "") -> str:
    """`lead` + "~48% done, ~36 s left" (an estimate: estimate.py), or "" when there is none."""
    if p.done is None:
        return ""
    text = f"{lead}~{p.done:.0%} done"
    if p.left is not None:
        left = p.left
        when = f"{left:.0f} s" if left < 120 else f"{left / 60:.0f} min" if left < 7200 else f"{left / 3600:.1f} h"
        text += f", ~{when} left"
    return text


@attrs.frozen
class Counterexample:
    """An execution that reports `kind`: run `entries` (exact step counts per thread).

    `stop_at` is the number of steps up to and including the violating one:
    a Session at position `stop_at` shows the state right after it.
    """

    kind: str
    thread: str
    detail: str
    label: str
    choices: tuple[int, ...]
    entries: tuple[ScheduleEntry, ...]
    stop_at: int
    preemptions: int
    narration: str = ""
    minimal: bool = True  # False: the search for one with fewer preemptions was cut

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "thread": self.thread,
            "detail": self.detail,
            "label": self.label,
            "steps": [e.text for e in self.entries],
            "stop_at": self.stop_at,
            "preemptions": self.preemptions,
            "minimal": self.minimal,
            "narration": self.narration,
        }


@attrs.define
class Result:
    """The outcome of exploring one scenario under one policy."""

    scenario: str
    policy: str
    reuse: str
    mode: str
    complete: bool
    stop: str  # complete | max-states | timeout | interrupted | bound | runs
    states: int
    transitions: int
    schedules: int
    seconds: float
    max_depth: int = 0
    reduction: bool = True
    bound: int | None = None
    verdicts: dict[str, str] = attrs.Factory(dict)
    counterexamples: dict[str, Counterexample] = attrs.Factory(dict)
    found_seconds: dict[str, float] = attrs.Factory(dict)
    expectations: dict[str, str] = attrs.Factory(dict)
    extra: dict[str, Any] = attrs.Factory(dict)

    @property
    def counterexample(self) -> Counterexample | None:
        """The primary counterexample: an expected-"never" kind first, then ORACLE_KINDS order
        (then the scenario's own oracles, as the verdicts list them)."""
        kinds = list(dict.fromkeys([*ORACLE_KINDS, *self.verdicts, *self.counterexamples]))
        order = [k for k in kinds if self.expectations.get(k) == "never"] + kinds
        for k in order:
            if k in self.counterexamples:
                return self.counterexamples[k]
        return None

    def expectation_failures(self) -> list[str]:
        """Why the scenario's [expect] does not hold ([] when it does): contradictions and undecided entries."""
        return sorted(self.contradictions() + self.undecided_expectations())

    def contradictions(self) -> list[str]:
        """The decided verdicts that are not what [expect] says ("kind: expected X, found Y")."""
        return [
            f"{kind}: expected {want}, found {self.verdicts[kind]}"
            for kind, want in sorted(self.expectations.items())
            if self.verdicts.get(kind, "unknown") not in ("unknown", want)
        ]

    def undecided_expectations(self) -> list[str]:
        """The [expect] entries the search left undecided ("kind: expected X, undecided (why)")."""
        why = _WHY_CUT.get(self.stop, self.stop)
        return [
            f"{kind}: expected {want}, undecided ({why})"
            for kind, want in sorted(self.expectations.items())
            if self.verdicts.get(kind, "unknown") == "unknown"
        ]

    @property
    def expect_ok(self) -> bool:
        return not self.expectation_failures()

    def to_json(self) -> dict[str, Any]:
        cx = self.counterexample
        return {
            "policy": self.policy,
            "reuse": self.reuse,
            "mode": self.mode,
            "complete": self.complete,
            "stop": self.stop,
            "states": self.states,
            "transitions": self.transitions,
            "schedules": self.schedules,
            "seconds": round(self.seconds, 3),
            "max_depth": self.max_depth,
            "reduction": self.reduction,
            "bound": self.bound,
            "verdicts": dict(self.verdicts),
            "expect": dict(self.expectations),
            "expect_ok": self.expect_ok,
            "expect_contradicted": [f.split(":", 1)[0] for f in self.contradictions()],
            "expect_undecided": [f.split(":", 1)[0] for f in self.undecided_expectations()],
            "counterexample": cx.to_json() if cx else None,
            "counterexamples": {k: c.to_json() for k, c in sorted(self.counterexamples.items())},
            "found_seconds": {k: round(v, 3) for k, v in sorted(self.found_seconds.items())},
            **self.extra,
        }


def entries_of(names: list[str], choices: tuple[int, ...] | list[int]) -> tuple[ScheduleEntry, ...]:
    """Runs of one thread as schedule entries with exact step counts ("A1 13")."""
    out: list[ScheduleEntry] = []
    i = 0
    while i < len(choices):
        j = i
        while j < len(choices) and choices[j] == choices[i]:
            j += 1
        name = names[choices[i]]
        out.append(ScheduleEntry(name, j - i, None, name if j - i == 1 else f"{name} {j - i}"))
        i = j
    return tuple(out)


def verdicts(found: Any, complete: bool, kinds: tuple[str, ...] = ORACLE_KINDS) -> dict[str, str]:
    """Each oracle's verdict (`kinds`: a scenario's `oracle_kinds`, its own included)."""
    return {k: "sometimes" if k in found else ("never" if complete else "unknown") for k in kinds}
