"""Checkpoints that share unchanged parts with the previous one: each one is
exactly `Machine.snapshot()`, and restoring any of them, from any position,
gives the machine a fresh run reaches."""

from __future__ import annotations

import random
from typing import Any

import pytest
from test_random_scenarios import random_scenario

from spftui.engine import SeededRandom, Session
from spftui.kernel import checkpoint
from spftui.kernel.checkpoint import Checkpointer, TrackedDict, TrackedList
from spftui.scenario import POLICIES, parse_scenario


def pages_scenario(pages: int, threads: int = 3, repeat: int = 3) -> str:
    """A populated mapping of `pages` pages; threads write, read, mprotect, madvise and munmap across it."""
    base = 0x10000000
    lines = ['title = "pages"', "[[process]]", 'name = "A"', "[[process.mapping]]", f"start = {base:#x}"]
    lines += [f"pages = {pages}", "populate = true", "[[process]]", 'name = "B"', 'fork_of = "A"']
    for i in range(threads):
        p = base + ((i * 37) % pages) * 4096
        q = base + ((i * 101 + pages // 2) % pages) * 4096
        ops = [f"write {p:#x} {i}", f"read {q:#x}", f"write {q + 8:#x} 7", f"mprotect {p:#x} 1p r"]
        ops += [f"mprotect {p:#x} 1p rw", f"madvise {q:#x} 2p dontneed", f"reclaim {p:#x}", f"munmap {q:#x} 1p"]
        ops += [f"mmap {q:#x} 1p rw"]  # the next round touches q again: unmapped, that access would be fatal
        proc = "B" if i == threads - 1 else "A"
        lines += ["[[thread]]", f'name = "T{i}"', f'process = "{proc}"', f"ops = {ops}", f"repeat = {repeat}"]
    return "\n".join(lines).replace("'", '"') + "\n"


def quiet_snapshot(m: Any) -> tuple[Any, ...]:
    """m.snapshot() without leaving marks in the tracked containers (it iterates them all)."""
    tracked = [x for x in (m.frames, m.tables, m.vmas, m.tlbs) if isinstance(x, TrackedList)]
    tracked += [mm.shadow for mm in m.mms.values() if isinstance(mm.shadow, TrackedDict)]
    saved = [(x, set(x.seen), x.all) for x in tracked]
    snap = m.snapshot()
    for x, seen, everything in saved:
        x.seen, x.all = seen, everything
    return snap


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every checkpoint taken is compared with a full snapshot; small chunks, so objects span many."""
    monkeypatch.setattr(checkpoint, "CHUNK", 4)
    monkeypatch.setattr(checkpoint, "TRACK_ABOVE", 0)  # track even the smallest machine
    taken: list[int] = []
    take = Checkpointer.take

    def checked_take(self: Checkpointer, m: Any) -> Any:
        ck = take(self, m)
        assert isinstance(ck, checkpoint.Checkpoint)
        assert ck.snapshot() == quiet_snapshot(m), f"checkpoint at step {m.steps} differs from the machine"
        taken.append(m.steps)
        return ck

    monkeypatch.setattr(Checkpointer, "take", checked_take)
    return taken


def fresh_snapshots(text: str, policy: str, seed: int, n: int) -> list[tuple[Any, ...]]:
    s = Session(parse_scenario(text).with_policy(policy), strategy=SeededRandom(seed), checkpoint_every=10**9)
    out = [s.machine.snapshot()]
    for _ in range(n):
        s.step()
        out.append(s.machine.snapshot())
    return out


def check_gotos(text: str, policy: str, seed: int, every: int) -> None:
    s = Session(parse_scenario(text).with_policy(policy), strategy=SeededRandom(seed), checkpoint_every=every)
    s.run(limit=3000)
    want = fresh_snapshots(text, policy, seed, s.length)
    rng = random.Random(seed)
    for _ in range(25):
        k = rng.randrange(s.length + 1)
        s.goto(k)
        assert quiet_snapshot(s.machine) == want[k], (policy, seed, k)
        if k < s.length:  # stepping on from a restored state follows the recorded future
            s.step()
            assert quiet_snapshot(s.machine) == want[k + 1], (policy, seed, k + 1)


@pytest.mark.parametrize("seed", range(12))
def test_checkpoints_of_random_scenarios_are_exact_and_restore_exactly(checked: list[int], seed: int) -> None:
    check_gotos(random_scenario(seed), POLICIES[seed % len(POLICIES)], seed, every=3)
    assert checked


@pytest.mark.parametrize("policy", POLICIES)
def test_checkpoints_across_many_pages_are_exact_and_restore_exactly(checked: list[int], policy: str) -> None:
    check_gotos(pages_scenario(300), policy, 5, every=16)
    assert len(checked) > 10


def test_a_small_machine_is_checkpointed_whole_and_still_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint, "TRACK_ABOVE", 10**9)
    check_gotos(pages_scenario(40), "spf-mm-seq", 3, every=8)


def test_an_unchanged_page_costs_a_checkpoint_nothing() -> None:
    s = Session(parse_scenario(pages_scenario(1000, repeat=50)), strategy=SeededRandom(2), checkpoint_every=128)
    s.run(limit=1024)
    a, b = s.timeline._ckpts[896][0], s.timeline._ckpts[1024][0]
    assert isinstance(a, checkpoint.Checkpoint) and isinstance(b, checkpoint.Checkpoint)
    frames_a, frames_b = a.lists[0], b.lists[0]
    shared = sum(x is y for x, y in zip(frames_a, frames_b, strict=True))
    assert shared >= len(frames_b) - 8  # a few pages changed; the other chunks are the same objects
    assert b.snapshot() == s.timeline._ckpts[1024][0].snapshot()
