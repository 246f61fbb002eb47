"""The kernel's own footprint recording (`Machine.touched`) is complete.

The explorer takes a step's reads and writes from `Machine.touched`
(`footprint.KernelTracker`); `por.Tracker` measures them by watching every
attribute read and diffing snapshots. For every step of a capped search of
every bundled scenario (and the reach benchmark's) under every policy, each
object the tracker saw read must be in `touched`, each write it measured must
be among the kernel tracker's writes, and the incremental snapshot must equal
`Machine.snapshot()`. A miss names the step label and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spftui.engine import fuzz, por
from spftui.engine.footprint import KernelTracker
from spftui.kernel import build_machine
from spftui.kernel.machine import ALLOC, Machine
from spftui.scenario import load_scenario
from spftui.scenario.model import POLICIES, Scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml")) + sorted((ROOT / "benchmarks" / "scenarios").glob("*.toml"))
CAP = 250  # states per scenario and policy


MMAP_LOCK = frozenset({"lock_writer", "lock_readers", "lock_waiters", "downgraded"})
RSS = frozenset({"rss_anon", "rss_swap"})
PTL = frozenset({"ptl", "ptl_waiters"})


def kernel_keys(m: Machine, k: por.Key, write: bool = False) -> list[por.Key]:
    """The `touched` keys (or, for a write, the footprint's write keys) that cover one of the tracker's keys."""
    kind = k[0]
    if kind == "t":  # the PTL's fields have a key of their own
        return [("ptl" if len(k) > 2 and k[2] in PTL else "t", k[1])]
    if kind == "f":
        return [(kind, k[1])]
    if kind == "v":
        return [("mm", m.vmas[k[1]].mm)]
    if kind == "mm":  # the lost-write oracle's shadow memory and the mmap_lock have keys of their own
        field = k[2] if len(k) > 2 else ""
        if field in RSS:  # only ever added to: a read must retake the mm's snapshot, a write is no key
            return [] if write else [("mm", k[1])]
        return [("shadow" if field == "shadow" else "mmap_lock" if field in MMAP_LOCK else "mm", k[1])]
    if kind == "tlb":
        return [("tlb", i) for i in range(len(m.tlbs))] if k[1] == "*" else [("tlb", k[1])]
    if kind in ("free", "anon_vma_next"):
        return [ALLOC]
    return []  # ("th", j), ("rcu", ...): measured the same way by both; ("swap",): checked apart


def misses(m: Machine, tracker: por.Tracker, fp: por.Footprint, kfp: por.Footprint) -> list[str]:
    out = []
    label = m.last_label
    touched = m.touched
    for k in tracker.reads:
        for want in kernel_keys(m, k):
            if want not in touched:
                out.append(f"{label}: read {k} not in touched (want {want})")
        if k == por.SWAP and not any(x[0] == "swap" or x == ALLOC for x in touched):
            out.append(f"{label}: read the swap subsystem, no swap key in touched")
    if not fp.glob and not kfp.glob:
        for k in fp.w:
            if k == por.SWAP:
                if not any(x[0] == "swap" or x == ALLOC for x in kfp.w):
                    out.append(f"{label}: wrote the swap subsystem, no swap write measured")
                continue
            if k[0] == "mm" and len(k) > 2 and k[2] in RSS:
                continue
            for want in kernel_keys(m, k, write=True) or [k]:
                if want not in kfp.w:
                    out.append(f"{label}: write {k} missing from the kernel footprint's writes (want {want})")
    return out


def walk(sc: Scenario, policy: str, cap: int = CAP) -> tuple[int, list[str]]:
    m = build_machine(sc.with_policy(policy, None))
    tracker = por.Tracker(m, incremental=False)
    ktracker = KernelTracker(m, check_every=1)
    fpr = por.Fingerprinter()
    s0 = m.snapshot()
    seen = {fpr(s0)}
    stack = [s0]
    found: list[str] = []
    steps = 0
    while stack and len(seen) < cap:
        s = stack.pop()
        m.restore(s)
        for t in m.runnable():
            m.restore(s)
            tracker.begin(t)
            ktracker.begin(t)
            try:
                events = m.step(t)
            finally:
                tracker.end()
            steps += 1
            try:
                after = ktracker.snapshot(s, events)
            except por.SnapshotMismatch:  # an object changed that `touched` does not name
                found.append(f"{m.last_label}: the incremental snapshot differs from Machine.snapshot()")
                ktracker.incremental = True
                after = m.snapshot()
            fp = tracker.footprint(s, after, events)
            kfp = ktracker.footprint(s, after, events)
            found += misses(m, tracker, fp, kfp)
            key = fpr(after)
            if key not in seen:
                seen.add(key)
                stack.append(after)
    return steps, found


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_the_kernel_records_every_object_a_step_reads_or_writes(path: Path) -> None:
    problems: dict[str, int] = {}
    total = 0
    sc = load_scenario(path)
    for policy in POLICIES:
        steps, found = walk(sc, policy)
        total += steps
        for p in found:
            problems[f"{policy}: {p}"] = problems.get(f"{policy}: {p}", 0) + 1
    assert total > 50
    assert not problems, "\n".join(f"{n}x {p}" for p, n in sorted(problems.items())[:40])


@pytest.mark.parametrize(("seed", "index", "policy", "cap"), [(7, 0, "classic", 2500), (11, 103, "spf-mm-seq", 400)])
def test_random_scenarios_that_once_found_a_missing_record(seed: int, index: int, policy: str, cap: int) -> None:
    """Found by the step cache's audit (test_stepcache.py): the COW reuse check
    read a swap count (wp.py can_reuse), and a fork of an mm with no VMA wrote
    the mm (fork.py vm_area_dup, fork_flush), with no key in `touched`."""
    sc = fuzz.scenario(seed, index, policy)
    assert sc is not None
    _, found = walk(sc, policy, cap)
    assert not found, "\n".join(found[:20])


def test_the_check_fails_on_a_missing_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drop one of the kernel's records (the mm read of find_vma): the walk reports it."""
    from spftui.kernel import machine

    real = machine.Machine.vma_lookup

    def forgetful(self: Machine, mm: Any, addr: int) -> Any:
        v = real(self, mm, addr)
        self.touched.discard(("mm", mm.name))
        return v

    monkeypatch.setattr(machine.Machine, "vma_lookup", forgetful)
    _, found = walk(load_scenario(ROOT / "scenarios" / "cow_lost_write.toml"), "classic")
    assert any("not in touched" in p for p in found)


def test_a_group_exit_is_dependent_with_every_step() -> None:
    """A thread that finishes its op after another thread of its process took
    SIGSEGV exits and reaps the process's threads in user space: it read their
    states, which no key names, so its step is global (as the fatal one is)."""
    sc = load_scenario(ROOT / "scenarios" / "cow_lost_write.toml").with_policy("classic", None)
    m = build_machine(sc)
    ktracker = KernelTracker(m)
    fpr = por.Fingerprinter()
    s0 = m.snapshot()
    seen, stack, reaps = {fpr(s0)}, [s0], 0
    while stack and reaps < 3:
        s = stack.pop()
        m.restore(s)
        for t in m.runnable():
            m.restore(s)
            ktracker.begin(t)
            events = m.step(t)
            after = ktracker.snapshot(s, events)
            fp = ktracker.footprint(s, after, events)
            if m.threads[t].result.endswith("(group exit)") and any(type(e).__name__ == "OpDone" for e in events):
                reaps += 1
                assert fp.glob, m.last_label
            if fpr(after) not in seen:
                seen.add(fpr(after))
                stack.append(after)
    assert reaps > 0
