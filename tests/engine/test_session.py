"""The Session: determinism, replay, rewind, branches, breakpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spftui.engine import Fixed, Replay, SeededRandom, Session, SessionError
from spftui.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "scenarios" / "cow_lost_write.toml"


@pytest.fixture(scope="module")
def seed():  # type: ignore[no-untyped-def]
    return load_scenario(SEED)


def choices(s: Session) -> bytes:
    return bytes(s.thread_at(i) for i in range(s.length))


def trace_of(s: Session) -> tuple:  # type: ignore[type-arg]
    return (choices(s), tuple(s.step_label(i) for i in range(s.length)), tuple(s.marks))


def test_same_seed_gives_the_identical_trace(seed) -> None:  # type: ignore[no-untyped-def]
    a = Session(seed, strategy=SeededRandom(11))
    b = Session(seed, strategy=SeededRandom(11))
    a.run()
    b.run()
    assert trace_of(a) == trace_of(b)
    assert a.machine.snapshot() == b.machine.snapshot()


def test_different_seeds_give_different_interleavings(seed) -> None:  # type: ignore[no-untyped-def]
    traces = set()
    for k in range(8):
        s = Session(seed, strategy=SeededRandom(k))
        s.run()
        traces.add(choices(s))
    assert len(traces) > 4


def test_trace_is_identical_across_processes_and_hash_seeds() -> None:
    outs = []
    for hashseed in ("0", "1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        r = subprocess.run(
            [sys.executable, "-m", "spftui", "trace", str(SEED), "--seed", "5", "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        outs.append(r.stdout)
    assert outs[0] == outs[1] == outs[2]
    assert len(outs[0].splitlines()) > 20
    first = json.loads(outs[0].splitlines()[0])
    assert set(first) == {"schema", "step", "thread", "label", "events"}


def test_replaying_the_recorded_choices_reproduces_the_trace(seed) -> None:  # type: ignore[no-untyped-def]
    a = Session(seed, strategy=SeededRandom(3))
    a.run()
    b = Session(seed, strategy=Fixed(list(choices(a))))
    b.run()
    assert trace_of(a) == trace_of(b)
    c = Session(seed, strategy=Replay(a.schedule_entries()))
    c.run()
    assert trace_of(a)[:2] == trace_of(c)[:2]


@settings(max_examples=25, deadline=None)
@given(seed_=st.integers(0, 1000), k=st.integers(0, 80), every=st.sampled_from([4, 16, 128]))
def test_goto_k_equals_a_fresh_run_of_k_steps(seed_: int, k: int, every: int) -> None:
    sc = load_scenario(SEED)
    s = Session(sc, strategy=SeededRandom(seed_), checkpoint_every=every)
    s.run()
    k = min(k, s.length)
    s.goto(s.length)
    s.goto(k)
    fresh = Session(sc, strategy=SeededRandom(seed_))
    for _ in range(k):
        fresh.step()
    assert s.position == fresh.position == k
    assert s.machine.snapshot() == fresh.machine.snapshot()
    # and stepping on from there follows the recorded future
    if k < s.length:
        info = s.step()
        assert info is not None and info.thread == s.step_thread(k)


def test_back_then_step_returns_to_the_same_state(seed) -> None:  # type: ignore[no-untyped-def]
    s = Session(seed)
    for _ in range(30):
        s.step()
    snap = s.machine.snapshot()
    s.back(5)
    assert s.position == 25
    for _ in range(5):
        s.step()
    assert s.machine.snapshot() == snap
    assert s.length == 30


def test_stepping_another_thread_in_the_past_starts_a_branch_and_keeps_the_old_future(seed) -> None:  # type: ignore[no-untyped-def]
    s = Session(seed.with_policy("spf-refetch-vma"))
    s.run()
    assert [m.what for m in s.violations()] == ["lost_write"]
    old = choices(s)
    s.goto(20)  # A1 is mid-copy, B has not run yet
    assert s.step_thread(20) == "B"
    s.step("A1")  # A1 instead of B: a new future
    assert len(s.branches) == 1 and s.branches[0].at == 20
    s.run()
    assert choices(s)[:20] == old[:20] and choices(s) != old
    s.switch_branch(s.branches[0].id)
    assert choices(s) == old
    s.goto(s.length)
    assert [m.what for m in s.violations()] == ["lost_write"]


def test_run_on_says_where_it_went_and_stops_at_the_run_end(seed) -> None:  # type: ignore[no-untyped-def]
    s = Session(seed)
    s.breakpoints.add("violation")  # no breakpoint stops a run on
    stop = s.run_on(10)
    assert (stop.kind, stop.step, stop.text) == ("stopped", 10, "went on to step 10")
    s.goto(3)
    stop = s.run_on()  # the recorded steps, then on to the end
    assert stop.kind == "finished" and s.position == s.length == 54 and s.finished()
    assert s.run_on().text == "all threads finished after 54 steps"  # there already: the end, said again


def test_stepping_a_blocked_thread_is_a_clear_error(seed) -> None:  # type: ignore[no-untyped-def]
    s = Session(seed.with_policy("vma-lock"))
    s.breakpoints.add("condition", expr='A2.state == "blocked"')
    stop = s.continue_()
    assert stop.kind == "breakpoint"  # A2's mprotect waits in vma_start_write for A1's read lock
    assert s.machine.threads[1].blocked_on == "vm_lock (vma 0) write"
    with pytest.raises(SessionError, match="A2 cannot run: it is blocked on vm_lock"):
        s.step("A2")
    with pytest.raises(SessionError, match="no thread"):
        s.step("Z9")


def test_abort_breakpoint_stops_at_the_failed_validation(seed) -> None:  # type: ignore[no-untyped-def]
    s = Session(seed.with_policy("spf-mm-seq"))
    s.breakpoints.add("abort")
    stop = s.continue_()
    assert stop.kind == "breakpoint"
    assert stop.text == "A1: spf abort — mmap_seq changed 0→4 at pte_map_lock:seq_check"
    assert s.breakpoints.items[0].hits == 1
    assert s.machine.threads[0].pc == "do_user_addr_fault:mmap_read_lock"  # falling back
    s.restart()
    assert s.breakpoints.items[0].hits == 0  # a new run counts again, as gdb's `run` does


def test_violation_breakpoint_and_reverse_continue(seed) -> None:  # type: ignore[no-untyped-def]
    s = Session(seed.with_policy("spf-refetch-vma"))
    s.breakpoints.add("violation", match="lost_write")
    s.breakpoints.add("step", match="wp_page_copy:copy", thread="A1")
    stop = s.continue_()
    assert stop.kind == "breakpoint" and "A1 reached wp_page_copy:copy" in stop.text
    first = s.position
    stop = s.continue_()
    assert "reached wp_page_copy:copy" in stop.text  # the next copy step
    while "lost write" not in (stop := s.continue_()).text:
        assert stop.kind == "breakpoint"
    assert "42 was written there" in stop.text
    lost_at = s.position
    stop = s.reverse_continue()
    assert stop.kind == "breakpoint" and s.position < lost_at
    while s.position > first:
        stop = s.reverse_continue()
    assert s.position == first
    assert s.reverse_continue().kind == "start" and s.position == 0


def test_watch_breakpoint_fires_when_the_value_changes(seed) -> None:  # type: ignore[no-untyped-def]
    s = Session(seed.with_policy("spf-mm-seq"))
    s.breakpoints.add("watch", expr="A.mmap_seq")
    stop = s.continue_()
    assert "A.mmap_seq changed 0 → 1" in stop.text
    stop = s.continue_()
    assert "changed 1 → 2" in stop.text
    s.breakpoints.items[0].enabled = False
    s.breakpoints.add("condition", expr="A.pte[0x10000].write and A.mmap_seq == 4")
    stop = s.continue_()
    assert stop.kind == "breakpoint" and "became true" in stop.text
    assert s.machine.mms["A"].mmap_seq == 4


def test_conditions_are_parsed_never_evaluated_as_python(seed) -> None:  # type: ignore[no-untyped-def]
    from spftui.engine.expr import ExprError

    s = Session(seed)
    with pytest.raises(ExprError):
        s.breakpoints.add("condition", expr="__import__('os').system('true')")


def test_restart_under_another_policy_keeps_breakpoints(seed) -> None:  # type: ignore[no-untyped-def]
    s = Session(seed)
    s.breakpoints.add("abort")
    s.run()
    s.restart(policy="spf-mm-seq")
    assert s.position == 0 and s.scenario.policy == "spf-mm-seq"
    assert len(s.breakpoints.items) == 1
    assert s.continue_().kind == "breakpoint"


def test_deadlock_is_reported_when_no_thread_can_run(seed) -> None:  # type: ignore[no-untyped-def]
    s = Session(seed.with_policy("classic"))
    m = s.machine
    m.mms["A"].lock_writer = 2  # injected: B "holds" A's mmap_lock and never runs again
    m.block(m.threads[2], "an injected wait")
    m.threads[1].state = "done"
    s.breakpoints.add("violation", match="deadlock")
    stop = s.continue_()
    assert stop.kind == "breakpoint" and "deadlock" in stop.text
    assert "A1 on mmap_lock(A) read" in stop.text
    assert [mk.what for mk in s.violations()] == ["deadlock"]


# --- breakpoints name only what the scenario has; a watch reads the same both ways ----------------


@pytest.mark.parametrize(
    ("kind", "kw", "position", "message"),
    [
        ("condition", {"expr": "A1.sate == 'done'"}, 3, "thread A1 has no field 'sate'; did you mean 'state'?"),
        ("watch", {"expr": "A.pte[0x10000].writ"}, 15, "a pte has no field 'writ'; did you mean 'write'?"),
        ("watch", {"expr": "A3.pc"}, 0, "unknown name 'A3'; did you mean 'A2'?"),
        ("watch", {"expr": 'thread["A-1"].pc'}, 7, "no thread 'A-1'; did you mean 'A1'? (threads: A1, A2, B)"),
        ("watch", {"expr": "A1.vmf.orig"}, 7, "a thread's vmf has no field 'orig'; did you mean 'orig_pte'?"),
        ("abort", {"condition": "A.mmap_sq > 0"}, 2, "process A has no field 'mmap_sq'; did you mean 'mmap_seq'?"),
        # keys no state can have, and names that are no value
        ("watch", {"expr": "frame[1].words[4]"}, 15, "a page has 4 words (words_per_page = 4): expected 0 to 3"),
        ("watch", {"expr": "frame[-1].count"}, 6, "expected a frame number (0 or more), found -1"),
        ("condition", {"expr": "A.pte[-1] == 0"}, 6, "expected an address from 0 to 0x7fffffffffff, found -1"),
        ("watch", {"expr": 'A.vma["x"]'}, 6, "expected an address (an int), found str 'x'"),
        ("watch", {"expr": "A"}, 0, "'A' is a process, not a value: read one of its fields (e.g. A.mmap_seq)"),
        ("condition", {"expr": "frame == 1"}, 0, "'frame' is a frame table, not a value"),
    ],
)
def test_a_misspelt_condition_or_watch_is_refused_when_added_at_the_name(  # type: ignore[no-untyped-def]
    seed, kind: str, kw: dict[str, str], position: int, message: str
) -> None:
    from spftui.engine.expr import ExprError

    s = Session(seed)
    with pytest.raises(ExprError) as err:
        s.add_breakpoint(kind, **kw)
    assert err.value.message.startswith(message) and err.value.position == position
    assert s.breakpoints.items == []


def test_a_misspelt_thread_label_or_oracle_is_refused(seed) -> None:  # type: ignore[no-untyped-def]
    s = Session(seed)
    for kind, kw, message in [
        ("abort", {"thread": "A3"}, "no thread 'A3'; did you mean 'A2'?"),
        (
            "step",
            {"match": "wp_page_copy:cpy"},
            "unknown step label 'wp_page_copy:cpy'; did you mean 'wp_page_copy:copy'?",
        ),
        ("violation", {"match": "lost_writes"}, "unknown oracle 'lost_writes'; did you mean 'lost_write'?"),
    ]:
        with pytest.raises(ValueError, match="^" + message.replace("?", r"\?")):
            s.add_breakpoint(kind, **kw)
    assert s.breakpoints.items == []


def test_names_a_run_creates_are_accepted_before_they_exist(seed) -> None:  # type: ignore[no-untyped-def]
    s = Session(seed)
    for expr in ("A1.orig_pte", "A1.vmf.seq", "B.pc", "B.mmap_seq", 'thread["A1"].state', "frame[9].words[0]", "step"):
        s.add_breakpoint("watch", expr=expr)
    fork = load_scenario(ROOT / "scenarios" / "fork_cow_isolation.toml")
    child = next(op.child for t in fork.threads for op in t.ops if op.kind == "fork")
    Session(fork).add_breakpoint("watch", expr=f"{child}.mmap_seq")  # the fork has not happened yet


def test_reverse_continue_onto_a_watch_says_what_changed_and_counts_the_hit(seed) -> None:  # type: ignore[no-untyped-def]
    s = Session(seed.with_policy("spf-refetch-vma"))
    s.add_breakpoint("violation")
    s.add_breakpoint("abort")
    watch = s.add_breakpoint("watch", expr="frame[1].words[1]")  # A2's 42 lands in P's second word
    forward = s.continue_()
    assert forward.text == "frame[1].words[1] changed 0 → 42 (breakpoint 3)" and watch.hits == 1
    at = s.position
    s.run()
    assert "lost write" in s.reverse_continue().text  # the violation at step 52 comes first
    back = s.reverse_continue()
    assert s.position == at and back.kind == "breakpoint"
    assert back.text == forward.text and back.breakpoints == (3,) and back.hits == forward.hits
    assert watch.hits == 2


def test_a_step_label_typed_in_part_is_suggested_in_full() -> None:
    """`copy_pte` (the point, without its function) got no suggestion at all."""
    from spftui.engine.breakpoints import unknown_label

    assert unknown_label("copy_pte") == "unknown step label 'copy_pte'; did you mean 'copy_page_range:copy_pte_range'?"
    assert "did you mean" not in unknown_label("zzz")
