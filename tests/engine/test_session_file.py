"""Session files: a session saved as TOML comes back the same; bad files are located errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from cli_run import spftui

from spftui.engine import SeededRandom, Session, SessionError
from spftui.engine.files import WriteError
from spftui.engine.session_file import (
    autosave_path,
    dump_session,
    load_session_for,
    save_session,
    state_dir,
)
from spftui.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "scenarios" / "cow_lost_write.toml"


@pytest.fixture(scope="module")
def seed():  # type: ignore[no-untyped-def]
    return load_scenario(SEED)


def worked_on(sc) -> Session:  # type: ignore[no-untyped-def]
    """A session with a watch, a conditional step breakpoint, two branches and a bookmark."""
    s = Session(sc)
    s.add_breakpoint("watch", expr="A1.state")
    s.add_breakpoint("step", match="wp_page_copy:copy", thread="A1", condition="A2.state == 'running'")
    s.disable_breakpoint(s.add_breakpoint("abort").id)
    s.run()
    s.goto(10)
    s.step((s.thread_at(10) + 1) % len(s.names))
    s.run()
    s.goto(25)
    s.step((s.thread_at(25) + 1) % len(s.names))
    s.run()
    s.switch_branch(1)
    s.goto(33)
    s.add_bookmark("copied", 20)
    s.add_bookmark("here")
    return s


def state(s: Session) -> tuple:  # type: ignore[type-arg]
    bps = tuple((b.kind, b.match, b.thread, str(b.expr), str(b.condition), b.enabled) for b in s.breakpoints.items)
    return (s.position, s.branch_id, s.saved_timelines(), bps, s.bookmarks, s.scenario.policy)


def test_a_saved_session_restores_breakpoints_bookmarks_branches_and_the_step(seed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = worked_on(seed)
    path = save_session(s, str(tmp_path / "a.session.toml"))
    restored, warning = load_session_for(path, seed)
    assert warning is None
    assert state(restored) == state(s)
    assert len(restored.branches) == 2
    # the restored machine is the one the user was looking at
    assert restored.machine.snapshot() == s.machine.snapshot()
    # and it keeps going the way the original would
    assert restored.continue_().text == s.continue_().text


def test_a_save_makes_the_state_directory_but_never_a_folder_the_user_named(seed, tmp_path, state_dir) -> None:  # type: ignore[no-untyped-def]
    s = Session(seed)
    assert not state_dir.exists()
    assert Path(save_session(s, autosave_path(seed))).is_file()  # spftui's own: made
    with pytest.raises(WriteError) as err:
        save_session(s, str(tmp_path / "typo" / "deep" / "a.session.toml"))
    assert (
        str(err.value)
        == f"{tmp_path}/typo/deep/a.session.toml: cannot write the session: no such directory: {tmp_path}/typo/deep"
    )
    assert not (tmp_path / "typo").exists()


def test_a_step_past_the_recorded_run_opens_at_its_end_and_says_so(seed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = Path(save_session(worked_on(seed), str(tmp_path / "a.session.toml")))
    path.write_text(path.read_text().replace("step = 33", "step = 9999", 1))
    restored, warning = load_session_for(str(path), seed)
    assert restored.position == restored.length
    assert warning == f"{path}: step = 9999, but the run ends after step {restored.length}: opened there"


def test_a_session_file_is_plain_toml_with_the_scenario_identity(seed) -> None:  # type: ignore[no-untyped-def]
    data = tomllib.loads(dump_session(worked_on(seed)))
    assert data["scenario_name"] == "cow_lost_write"
    assert data["scenario_hash"].startswith("sha256:")
    assert [b["kind"] for b in data["breakpoint"]] == ["watch", "step", "abort"]
    assert data["breakpoint"][2]["enabled"] is False
    assert {m["name"]: m["step"] for m in data["bookmark"]} == {"copied": 20, "here": 33}
    assert [t["branch"] for t in data["timeline"]] == [0, 1, 2]
    assert data["timeline"][1]["manual"] == [11]


def test_a_seeded_session_keeps_its_seed(seed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = Session(seed, strategy=SeededRandom(7))
    s.run(limit=40)
    path = save_session(s, str(tmp_path / "s.toml"))
    restored, _ = load_session_for(path, seed)
    assert isinstance(restored.strategy, SeededRandom) and restored.strategy.seed == 7
    assert restored.saved_timelines() == s.saved_timelines()


def test_a_session_saved_on_another_scenario_is_refused_at_its_hash(seed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    other = load_scenario(ROOT / "scenarios" / "dontneed_race.toml")
    path = save_session(Session(other), str(tmp_path / "o.toml"))
    with pytest.raises(ScenarioError) as err:
        load_session_for(path, seed)
    assert err.value.key == "scenario_hash" and err.value.line == 5
    assert "dontneed_race" in str(err.value)


@pytest.mark.parametrize(
    ("edit", "at", "message"),
    [
        (lambda t: t.replace('expr = "A1.state"', 'expr = "A1.sate"'), "[[breakpoint]]", "sate"),
        (lambda t: t.replace('"A1 17"', '"Z9 17"'), '    "Z9 17"', "Z9"),  # (at its entry)
        (lambda t: t.replace("version = 1", "version = 9"), "version = 9", "version"),
        (lambda t: t.replace("step = 33", "step = -3", 1), "step = -3", "≥ 0"),
        (lambda t: t.replace('kind = "watch"', 'kind = "wach"'), 'kind = "wach"', "wach"),
        (lambda t: t + "colour = 1\n", "colour = 1", "unknown key 'colour'"),
        (lambda t: t.replace("]\n", "", 1), "", "invalid TOML"),
        (lambda t: t.replace("enabled = false", "hits = -2", 1), "hits = -2", "hits: expected a number ≥ 0"),
        (lambda t: t.replace("branch = 2", "branch = 1  # again"), "branch = 1  # again", "duplicate branch 1"),
    ],
)
def test_a_bad_session_file_is_a_located_error_and_stays_as_it_was(seed, tmp_path, edit, at, message) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.session.toml"
    text = edit(dump_session(worked_on(seed)))
    path.write_text(text)
    with pytest.raises(ScenarioError) as err:
        load_session_for(str(path), seed)
    assert message in str(err.value)
    assert str(err.value).startswith(str(path))
    if at:  # the error points at the first line that holds `at`
        assert err.value.line == next(i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith(at))
    assert path.read_text() == text


def test_the_state_directory_follows_the_environment(seed, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("SPFTUI_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert state_dir() == str(tmp_path / "xdg" / "spftui")
    monkeypatch.setenv("SPFTUI_STATE_DIR", str(tmp_path / "own"))
    assert autosave_path(seed).startswith(str(tmp_path / "own" / "sessions" / "cow_lost_write."))


def test_bookmarks_need_a_word_and_goto_names_them(seed) -> None:  # type: ignore[no-untyped-def]
    s = Session(seed)
    s.run()
    assert s.add_bookmark("lost", 40) == 40
    for bad in ("12", "+3", "end", "two words", ""):
        with pytest.raises(SessionError):
            s.add_bookmark(bad)
    with pytest.raises(SessionError, match="did you mean 'lost'"):
        s.bookmark("lsot")
    s.remove_bookmark("lost")
    assert s.bookmarks == {}


def test_a_bookmark_past_the_end_of_the_saved_branch_comes_back_where_it_was(seed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Bookmarks are positions shared by every timeline: saved on a short branch, a bookmark set
    on a longer one came back clamped to the short branch's end."""
    s = Session(seed)
    s.run()
    late = s.length - 2
    s.add_bookmark("late", late)
    s.goto(5)
    s.step((s.thread_at(5) + 1) % len(s.names))  # a new branch, 6 steps long
    assert s.length == 6 and late > 6
    restored, _ = load_session_for(save_session(s, str(tmp_path / "a.session.toml")), seed)
    assert restored.bookmarks == {"late": late}
    restored.switch_branch(0)
    restored.goto(restored.bookmark("late"))
    assert restored.position == late
    with pytest.raises(SessionError, match="step -1 is outside every run"):
        restored.add_bookmark("nowhere", -1)


