"""Scenarios with more threads than fit in a byte: the trace records each
thread exactly (thread 128 is not thread 0, 256+ threads do not overflow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import spftui

from spftui.engine import SeededRandom, Session
from spftui.scenario.loader import parse_scenario


def many_threads(n: int) -> str:
    """`n` threads in one process, each writing its own page then unmapping it."""
    lines = ['title = "many threads"', 'policy = "spf-mm-seq"', "", "[[process]]", 'name = "A"', ""]
    lines += ["  [[process.mapping]]", "  start = 0x100000", f"  pages = {n}", '  prot = "rw"', ""]
    for i in range(n):
        addr = 0x100000 + i * 0x1000
        ops = f'["write {addr:#x} {i + 1}", "read {addr:#x}", "munmap {addr:#x} 1p"]'
        lines += ["[[thread]]", f'name = "T{i}"', 'process = "A"', f"ops = {ops}", ""]
    return "\n".join(lines)


@pytest.mark.parametrize("n", [130, 300])
def test_goto_equals_a_fresh_run_with_more_than_128_threads(n: int) -> None:
    sc = parse_scenario(many_threads(n))
    s = Session(sc, strategy=SeededRandom(4), checkpoint_every=64)
    s.run()
    assert s.machine.all_done()
    ran = {s.thread_at(i) for i in range(s.length)}
    assert ran == set(range(n))  # every thread, including 128 and 256+, recorded as itself
    for k in (s.length // 3, s.length - 1, 1):
        s.goto(k)
        fresh = Session(sc, strategy=SeededRandom(4))
        fresh.run(limit=k)
        assert s.machine.snapshot() == fresh.machine.snapshot()
        assert [s.step_thread(i) for i in range(k)] == [fresh.step_thread(i) for i in range(k)]


def test_manual_steps_of_high_threads_are_recorded_and_replayed() -> None:
    sc = parse_scenario(many_threads(300))
    s = Session(sc, strategy=SeededRandom(1))
    s.step("T299")
    s.step("T128")
    s.step("T0")
    assert [s.step_thread(i) for i in range(3)] == ["T299", "T128", "T0"]
    assert [s.is_manual(i) for i in range(3)] == [True, True, True]
    s.run()
    assert not s.is_manual(3)
    end = s.machine.snapshot()
    s.goto(1)
    s.goto(s.length)
    assert s.machine.snapshot() == end


@pytest.mark.parametrize("n", [130, pytest.param(300, marks=pytest.mark.slow)])  # 300: ~30 s
def test_check_and_trace_run_cleanly_and_saved_schedules_replay_exactly(tmp_path: Path, n: int) -> None:
    path = tmp_path / f"threads{n}.toml"
    path.write_text(many_threads(n))
    sched = tmp_path / "run.schedule.toml"

    first = spftui("check", str(path), "--seed", "3", "--json", "--save-schedule", str(sched))
    assert first.returncode == 0, first.stderr
    again = spftui("check", str(path), "--schedule", str(sched), "--json")
    assert again.returncode == 0, again.stderr
    a, b = json.loads(first.stdout), json.loads(again.stdout)
    assert a["steps"] == b["steps"] and a["violations"] == b["violations"] == []
    text = spftui("check", str(path), "--schedule", str(sched))
    assert text.returncode == 0 and "Traceback" not in text.stderr, text.stderr
    trace = spftui("trace", str(path), "--seed", "3", "--json")
    assert trace.returncode == 0, trace.stderr
    threads = {json.loads(line)["thread"] for line in trace.stdout.splitlines()}
    assert {"T128", "T129", f"T{n - 1}"} <= threads
