"""The Timeline: the read API over a Session's history, and the Session's commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from spftui.engine import SeededRandom, Session, StepRecord
from spftui.kernel import build_machine
from spftui.scenario import bundled_scenarios_dir, load_scenario

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "scenarios" / "cow_lost_write.toml"
BUNDLED = sorted(bundled_scenarios_dir().glob("*.toml"))


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_replaying_the_timeline_gives_a_fresh_runs_events_step_by_step(path: Path) -> None:
    sc = load_scenario(path)
    s = Session(sc, checkpoint_every=16)
    s.run(limit=3000)
    fresh = build_machine(sc)
    n = 0
    for step, m, events in s.timeline.replay():
        assert step == n
        assert list(events) == fresh.step(s.thread_at(step)), f"step {step}"
        if step % 97 == 0:  # the machine handed out is the state after the step
            assert m.snapshot() == fresh.snapshot()
        n += 1
    assert n == s.length > 0
    assert fresh.snapshot() == s.machine.snapshot()


def test_a_step_record_names_who_ran_what_and_its_events() -> None:
    s = Session(load_scenario(SEED).with_policy("spf-refetch-vma"))
    s.run()
    tl = s.timeline
    mark = s.violations()[0]
    rec = tl[mark.step]
    assert isinstance(rec, StepRecord)
    assert (rec.step, rec.thread, rec.label, rec.manual) == (mark.step, mark.thread, mark.label, False)
    assert any(e.kind == "violation" and e.oracle == "lost_write" for e in rec.events)
    assert tl[-1].step == len(tl) - 1
    with pytest.raises(IndexError):
        tl[len(tl)]


def test_replay_and_machine_at_leave_the_sessions_machine_alone() -> None:
    s = Session(load_scenario(SEED), strategy=SeededRandom(4), checkpoint_every=8)
    s.run()
    s.goto(30)
    here = s.machine.snapshot()
    m10 = s.timeline.machine_at(10)
    list(s.timeline.replay(0, s.length))
    assert s.machine.snapshot() == here and s.position == 30
    s.goto(10)
    assert m10.snapshot() == s.machine.snapshot()
    assert s.timeline.machine_at(10) is not m10  # each call hands out its own machine


def test_a_cursor_follows_the_timeline_forward_and_back() -> None:
    s = Session(load_scenario(SEED), strategy=SeededRandom(2), checkpoint_every=8)
    s.run()
    cursor = s.timeline.cursor()
    for n in (5, 6, 20, 3, s.length):
        want = s.timeline.machine_at(n).snapshot()
        assert cursor.at(n).snapshot() == want, n


def test_a_cut_rewrites_the_future_a_cursor_had_replayed() -> None:
    s = Session(load_scenario(SEED).with_policy("spf-refetch-vma"))
    s.run()
    cursor = s.timeline.cursor()
    cursor.at(25)
    s.goto(20)
    s.step("A1" if s.step_thread(20) != "A1" else "B")  # a new branch from step 20
    s.run()
    assert cursor.at(25).snapshot() == s.timeline.machine_at(25).snapshot()
    assert len(s.timeline.branches) == 1 and s.timeline.branches[0].at == 20


def test_a_watch_stop_says_old_and_new() -> None:
    s = Session(load_scenario(SEED).with_policy("spf-mm-seq"))
    b = s.add_breakpoint("watch", expr="A.mmap_seq")
    stop = s.continue_()
    assert stop is s.stop and stop.kind == "breakpoint" and stop.breakpoints == (b.id,)
    (hit,) = stop.hits
    assert (hit.id, hit.old, hit.new) == (b.id, 0, 1)
    assert "0 → 1" in hit.text


def test_breakpoints_are_switched_through_the_session() -> None:
    s = Session(load_scenario(SEED).with_policy("spf-refetch-vma"))
    b = s.add_breakpoint("violation")
    s.disable_breakpoint(b.id)
    assert s.continue_().kind == "finished"
    s.goto(0)
    s.enable_breakpoint(b.id)
    stop = s.continue_()
    assert stop.kind == "breakpoint" and stop.mark is not None and stop.mark.what == "lost_write"
    s.remove_breakpoint(b.id)
    assert s.breakpoints.items == []


def test_open_at_says_which_violation_it_shows() -> None:
    s = Session(load_scenario(SEED).with_policy("spf-refetch-vma"))
    s.run()
    mark = s.violations()[0]
    s.restart()
    stop = s.open_at(mark.step + 1, because="explorer counterexample", oracle="lost_write")
    assert s.position == mark.step + 1
    assert stop.kind == "breakpoint" and stop.mark == mark
    assert stop.text.startswith("explorer counterexample: lost write")


def test_status_is_a_frozen_record_of_the_status_line() -> None:
    s = Session(load_scenario(SEED))
    s.run()
    s.goto(3)
    st = s.status()
    assert (st.position, st.length, st.stop) == (3, s.length, s.stop)
    assert st.text.startswith(f"step 3 of {s.length} · ")
    with pytest.raises(AttributeError):
        st.position = 4  # type: ignore[misc]


def test_the_sessions_state_is_read_only_from_outside() -> None:
    s = Session(load_scenario(SEED))
    with pytest.raises(AttributeError):
        s.stop = s.stop  # type: ignore[misc]
    with pytest.raises(AttributeError):
        s.position = 3  # type: ignore[misc]