def test_a_session_whose_bookmark_is_past_every_timeline_opens_with_it(seed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A restart drops the timelines and keeps the bookmarks: saved then, the file still opens
    (it was refused whole: breakpoints, branches and all), and going to the bookmark runs on to it."""
    s = Session(seed)
    s.run()
    end = s.length
    s.add_bookmark("lost")
    s.restart()
    assert s.length == 0 and s.bookmarks == {"lost": end}
    restored, warning = load_session_for(save_session(s, str(tmp_path / "a.session.toml")), seed)
    assert restored.bookmarks == {"lost": end} and warning is None
    restored.open_at(restored.bookmark("lost"))
    assert restored.position == end


def test_follow_branches_where_the_steps_leave_the_timeline_and_keeps_the_strategy(seed) -> None:  # type: ignore[no-untyped-def]
    s = Session(seed)
    s.run()
    mine = [s.thread_at(i) for i in range(s.length)]
    other = [*mine[:12], (mine[12] + 1) % len(s.names)]
    s.follow(other)
    assert s.position == 13 and s.branch_id == 1 and [b.at for b in s.branches] == [12]
    assert s.is_manual(12) and not s.is_manual(11)
    strategy = s.strategy
    s.run()
    assert s.strategy is strategy and s.finished()


def test_the_state_directory_expands_a_tilde_and_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spftui.engine.session_file import state_dir

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SPFTUI_STATE_DIR", "~/spft")  # quoted in a shell: left for us to expand
    assert state_dir() == str(tmp_path / "spft")
    monkeypatch.delenv("SPFTUI_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", "rel")
    monkeypatch.chdir(tmp_path)
    assert state_dir() == str(tmp_path / "rel" / "spftui")


def test_a_session_keeps_the_fixes_its_run_had_out(tmp_path: Path) -> None:
    """Saved with `--fix foll_cow=off`, it reopens with foll_cow off: its steps and bookmarks
    are of that run (it reopened with the fix on, at a step with no violation)."""
    from spftui.engine.session_file import load_session_for, save_session

    sc = load_scenario(ROOT / "scenarios" / "history_dirty_cow.toml")
    s = Session(sc.with_fixes({"foll_cow": False}))
    s.run()
    violated = [mk.what for mk in s.violations()]
    assert violated  # (the race the fix closes)
    path = save_session(s, str(tmp_path / "off.session.toml"))
    assert 'fixes_off = ["foll_cow"]' in Path(path).read_text()
    again, _ = load_session_for(path, sc)
    assert "foll_cow" in again.scenario.fixes_off and [mk.what for mk in again.violations()] == violated


def test_a_bookmark_remembers_its_timeline_and_says_when_this_one_differs_before_it(seed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Bookmarks are step numbers: on another branch that differs before the step, `g NAME` lands on
    another state. The session says so (and keeps which timeline each was set on in its file)."""
    s = Session(seed)
    s.run()
    s.add_bookmark("early", 3)
    s.add_bookmark("late", 20)
    first = s.branch_id
    s.goto(5)
    s.step((s.thread_at(5) + 1) % len(s.names))  # a new branch from step 6
    assert s.branch_id != first
    assert s.bookmark_note("early") is None  # (the same steps up to it)
    note = s.bookmark_note("late")
    assert (
        note
        == f"bookmark 'late' was set on branch {first}, which differs from this one from step 6: step 20 here is another state"
    )
    s.add_bookmark("here")
    assert s.bookmark_note("here") is None
    restored, _ = load_session_for(save_session(s, str(tmp_path / "b.session.toml")), seed)
    assert restored.bookmark_note("late") == note and restored.bookmark_branch("here") == restored.branch_id
    restored.restart()
    assert restored.bookmark_note("late") is None  # (a restart keeps the bookmarks as steps of the run to come)


# Each: the edit, the error as the command line prints it (its line and key; {path} is the file).
# They were taken (or half taken) and the rest dropped silently.
BROKEN = {
    "a branch no timeline has": (
        lambda t: t.replace("branch = 1\nstep = 33", "branch = 7\nstep = 33"),
        "{path}:16: branch: no timeline with branch = 7 (the file's [[timeline]] tables have branch 0, 1, 2)",
    ),
    "a timeline longer than the run": (
        lambda t: t.replace('"A1 17"', '"A1 200"'),
        "{path}:46: timeline[0].steps[0]: this timeline (branch 0) does not replay on this scenario: "
        "step 24: A1 cannot run: it is finished",
    ),
    "a later entry of another timeline": (
        lambda t: t.replace('"A1 5"', '"A1 9"'),
        "{path}:74: timeline[2].steps[7]: this timeline (branch 2) does not replay on this scenario: "
        "step 55: A1 cannot run: it is finished",
    ),
    "a seed beside the schedule": (
        lambda t: t.replace("fixes_off = []\n", "fixes_off = []\nseed = 3\n"),
        "{path}:10: schedule: a session replays one strategy: give seed (line 9) or schedule, not both",
    ),
    "two bookmarks of one name": (
        lambda t: t.replace('name = "here"', 'name = "copied"'),
        "{path}:39: bookmark[1].name: duplicate bookmark 'copied' (first on line 34)",
    ),
    "a bookmark on a branch no timeline has": (
        lambda t: t.replace("step = 33\nbranch = 1", "step = 33\nbranch = 9"),
        "{path}:41: bookmark[1].branch: no timeline with branch = 9 "
        "(the file's [[timeline]] tables have branch 0, 1, 2)",
    ),
    "a step chosen by hand past the timeline's end": (
        lambda t: t.replace("manual = [11]", "manual = [11, 500]"),
        "{path}:62: timeline[1].manual[1]: step 500 is not on this timeline (branch 1): its steps add up to 54",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_what_a_session_file_cannot_mean_is_refused_at_its_line_and_key(seed, tmp_path, case) -> None:  # type: ignore[no-untyped-def]
    """`spftui SCENARIO --session FILE` says where (exit 2, no traceback) before the debugger opens,
    and the TUI's own loading (load_session_for) raises the same located error."""
    edit, said = BROKEN[case]
    path = tmp_path / "bad.session.toml"
    text = dump_session(worked_on(seed))
    assert edit(text) != text
    path.write_text(edit(text))
    r = spftui("cow_lost_write", "--session", str(path))
    assert (r.returncode, r.stdout, r.stderr) == (2, "", f"spftui: error: {said.format(path=path)}\n")
    with pytest.raises(ScenarioError) as err:
        load_session_for(str(path), seed)
    assert str(err.value) == said.format(path=path)


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (
            lambda t: t.replace("condition = \"A2.state == 'running'\"", 'condition = "1/0"'),
            "{path}:27: breakpoint[1].condition: division by zero at the start of the run: breakpoint 2 never fires",
        ),
        (
            lambda t: t.replace('expr = "A1.state"', 'expr = "A.mmap_seq > \\"x\\""'),
            "{path}:21: breakpoint[0].expr: '>' orders two ints or two strs, got int 0 and str \"x\" at the "
            "start of the run: breakpoint 1 never fires",
        ),
    ],
)
def test_a_breakpoint_that_never_fires_opens_with_a_warning_at_its_line(seed, tmp_path, edit, said) -> None:  # type: ignore[no-untyped-def]
    """It loaded silently; refused, a session saved on a scenario whose own [[breakpoint]] is
    such (the debugger sets it, with a warning) could not be opened again: it is said instead."""
    path = tmp_path / "bad.session.toml"
    text = dump_session(worked_on(seed))
    assert edit(text) != text
    path.write_text(edit(text))
    restored, warning = load_session_for(str(path), seed)
    assert warning == said.format(path=path) and len(restored.breakpoints.items) == 3  # (all kept)


def test_branch_ids_with_gaps_are_read_as_the_files_own(seed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A hand-edited file whose timelines are branch 0 and 5: `branch = 5` and a bookmark on 5 are
    that timeline (they were refused, and a bookmark on 5 moved to the current one)."""
    s = worked_on(seed)
    text = dump_session(s).replace("branch = 2", "branch = 5")
    text = text.replace("step = 33\nbranch = 1", "step = 33\nbranch = 5")
    path = tmp_path / "gaps.session.toml"
    path.write_text(text.replace("branch = 1\nstep = 33", "branch = 5\nstep = 33"))
    restored, warning = load_session_for(str(path), seed)
    assert warning is None and restored.branch_id == 2  # (renumbered 0, 1, 2 in id order)
    assert restored.bookmark_branch("here") == 2 and restored.bookmark_branch("copied") == 1
