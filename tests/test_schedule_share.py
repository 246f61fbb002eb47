"""Schedule files you can share: the scenario named by bundled name or relative path plus its
content hash (never an absolute path), and label-based entries that replay the same steps."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import attrs
import pytest
from cli_run import spftui

from spftui.engine import SeededRandom, Session
from spftui.engine.opening import open_scenario
from spftui.engine.schedule import Replay
from spftui.engine.schedule_file import labelled
from spftui.scenario import list_bundled

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "scenarios" / "cow_lost_write.toml"


def violations(*args: str, cwd: Path = ROOT) -> list[tuple[str, int, str]]:
    r = spftui("check", *args, "--json", cwd=cwd)
    assert r.returncode == 0, r.stderr
    return [(v["kind"], v["step"], v["label"]) for v in json.loads(r.stdout)["violations"]]


def test_a_schedule_moved_with_its_scenario_replays_to_the_same_violation(tmp_path: Path) -> None:
    here, there = tmp_path / "mine", tmp_path / "elsewhere" / "shared"
    here.mkdir()
    shutil.copy(SEED, here / "race.toml")
    before = violations(str(here / "race.toml"), "--policy", "spf-refetch-vma")
    r = spftui("check", "race.toml", "--policy", "spf-refetch-vma", "--save-schedule", "run.toml", cwd=here)
    assert r.returncode == 0, r.stderr
    text = (here / "run.toml").read_text()
    data = tomllib.loads(text)
    assert data["scenario"] == "race.toml" and str(tmp_path) not in text  # relative, never absolute
    assert data["scenario_name"] == "race" and data["scenario_hash"].startswith("sha256:")
    assert any(" until " in step for step in data["steps"])
    shutil.move(here, there)
    # by the schedule alone (it names its scenario), and with the scenario given, from another cwd
    assert violations(str(there / "run.toml"), cwd=tmp_path) == before
    assert violations(str(there / "race.toml"), "--schedule", str(there / "run.toml"), cwd=tmp_path) == before
    assert before == [("lost_write", 52, "wp_page_copy:pte_same")]


def test_a_bundled_scenario_is_named_by_its_bundled_name_and_runs_become_labels(tmp_path: Path) -> None:
    r = spftui("check", "cow_lost_write", "--save-schedule", str(tmp_path / "x.schedule.toml"))
    assert r.returncode == 0, r.stderr
    data = tomllib.loads((tmp_path / "x.schedule.toml").read_text())
    assert data["scenario"] == "cow_lost_write"
    # A1's run to the copy ends at pte_map_lock:seq_check, which it already passed: split where a label is unique
    assert data["steps"] == [
        "A1 until wp_page_copy:copy",
        "A1 until pte_map_lock:seq_check",
        "B until done",
        "A2 until done",
        "A1 until done",
    ]
    assert violations(str(tmp_path / "x.schedule.toml")) == violations("cow_lost_write")


def test_an_old_count_based_schedule_with_an_absolute_path_still_loads(tmp_path: Path) -> None:
    old = tmp_path / "old.schedule.toml"
    old.write_text(
        'scenario = "/gone/venv/lib/python3.11/site-packages/spftui/scenarios/cow_lost_write.toml"\n'
        'scenario_name = "cow_lost_write"\npolicy = "spf-refetch-vma"\nreuse = "mapcount"\nstop_at = 52\n'
        'steps = ["A1 17", "B 9", "A2 22", "A1 6"]\n'
    )
    assert violations(str(old)) == [("lost_write", 52, "wp_page_copy:pte_same")]
    assert violations("cow_lost_write", "--schedule", str(old)) == [("lost_write", 52, "wp_page_copy:pte_same")]


def test_a_schedule_whose_scenario_cannot_be_found_says_so(tmp_path: Path) -> None:
    lost = tmp_path / "lost.schedule.toml"
    lost.write_text('scenario = "nowhere.toml"\nsteps = ["A1"]\n')
    r = spftui("check", str(lost))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "lost.schedule.toml:1: scenario: cannot find the scenario it was recorded on (nowhere.toml)" in r.stderr


def saved_schedule(tmp_path: Path, scenario_line: str) -> Path:
    """A schedule saved on cow_lost_write with its `scenario = ...` line replaced ("": removed)."""
    r = spftui("check", "cow_lost_write", "--save-schedule", str(tmp_path / "saved.toml"))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "edited.toml"
    lines = (tmp_path / "saved.toml").read_text().splitlines(keepends=True)
    out.write_text("".join(scenario_line if line.startswith("scenario = ") else line for line in lines))
    return out


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ('scenario = "nope"\n', "scenario 'nope' not found"),
        ('scenario = "/gone/cow_lost_write.toml"\n', "scenario '/gone/cow_lost_write.toml' not found"),
        ("", "`scenario` not given"),
    ],
)
def test_a_schedule_whose_scenario_is_not_found_says_it_opens_the_bundled_one(
    tmp_path: Path, line: str, said: str
) -> None:
    edited = saved_schedule(tmp_path, line)
    r = spftui("check", str(edited))
    assert r.returncode == 0, r.stderr
    assert r.stderr == f"spftui: warning: {edited}: {said}; opening the bundled 'cow_lost_write' (its scenario_name)\n"


@pytest.mark.parametrize(
    ("value", "said"),
    [("/tmp", "'/tmp' is a directory"), ("edited.toml", "'edited.toml' is a schedule file")],
)
def test_a_schedule_naming_a_directory_or_a_schedule_as_its_scenario_is_an_error_at_that_line(
    tmp_path: Path, value: str, said: str
) -> None:
    edited = saved_schedule(tmp_path, f'scenario = "{value}"\n')
    r = spftui("check", str(edited))
    assert r.returncode == 2 and r.stdout == ""
    line = edited.read_text().splitlines().index(f'scenario = "{value}"') + 1
    assert r.stderr == (
        f"spftui: error: {edited}:{line}: scenario: {said}; expected a scenario file or a bundled scenario's name\n"
    )


@pytest.mark.parametrize("path", [p for p, _ in list_bundled()], ids=lambda p: p.stem)
def test_labelled_entries_replay_the_same_steps_as_the_recorded_run(path: Path) -> None:
    sc = open_scenario(str(path)).scenario
    labels = 0
    for seed in (1, 2, 5):
        s = Session(sc, strategy=SeededRandom(seed))
        s.run(limit=5_000)
        entries = labelled(sc, s.schedule_entries())
        labels += sum(e.until is not None for e in entries)
        replayed = Session(sc, strategy=Replay(entries))
        replayed.run(limit=s.length)
        assert [replayed.thread_at(i) for i in range(s.length)] == [s.thread_at(i) for i in range(s.length)]
        assert replayed.length == s.length
    assert labels  # not the counts kept because a labelled schedule would have replayed differently


def test_runs_that_cross_an_op_boundary_still_get_labels() -> None:
    """Between two ops a thread's pc is "" (its next op has not started): an `until` must never name
    the first label of the next op, or the replay runs past it (it then falls back to counts)."""
    sc = open_scenario("fork_cow_isolation").scenario
    sc = attrs.evolve(sc, threads=tuple(attrs.evolve(t, repeat=100) for t in sc.threads))
    s = Session(sc, strategy=SeededRandom(1))
    s.run(limit=5_000)
    entries = labelled(sc, s.schedule_entries())
    assert sum(e.until is not None for e in entries) > len(entries) // 20
    replayed = Session(sc, strategy=Replay(entries))
    replayed.run(limit=s.length)
    assert [replayed.thread_at(i) for i in range(s.length)] == [s.thread_at(i) for i in range(s.length)]
