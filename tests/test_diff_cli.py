"""`spftui diff` on the seed race: the first divergence and the reordered pair that matters, through the CLI."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from cli_run import spftui

from spftui.engine.diff import DiffCancelled, diff_runs, side_rows
from spftui.engine.opening import open_scenario
from spftui.engine.recording import record_entries
from spftui.kernel.paths import all_labels
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
    assert d["run1"]["violations"] == [] and d["run2"]["violations"][0]["oracle"] == "lost_write"
    assert d["failing"] == "run2" and d["oracle"] == "lost_write" and d["reproduces"]
    # the scenario's schedule runs A1 to wp_page_copy:copy and 4 more steps, then B: A1's 18th step differs
    assert d["divergence"]["step"] == 18
    assert (d["divergence"]["run1"]["thread"], d["divergence"]["run2"]["thread"]) == ("A1", "B")
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
    assert f"Run 2 = {failing}: 54 steps, lost_write at step 52 (A1)" in lines
    divergence = (
        "First divergence at step 18: A1 pte_map_lock:seq_check in run 1, B __do_munmap:mmap_write_lock in run 2."
    )
    assert divergence in lines
    assert "This one is enough" in r.stdout or "are enough" in r.stdout
    pairs = [line for line in lines if line.startswith("  1. ")]
    assert pairs and pairs[0].endswith(".") and "both touch" in pairs[0]
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("┏")) :]
    assert "▶" in "".join(table)  # the pair's steps are marked in the table
    assert max(len(line) for line in table) <= 80


def test_the_runs_are_run_1_and_run_2_never_a_and_b_which_read_as_threads(tmp_path: Path) -> None:
    """`A runs B (...)`, `(B step 24)`, `in A: step 6` read as the threads A1, A2 and B."""
    passing, failing = schedules(tmp_path)
    r = spftui("diff", "cow_lost_write", passing, failing)
    assert r.returncode == 0, r.stderr
    assert not re.search(r"\b[AB] (runs|step|=)|in [AB]:|[AB]'s order|^[AB] ", r.stdout, re.M), r.stdout
    header = next(line for line in r.stdout.splitlines() if line.startswith("┃"))
    assert header.split("┃")[2:4] == [f" {'run 1':<34} ", f" {'run 2':<34} "]
    d = json.loads(spftui("diff", "cow_lost_write", passing, failing, "--json").stdout)
    assert {"run1", "run2"} <= set(d) and not {"a", "b"} & set(d)
    assert set(d["divergence"]) == {"step", "run1", "run2"} and d["failing"] == "run2"


def test_the_reordered_pairs_name_the_runs_in_the_order_given(tmp_path: Path) -> None:
    """With the failing run first it said "... in opposite orders in run 2 and run 1"."""
    passing, failing = schedules(tmp_path)
    for first, second in ((failing, passing), (passing, failing)):
        r = spftui("diff", "cow_lost_write", first, second)
        assert r.returncode == 0, r.stderr
        assert re.search(
            r"^\d+ pairs of conflicting steps run in opposite orders in run 1 and run 2\.$", r.stdout, re.M
        )


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

    def pair(objects: tuple[str, ...], failing: tuple[str, ...], first_pass: int | None = 3) -> Pair:
        return Pair(PairStep("A2", "x", first_pass, 4), PairStep("A1", "y", 2, 5), objects, failing)

    run1, run2 = "run 1", "run 2"
    assert touch(pair(("mm A",), ("mm A",)), run2, run1) == "both touch mm A"
    assert touch(pair(("mm A",), ("PTE table 0", "mm A")), run2, run1) == "both touch mm A (in run 2 also PTE table 0)"
    assert touch(pair((), ("mm A",)), run2, run1) == "in run 2 both touch mm A (in run 1 they share nothing)"
    assert touch(pair((), ("mm A",), None), run2, run1) == "in run 2 both touch mm A (run 1 never runs A2's step)"


# A step is matched across the runs by (thread, op, label, occurrence of that label in the op),
# not by its rank among its thread's steps: a thread that takes another path in one run (a
# spurious fault there, the reuse path here) has its n-th step be a different step in each.
REFETCH = ("--policy", "spf-refetch-vma")


def save(tmp_path: Path, name: str, *how: str) -> str:
    path = tmp_path / f"{name}.schedule.toml"
    r = spftui("check", "cow_lost_write", *REFETCH, *how, "--save-schedule", str(path))
    assert r.returncode == 0, r.stderr
    return str(path)


def labels(schedule: str) -> list[tuple[str, str]]:
    """(thread, label) of each step (1-based number = index + 1) of `schedule`, as `trace --json` has them."""
    r = spftui("trace", "cow_lost_write", *REFETCH, "--schedule", schedule, "--json")
    assert r.returncode == 0, r.stderr
    steps = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    steps = [s for s in steps if "step" in s and "label" in s]
    assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))
    return [(s["thread"], s["label"]) for s in steps]


def assert_pairs_name_the_runs_steps(d: dict, a: str, b: str) -> None:
    """Each pair step's numbers in runs 1 and 2 are steps of that thread with that label (or null: never runs)."""
    runs = {"run1": labels(a), "run2": labels(b)}
    fail, ok = d["failing"], "run2" if d["failing"] == "run1" else "run1"
    assert d["pairs"]
    for p in d["pairs"]:
        for s in (p["first"], p["second"]):
            assert runs[fail][s["step_fail"] - 1] == (s["thread"], s["label"]), s
            assert s["step_pass"] != 0, s  # step 0 is the start: a step that never runs is null
            if s["step_pass"] is not None:
                assert runs[ok][s["step_pass"] - 1] == (s["thread"], s["label"]), s


