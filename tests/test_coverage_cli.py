"""`spftui coverage`: which writer steps landed inside which speculative windows, through the CLI and the engine API."""

from __future__ import annotations

import json
import os

from cli_run import spftui

from spftui.engine.coverage import coverage
from spftui.engine.opening import open_scenario


def cells(
    data: dict[str, object],
) -> tuple[dict[str, tuple[str, str, str]], set[tuple[str, str]], set[tuple[str, str]]]:
    checks = {c["id"]: (c["thread"], c["label"], c["check"]) for c in data["checks"]}  # type: ignore[attr-defined]
    writers = {w["id"]: (w["thread"], w["label"]) for w in data["writers"]}  # type: ignore[attr-defined]
    hit = {(checks[r][0] + " " + checks[r][2], " ".join(writers[c])) for r, c, _ in data["hit"]}  # type: ignore[attr-defined]
    never = {(checks[r][0] + " " + checks[r][2], " ".join(writers[c])) for r, c in data["never"]}  # type: ignore[attr-defined]
    return checks, hit, never


def test_refetch_vma_coverage_shows_the_mprotect_inside_a1s_refetch_window() -> None:
    r = spftui("coverage", "cow_lost_write", "--pct", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["policy"] == "spf-refetch-vma" and data["mode"] == "pct" and data["runs"] == 200
    _, hit, _ = cells(data)
    assert ("A1 REFETCH", "A2 mprotect_fixup:vm_flags") in hit  # the seed race's window
    assert ("A1 REFETCH", "B zap_pte_range:zap") in hit


def test_classic_coverage_never_puts_an_mprotect_inside_a_fault() -> None:
    data = json.loads(spftui("coverage", "cow_lost_write", "--policy", "classic", "--json").stdout)
    checks, hit, never = cells(data)
    assert {c[2] for c in checks.values()} == {"pte_same"}  # no speculative check: mmap_lock is held
    assert ("A1 pte_same", "A2 mprotect_fixup:vm_flags") in never  # mprotect waits for A1's mmap_lock
    assert not any(w == "A2 mprotect_fixup:vm_flags" and c.startswith("A1") for c, w in hit)


def test_exhaustive_coverage_is_complete_and_holds_every_sampled_hit() -> None:
    sc = open_scenario("dontneed_race").scenario
    full = coverage(sc, mode="exhaustive")
    assert full.complete
    for mode in ("random", "pct"):
        sampled = coverage(sc, mode=mode, runs=100)
        assert set(sampled.hits) <= set(full.hits)
    assert full.never() == [(r, c) for r, c, n in full.cells() if n == 0]


def test_coverage_piped_fits_its_matrix_to_80_columns_and_prints_prose_lines_whole() -> None:
    r = spftui("coverage", "cow_lost_write")  # (stdout is not a terminal)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any(line.endswith("windows interleaved. A cell counts the times (over all runs) the writer step ran inside the "
               "check's window; · never, blank: same thread.") for line in lines)  # fmt: skip
    never = lines.index(next(line for line in lines if line.startswith("Never interleaved")))
    assert all(" × A" in line or " × B" in line for line in lines[never + 1 :])  # one line per check, not folded
    legend = next(i for i, line in enumerate(lines) if line.endswith("×"))  # (after the matrix: "C1 ... ran 21×")
    assert max(len(line) for line in lines[3:legend]) <= 80  # the matrix's column groups
    wide = spftui("coverage", "cow_lost_write", env={**os.environ, "COLUMNS": "200"})
    assert max(len(line) for line in wide.stdout.splitlines()) > 80  # a wider terminal gets wider groups


def test_coverage_bad_input_exits_2_without_a_traceback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = spftui("coverage", "cow_lost_write", "--runs", "0")
    assert r.returncode == 2 and "--runs" in r.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('title = "x"\n[[thread]]\nname = "T"\nprocess = "P"\nops = ["read 0x1000"]\n')
    r = spftui("coverage", str(bad))
    assert r.returncode == 2 and "bad.toml:4: thread[0].process:" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_coverage_stops_when_cancelled_and_returns_the_matrix_so_far() -> None:
    sc = open_scenario("cow_lost_write").scenario
    asked = [0]

    def after_ten() -> bool:
        asked[0] += 1
        return asked[0] > 10

    part = coverage(sc, runs=200, cancelled=after_ten)
    assert part.runs == 10 and not part.complete and part.rows
    whole = coverage(sc, runs=10)
    assert (part.rows, part.cols, part.hits) == (whole.rows, whole.cols, whole.hits)  # the same ten schedules
    assert coverage(sc, mode="exhaustive", cancelled=lambda: True).runs == 1024


