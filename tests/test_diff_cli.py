"""`spftui diff` on the seed race: the first divergence and the reordered pair that matters, through the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_run import spftui

from spftui.engine.diff import DiffCancelled, diff_runs
from spftui.engine.opening import open_scenario
from spftui.engine.recording import record_entries
from spftui.scenario import parse_entry


def schedules(tmp_path: Path) -> tuple[str, str]:
    passing = tmp_path / "pass.schedule.toml"
    passing.write_text('steps = ["A1 until done", "B until done", "A2 until done"]\n')
    failing = tmp_path / "fail.schedule.toml"
    r = spftui("check", "cow_lost_write", "--save-schedule", str(failing))
    assert r.returncode == 0, r.stderr
    return str(passing), str(failing)


def test_diff_names_the_first_divergence_and_a_pair_whose_flip_replays_the_lost_write(tmp_path: Path) -> None:
    passing, failing = schedules(tmp_path)
    r = spftui("diff", "cow_lost_write", passing, failing, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["a"]["violations"] == [] and d["b"]["violations"][0]["oracle"] == "lost_write"
    assert d["failing"] == "b" and d["oracle"] == "lost_write" and d["reproduces"]
    # the scenario's schedule runs A1 to wp_page_copy:copy and 4 more steps, then B: A1's 18th step differs
    assert d["divergence"]["step"] == 18
    assert (d["divergence"]["a"]["thread"], d["divergence"]["b"]["thread"]) == ("A1", "B")
    assert 1 <= len(d["pairs"]) < d["reordered_pairs"]
    for p in d["pairs"]:
        assert p["first"]["thread"] != p["second"]["thread"]
        assert p["first"]["step_fail"] < p["second"]["step_fail"]
        # touched by both steps in the failing run; named as both's only where the passing run agrees
        assert p["failing_objects"] and set(p["objects"]) <= set(p["failing_objects"])
    # the flipped schedule the diff reports does replay the lost write
    flipped = tmp_path / "flipped.schedule.toml"
    flipped.write_text("steps = [" + ", ".join(f'"{e}"' for e in d["flipped"]) + "]\n")
    check = spftui("check", "cow_lost_write", "--schedule", str(flipped), "--json")
    assert [v["kind"] for v in json.loads(check.stdout)["violations"]] == ["lost_write"]


def test_diff_prose_lines_are_whole_when_piped_and_its_table_fits_80_columns(tmp_path: Path) -> None:
    passing, failing = schedules(tmp_path)
    r = spftui("diff", "cow_lost_write", passing, failing)  # (stdout is not a terminal)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    # one line each, as check prints them: not cut at 80 columns as `lost_write at step \n52`
    assert f"B {failing}: 54 steps, lost_write at step 52 (A1)" in lines
    divergence = "First divergence at step 18: A runs A1 (pte_map_lock:seq_check), B runs B ("
    assert any(line.startswith(divergence) and line.endswith(").") for line in lines)
    assert "This one is enough" in r.stdout or "are enough" in r.stdout
    pairs = [line for line in lines if line.startswith("  1. ")]
    assert pairs and pairs[0].endswith(".") and "both touch" in pairs[0]
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("┏")) :]
    assert "▶" in "".join(table)  # the pair's steps are marked in the table
    assert max(len(line) for line in table) <= 80


def test_diff_of_a_schedule_with_itself_says_the_runs_are_the_same(tmp_path: Path) -> None:
    _, failing = schedules(tmp_path)
    r = spftui("diff", "cow_lost_write", failing, failing, "--json")
    assert r.returncode == 0
    d = json.loads(r.stdout)
    assert d["divergence"] is None and d["failing"] is None and d["pairs"] == []


def test_diff_with_a_bad_schedule_file_names_file_line_and_key(tmp_path: Path) -> None:
    passing, _ = schedules(tmp_path)
    bad = tmp_path / "bad.schedule.toml"
    bad.write_text('steps = [\n  "A1 3",\n  "Z 2",\n]\n')
    r = spftui("diff", "cow_lost_write", passing, str(bad))
    assert r.returncode == 2
    assert re.search(r"bad\.schedule\.toml:3: steps\[1\]: .*'Z'", r.stderr), r.stderr
    assert "Traceback" not in r.stderr


def test_a_diff_stops_between_replays_when_asked() -> None:
    """The debugger's Compare screen stops it on Esc (report.py's cancel)."""
    sc = open_scenario("cow_lost_write").scenario
    entries = [parse_entry(e) for e in ("A1 until done", "B until done", "A2 until done")]
    passing = record_entries(sc, entries)
    failing = record_entries(sc, sc.schedule or ())
    asked = []

    def cancelled() -> bool:
        asked.append(1)
        return len(asked) > 3

    with pytest.raises(DiffCancelled):
        diff_runs(sc, passing, failing, cancelled=cancelled)
    assert len(asked) == 4
    assert diff_runs(sc, passing, failing, cancelled=lambda: False).pairs


def test_a_flipped_pair_says_both_touch_only_what_the_two_steps_share_in_both_runs() -> None:
    from spftui.engine.diff import Pair, PairStep, touch

    def pair(objects: tuple[str, ...], failing: tuple[str, ...], first_pass: int = 3) -> Pair:
        return Pair(PairStep("A2", "x", first_pass, 4), PairStep("A1", "y", 2, 5), objects, failing)

    assert touch(pair(("mm A",), ("mm A",)), "B", "A") == "both touch mm A"
    assert touch(pair(("mm A",), ("PTE table 0", "mm A")), "B", "A") == "both touch mm A (in B also PTE table 0)"
    assert touch(pair((), ("mm A",)), "B", "A") == "in B both touch mm A (in A they share nothing)"
    assert touch(pair((), ("mm A",), 0), "B", "A") == "in B both touch mm A (A never runs A2's step)"
