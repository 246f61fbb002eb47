"""Observations per op, their comparison, and a delta-debugging minimiser for a mismatch.

Per op, both sides give: the op's result (value read, return code,
SIGSEGV), and for P and C each page's state (none, zero page, a frame),
which frames they share (frames are numbered in order of appearance, so the
numbers say who shares what, not the PFN), reuse or copy on a write, each
frame's map count and its PG_anon_exclusive flag. Without PFNs (not root)
only results and present/none are compared.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .host import HostRun, Page
from .model import ModelRun
from .sequence import Op, generate, valid

COLUMNS = ("result", "pages", "cow", "mapcount", "exclusive")
PFN_COLUMNS = ("cow", "mapcount", "exclusive")


def reuse_for_release(release: str) -> str:
    """The COW reuse rule of a kernel release (`uname -r`): the simulator's reuse registry by version."""
    m = re.match(r"(\d+)\.(\d+)", release)
    if not m:
        return "anon-exclusive"
    v = (int(m.group(1)), int(m.group(2)))
    return "mapcount" if v < (5, 9) else "page-count" if v < (5, 18) else "anon-exclusive"


def _cow(op: Op, before: list[Page] | None, after: list[Page] | None) -> str:
    """What a write did to its page: reuse in place, copy to a new frame, or a first fault (new)."""
    if op.kind != "write" or before is None or after is None:
        return "-"
    old, new = before[op.page], after[op.page]
    if new[0] != "page":
        return "-"
    if old[0] != "page":
        return "new"
    return "reuse" if old[1] == new[1] else "copy"


def observe(op: Op, result: str, before: dict[str, Any], after: dict[str, Any], pfns: bool) -> dict[str, str]:
    """One op's columns, as strings both sides can be compared by."""
    ids: dict[int, int] = {}
    pages, counts, excl = [], [], []
    for proc in ("P", "C"):
        ps = after.get(proc, "absent")
        if not isinstance(ps, list):
            pages.append(f"{proc}: {ps or 'dead'}")
            continue
        cells, cc, ce = [], [], []
        for state, pfn, mapcount, exclusive in ps:
            if not pfns and state in ("zero", "page"):
                state = "present"  # without PFNs the kernel side cannot tell these apart
            if state == "page":
                cells.append(f"#{ids.setdefault(pfn, len(ids))}")
                cc.append(str(mapcount))
                ce.append("x" if exclusive else ".")
            else:
                cells.append(state)
                cc.append("-")
                ce.append("-")
        pages.append(f"{proc}: {' '.join(cells)}")
        counts.append(f"{proc}: {' '.join(cc)}")
        excl.append(f"{proc}: {' '.join(ce)}")
    obs = {"result": result, "pages": " | ".join(pages)}
    if pfns:
        obs["cow"] = _cow(op, before.get(op.proc), after.get(op.proc))
        obs["mapcount"] = " | ".join(counts)
        obs["exclusive"] = " | ".join(excl)
    return obs


def run_side(make: Callable[[], HostRun | ModelRun], ops: list[Op], pfns: bool) -> tuple[list[dict[str, str]], str]:
    """Run ops on one side; the observations, and the model's SIGSEGV words or violations."""
    side = make()
    notes: list[str] = []
    out = []
    try:
        before = {p: side.pages(p) for p in ("P", "C")}
        for op in ops:
            result = side.do(op)
            after = {p: side.pages(p) for p in ("P", "C")}
            if isinstance(side, ModelRun) and side.why:
                notes.append(f"{op.text}: {side.why}")
            out.append(observe(op, result, before, after, pfns))
            before = after
    finally:
        if isinstance(side, HostRun):
            side.close()
    if isinstance(side, ModelRun):
        notes += [f"oracle: {v}" for v in side.violations()]
    return out, "; ".join(notes)


@dataclass
class Mismatch:
    """The first op where kernel and model differ, and in which column."""

    index: int
    kind: str
    column: str

    @property
    def klass(self) -> str:
        """The mismatch class: which op kind, which column (`madvise: result`)."""
        return f"{self.kind}: {self.column}"


def first_mismatch(ops: list[Op], kernel: list[dict[str, str]], model: list[dict[str, str]]) -> Mismatch | None:
    for i, (k, m) in enumerate(zip(kernel, model, strict=True)):
        for col in COLUMNS:
            if k.get(col) != m.get(col):
                return Mismatch(i, ops[i].kind, col)
    return None


