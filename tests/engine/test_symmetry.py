"""The symmetries behind canonical fingerprints (engine/symmetry.py) hold.

A pfn renaming must commute with every step: from a renamed state, the rest
of a schedule gives the renamed run (same violations). Checked on random
schedules of every bundled scenario under every policy, renaming at a random
point with a random permutation of the pfns that are not fixed. And every
vmf local the kernel sets must be classified (a pfn, a PTE, or neither), so
a new local cannot hold a pfn the renaming misses."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from spftui.engine import por
from spftui.engine.explorer import explore
from spftui.engine.por import _THREADS, KEY_LEN
from spftui.engine.symmetry import BATCH_KEY, OTHER_KEYS, PFN_KEYS, PTE_KEYS, Canonicaliser, canonical, rename
from spftui.kernel import build_machine
from spftui.kernel.events import Violation
from spftui.kernel.exit import KILLED
from spftui.kernel.state import Thread
from spftui.scenario import load_scenario
from spftui.scenario.model import POLICIES

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.toml"))
_RESULT = Thread.SNAP_FIELDS.index("result")
_VMF = Thread.SNAP_FIELDS.index("vmf")
_BLOCKED = Thread.SNAP_FIELDS.index("blocked_on")


def _flags(key: tuple) -> tuple:
    """A thread's result and blocked_on texts may name a pfn: compare them as
    what the kernel reads of them (killed; waits for a fork)."""
    ths = []
    for th in key[_THREADS]:
        t = list(th)
        t[_RESULT] = KILLED in th[_RESULT]
        t[_BLOCKED] = th[_BLOCKED].startswith("process")
        ths.append(tuple(t))
    return (*key[:_THREADS], tuple(ths), *key[_THREADS + 1 :])


def _runs(path: Path, policy: str, runs: int, seed: int):
    sc = load_scenario(path).with_policy(policy, None)
    rng = random.Random(seed)
    for _ in range(runs):
        m = build_machine(sc)
        sched = []
        while m.runnable() and len(sched) < 400:
            t = rng.choice(m.runnable())
            sched.append(t)
            m.step(t)
        yield sc, sched, rng


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_a_pfn_renaming_commutes_with_every_step(path: Path) -> None:
    for policy in POLICIES:
        for sc, sched, rng in _runs(path, policy, 6, hash(path.stem) & 0xFFFF):
            m = build_machine(sc)
            fixed = Canonicaliser(m.snapshot()).fixed
            k = rng.randrange(len(sched) + 1)
            for t in sched[:k]:
                m.step(t)
            mid = m.snapshot()
            names = [p for p in range(len(mid[0])) if p not in fixed]
            shuffled = names[:]
            rng.shuffle(shuffled)
            ren = list(range(len(mid[0])))
            for a, b in zip(names, shuffled, strict=True):
                ren[a] = b
            kinds_a, kinds_b = set(), set()
            for t in sched[k:]:
                kinds_a |= {e.oracle for e in m.step(t) if isinstance(e, Violation)}
            end_a = m.snapshot()
            m2 = build_machine(sc)
            m2.restore(rename(mid, ren))
            for t in sched[k:]:
                kinds_b |= {e.oracle for e in m2.step(t) if isinstance(e, Violation)}
            end_b = m2.snapshot()
            # new frames (allocated after the renaming) keep their numbers in both runs
            full = ren + list(range(len(ren), len(end_a[0])))
            assert kinds_a == kinds_b, (path.stem, policy, sched, k)
            assert _flags(rename(end_a, full)[:KEY_LEN]) == _flags(end_b[:KEY_LEN]), (path.stem, policy, sched, k)
            assert canonical(end_a[:KEY_LEN], fixed) == canonical(end_b[:KEY_LEN], fixed)


def test_every_vmf_local_is_classified() -> None:
    known = PFN_KEYS | PTE_KEYS | OTHER_KEYS | {BATCH_KEY}
    seen: set[str] = set()
    for path in SCENARIOS:
        for policy in POLICIES:
            for sc, sched, _ in _runs(path, policy, 3, 7):
                m = build_machine(sc)
                for t in sched:
                    m.step(t)
                    for th in m.snapshot()[_THREADS]:
                        seen.update(k for k, _ in th[_VMF])
    assert seen <= known, sorted(seen - known)
    assert PFN_KEYS | PTE_KEYS | {BATCH_KEY} <= seen  # the classification is not stale


def test_symmetry_merges_states_and_keeps_the_verdicts() -> None:
    # Dirty COW with its fix off: a Sometimes and Nevers (test_reductions: every scenario and policy)
    sc = load_scenario(SCENARIOS[0].parent / "history_dirty_cow.toml").with_fixes({"foll_cow": False})
    for policy in ("spf-refetch-vma",):
        plain = explore(sc, policy, mode="exhaustive", narrate=False, symmetry=False)
        sym = explore(sc, policy, mode="exhaustive", narrate=False)
        assert sym.extra["reductions"]["symmetry"] and not plain.extra["reductions"]["symmetry"]
        assert sym.complete and plain.complete
        assert sym.verdicts == plain.verdicts and "sometimes" in sym.verdicts.values()
        assert sym.states < plain.states


def test_alloc_page_reuses_the_frame_freed_last() -> None:
    """LIFO reuse (the per-cpu lists): which frame is reused depends on the order
    of frees, never on pfn values, so renaming pfns commutes with alloc_page."""
    m = build_machine(load_scenario(SCENARIOS[0].parent / "cow_lost_write.toml"))
    t = m.threads[0]
    a, b = m.alloc_page(t), m.alloc_page(t)
    m.put_page(t, a)
    m.put_page(t, b)
    assert m.alloc_page(t) == b and m.alloc_page(t) == a


def test_the_fingerprint_cache_gives_what_the_canonical_form_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fingerprinter looks a class's fingerprint up by the exact key's digest:
    the same as canonicalising every time, also across its generations and
    for the owner hash of the partitioned search."""
    monkeypatch.setattr(por, "RAW_CACHE", 64)  # many generations turned over
    sc = load_scenario(SCENARIOS[0].parent / "cow_lost_write.toml").with_policy("spf-mm-seq", None)
    m = build_machine(sc)
    canon = Canonicaliser(m.snapshot())
    cached = por.Fingerprinter(canon=canon)
    cached.part = por_part = lambda key: key[_THREADS][0]
    rng = random.Random(7)
    snaps = []
    for _ in range(30):
        m = build_machine(sc)
        while m.runnable():
            m.step(rng.choice(m.runnable()))
            snaps.append(m.snapshot())
    for snap in snaps + snaps[::-1]:
        fresh = por.Fingerprinter(canon=canon)
        fresh.part = por_part
        assert cached(snap) == fresh(snap)
        assert cached.part_hash == fresh.part_hash
    assert len(cached._recent) <= 64 and cached._older