def test_a_pair_step_is_found_in_the_other_run_by_its_label_not_its_rank(tmp_path: Path) -> None:
    """A2 takes a spurious fault in one run and not the other: its 22nd step differs, its unlock does not."""
    br1 = tmp_path / "br1.schedule.toml"
    br1.write_text('scenario = "cow_lost_write"\npolicy = "spf-refetch-vma"\nsteps = ["A1 17", "A2"]\n')
    a = save(tmp_path, "a")
    r = spftui("diff", "cow_lost_write", str(br1), a, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["failing"] == "run2" and d["reproduces"]
    assert_pairs_name_the_runs_steps(d, str(br1), a)
    unlock = [s for p in d["pairs"] for s in (p["first"], p["second"]) if s["label"].endswith("mmap_write_unlock")]
    assert unlock and all(s["step_pass"] is not None for s in unlock)  # run 1 runs it (was: "A never runs A2's step")
    text = spftui("diff", "cow_lost_write", str(br1), a).stdout
    assert "never runs" not in text


def test_the_steps_a_diff_names_and_marks_are_the_runs_steps(tmp_path: Path) -> None:
    """A2's store is run 1's step 38 and run 2's step 35 by rank; run 2's step 35 is handle_pte_fault:pte_same."""
    a, b = save(tmp_path, "a"), save(tmp_path, "b", "--seed", "3")
    r = spftui("diff", "cow_lost_write", a, b, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["failing"] == "run1" and d["reproduces"]
    assert_pairs_name_the_runs_steps(d, a, b)
    # the table's ▶ marks sit on those steps' rows, in both columns
    sc = open_scenario("cow_lost_write", "spf-refetch-vma").scenario
    runs = [
        record_entries(sc, open_scenario("cow_lost_write", "spf-refetch-vma", schedule=s).entries or ()) for s in (a, b)
    ]
    diff = diff_runs(sc, *runs)
    steps = {"a": set(), "b": set()}
    for p in diff.pairs:
        for s in (p.first, p.second):
            steps["a"].add((s.step_fail, f"{s.thread} {s.label}"))
            if s.step_pass is not None:
                steps["b"].add((s.step_pass, f"{s.thread} {s.label}"))
    rows = side_rows(diff)
    assert {(r.step, r.a) for r in rows if r.marked_a} == steps["a"]
    assert {(r.step, r.b) for r in rows if r.marked_b} == steps["b"]


def test_a_pair_step_the_passing_run_never_takes_is_null_in_json_and_said_in_prose(tmp_path: Path) -> None:
    passing, failing = save(tmp_path, "s0", "--seed", "0"), save(tmp_path, "a")
    r = spftui("diff", "cow_lost_write", passing, failing, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["failing"] == "run2"
    assert_pairs_name_the_runs_steps(d, passing, failing)
    never = [s for p in d["pairs"] for s in (p["first"], p["second"]) if s["step_pass"] is None]
    assert never
    text = spftui("diff", "cow_lost_write", passing, failing).stdout
    assert f"run 1 never runs {never[0]['thread']}'s step" in text


def test_the_side_by_side_table_breaks_a_step_after_its_function_never_inside_a_word(tmp_path: Path) -> None:
    a, b = save(tmp_path, "a"), save(tmp_path, "b", "--seed", "3")
    for columns in ("80", "60"):
        r = spftui("diff", "cow_lost_write", a, b, env={**os.environ, "COLUMNS": columns})  # (piped)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        table = lines[next(i for i, line in enumerate(lines) if line.startswith("┏")) :]
        assert max(len(line) for line in table) <= int(columns)
        cells = [c.strip().removeprefix("▶ ") for line in table[3:-1] for c in line.split("│")[2:4]]
        labels = all_labels()
        whole = {*labels, *(f"{x.partition(':')[0]}:" for x in labels), *(x.partition(":")[2] for x in labels)}
        for part in (p for cell in cells for p in cell.split()):
            # a thread, a label, a label's function (then `:`) or its step, a gap's "(N steps)"
            assert part in whole | {"A1", "A2", "B", "steps)", "step)"} or re.fullmatch(r"\(\d+", part), part


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_diff_oracle_names_that_oracle_when_neither_run_reports_it(tmp_path: Path, order: tuple[int, int]) -> None:
    """One run has a lost_write, the other none; `--oracle stray_pte` said "Both schedules report a
    violation" (or, swapped, "Both schedules pass") from run 1's violations of any oracle, and
    `--json` gave `"oracle": null`."""
    runs = schedules(tmp_path)
    first, second = runs[order[0]], runs[order[1]]
    r = spftui("diff", "cow_lost_write", first, second, "--oracle", "stray_pte")
    assert r.returncode == 0, r.stderr
    assert "Neither run reports stray_pte: no passing/failing pair to explain." in r.stdout
    assert "Both schedules" not in r.stdout
    d = json.loads(spftui("diff", "cow_lost_write", first, second, "--oracle", "stray_pte", "--json").stdout)
    assert d["oracle"] == "stray_pte" and d["failing"] is None


def test_diff_oracle_that_both_runs_report_says_so(tmp_path: Path) -> None:
    _, failing = schedules(tmp_path)
    r = spftui("diff", "cow_lost_write", failing, failing, "--oracle", "lost_write", "--json")
    assert json.loads(r.stdout)["oracle"] == "lost_write"