@dataclass
class Checker:
    """Runs sequences on both sides. `pfns`: the PFN-based columns are compared."""

    reuse: str
    pfns: bool
    runs: int = 0
    words: int = 4  # the model's words per page (a scenario's own, with --scenario)

    def run(self, ops: list[Op], npages: int) -> tuple[list[dict[str, str]], list[dict[str, str]], str]:
        self.runs += 1
        kernel, _ = run_side(lambda: HostRun(npages, self.pfns), ops, self.pfns)
        model, notes = run_side(lambda: ModelRun(ops, npages, self.reuse, self.words), ops, self.pfns)
        return kernel, model, notes

    def mismatch(self, ops: list[Op], npages: int) -> Mismatch | None:
        kernel, model, _ = self.run(ops, npages)
        return first_mismatch(ops, kernel, model)

    def minimise(self, ops: list[Op], npages: int, klass: str) -> list[Op]:
        """ddmin (Zeller): the smallest op list found that still mismatches in the same column."""

        def fails(cand: list[Op]) -> bool:
            if not cand or not valid(cand):
                return False
            mm = self.mismatch(cand, npages)
            return mm is not None and mm.klass == klass

        # Only the ops up to the first mismatch matter.
        first = self.mismatch(ops, npages)
        if first is not None:
            ops = ops[: first.index + 1]
        n = 2
        while len(ops) >= 2:
            chunk = max(1, len(ops) // n)
            parts = [ops[i : i + chunk] for i in range(0, len(ops), chunk)]
            reduced = False
            for i in range(len(parts)):
                complement = [op for j, p in enumerate(parts) if j != i for op in p]
                if fails(parts[i]):
                    ops, n, reduced = parts[i], 2, True
                    break
                if fails(complement):
                    ops, n, reduced = complement, max(n - 1, 2), True
                    break
            if not reduced:
                if n >= len(ops):
                    break
                n = min(len(ops), n * 2)
        return ops


@dataclass
class Report:
    scenario: str = ""  # --scenario: its file, and its ops as compared
    ops: list[str] = field(default_factory=list)
    seeds: int = 0
    agree: int = 0
    reuse: str = ""
    release: str = ""
    pfns: bool = True
    classes: dict[str, dict[str, Any]] = field(default_factory=dict)
    flaky: list[int] = field(default_factory=list)
    interrupted: bool = False  # Ctrl-C stopped it: `seeds` were run, not all asked for

    def as_json(self) -> dict[str, Any]:
        scenario = {"scenario": self.scenario, "ops": self.ops} if self.scenario else {}
        return {
            **scenario,
            "release": self.release,
            "reuse": self.reuse,
            "pfn_columns": self.pfns,
            "seeds": self.seeds,
            "agree": self.agree,
            "flaky": self.flaky,
            "mismatches": self.classes,
            "interrupted": self.interrupted,
        }


def check(
    seeds: range,
    nops: int,
    max_pages: int,
    reuse: str | None = None,
    pfns: bool = True,
    minimise: bool = True,
    cancelled: Callable[[], bool] = lambda: False,
) -> Report:
    """Run every seed on both sides; for each mismatch class, a minimised example.
    `cancelled()` true (Ctrl-C) stops it between two seeds: the report has those run."""
    release = platform.release()
    rule = reuse or reuse_for_release(release)
    checker = Checker(rule, pfns)
    report = Report(reuse=rule, release=release, pfns=pfns)
    for seed in seeds:
        if cancelled():
            report.interrupted = True
            break
        npages, ops = generate(seed, nops, max_pages)
        _compare(checker, report, seed, ops, npages, minimise)
    return report


def check_ops(
    name: str,
    ops: list[Op],
    npages: int,
    words: int,
    reuse: str | None = None,
    pfns: bool = True,
    minimise: bool = True,
) -> Report:
    """One fixed op sequence (a scenario's, `scenario_ops.py`) on both sides."""
    release = platform.release()
    rule = reuse or reuse_for_release(release)
    checker = Checker(rule, pfns, words=words)
    report = Report(scenario=name, ops=[op.text for op in ops], reuse=rule, release=release, pfns=pfns)
    _compare(checker, report, 0, ops, npages, minimise)
    return report


def _compare(checker: Checker, report: Report, seed: int, ops: list[Op], npages: int, minimise: bool) -> None:
    report.seeds += 1
    mm = checker.mismatch(ops, npages)
    if mm is not None and checker.mismatch(ops, npages) is None:
        report.flaky.append(seed)  # the kernel side did not repeat itself: host noise, not the model
        mm = None
    if mm is None:
        report.agree += 1
        return
    entry = report.classes.setdefault(mm.klass, {"seeds": [], "pages": npages})
    entry["seeds"].append(seed)
    if "ops" in entry:
        return
    small = checker.minimise(ops, npages, mm.klass) if minimise else ops[: mm.index + 1]
    kernel, model, notes = checker.run(small, npages)
    entry["ops"] = [op.text for op in small]
    entry["pages"] = npages
    entry["kernel"] = kernel
    entry["model"] = model
    entry["model_notes"] = notes