def test_ctrl_c_stops_an_exhaustive_coverage_and_prints_the_windows_met_so_far() -> None:
    import signal

    from test_jobs import cpu_seconds, start, stop_with, wait_for

    p = start("coverage", "cow_lost_write", "--exhaustive", "--max-states", "10000000")  # (about 100 s in all)
    _, stdout, stderr, took = stop_with(p, signal.SIGINT, lambda: wait_for(lambda: cpu_seconds(p.pid) >= 2.0, 30))
    assert p.returncode == 130, stderr
    assert took < 3, took
    text = " ".join(stdout.split())
    assert "states, stopped by Ctrl-C)" in text and "windows interleaved" in text
    assert "Traceback" not in stderr


def test_a_lock_handed_to_a_writer_is_the_writers_step_and_an_exit_says_so() -> None:
    """mmap_read_unlock that wakes a waiting mmap_write_lock bumps mmap_seq for
    the waiter (locks._grant_write): the column is the waiter's lock step."""
    sc = open_scenario("cow_lost_write").scenario
    cols = {f"{t} {label}" for t, label in coverage(sc, runs=200).cols}
    assert not any(c.endswith(("mmap_read_unlock", "mmap_read_lock", ":find_vma")) for c in cols), cols
    assert {"B __do_munmap:mmap_write_lock", "A2 do_mprotect_pkey:mmap_write_lock"} <= cols
    assert "A1 do_user_addr_fault:find_vma → exit_mmap" in cols  # A1's SIGSEGV ends process A
    sc = open_scenario("false_abort_unrelated_vma").scenario
    cols = {f"{t} {label}" for t, label in coverage(sc, mode="exhaustive").cols}
    assert {"A2 do_mprotect_pkey:mmap_write_lock", "A2 mmap_region:mmap_write_lock"} <= cols
    assert not any(c.startswith("A1") and "lock" in c for c in cols), cols


def test_coverage_takes_a_fix_switch_and_says_it_is_off() -> None:
    r = spftui("coverage", "history_dirty_cow", "--fix", "foll_cow=off", "--runs", "20")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1].startswith("policy classic · reuse mapcount · fixes off: foll_cow · 20 random")
    data = json.loads(spftui("coverage", "history_dirty_cow", "--fix", "foll_cow=off", "--runs", "20", "--json").stdout)
    assert data["fixes_off"] == ["foll_cow"]


def test_a_narrow_matrix_keeps_the_end_of_each_step_name_so_rows_stay_apart() -> None:
    r = spftui("coverage", "cow_lost_write", "--runs", "20", env={**os.environ, "COLUMNS": "60"})
    first = r.stdout.split("\n writer step")[1]  # (the first group of columns)
    rows = [line.split("  ")[0].strip() for line in first.splitlines() if line.startswith((" A2 ", " B "))]
    assert "A2 …pkey:mmap_write_lock" in rows and "A2 …ey:mmap_write_unlock" in rows, rows
    assert len(rows) == len(set(rows))  # (cut at the end, three A2 rows read `A2 do_mprotect_pkey:mma…`)


def test_each_of_gups_faults_has_a_window_of_its_own() -> None:
    """GUP's faultin_page faults emit no `Fault`: the windows of Dirty COW's first GUP fault
    stayed open into the next, and D's zap "landed" in the window of a finish_fault check
    whose fault sampled after it (run 97 of 98)."""
    r = spftui("coverage", "history_dirty_cow", "--policy", "spf-mm-seq", "--runs", "98")
    assert r.returncode == 0, r.stderr
    assert "C1 × D zap_pte_range:zap" in r.stdout.split("Never interleaved", 1)[1], r.stdout
    zap = next(line for line in r.stdout.splitlines() if line.lstrip().startswith("D zap_pte_range:zap"))
    assert zap.split()[-2:] == ["·", "1"], zap
