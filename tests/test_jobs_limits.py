"""`--jobs N` is bounded by the machine (1,000 processes took 5 GB and minutes to start), the
several-policy search writes its progress and finds with --json, and matrix --json writes JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import spftui

from spftui.tool_options import max_jobs


@pytest.mark.parametrize(
    "command",
    [
        ["explore", "cow_lost_write"],
        ["explore", "cow_lost_write", "--policy", "all"],
        ["explore", "cow_lost_write", "--mode", "random"],
        ["matrix", "cow_lost_write"],
    ],
)
def test_too_many_jobs_are_refused_before_any_process_starts(command: list[str]) -> None:
    r = spftui(*command, "--jobs", str(max_jobs() + 1))
    assert r.returncode == 2 and r.stdout == ""
    (line,) = r.stderr.splitlines()
    assert line.startswith(f"spftui: error: --jobs: expected at most {max_jobs()} worker processes (4 per CPU")


def test_fuzz_refuses_too_many_jobs_in_its_usage(tmp_path: Path) -> None:
    r = spftui("fuzz", "--policy", "classic", "--time", "5", "--jobs", "1000", "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "argument --jobs: expected at most" in r.stderr and r.stdout == ""


def test_fuzz_that_ran_no_scenario_in_its_time_is_no_success(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`fuzz --time 5 --jobs 1000`: 0 scenarios, "no violation", exit 0."""
    import time

    from spftui.engine import fuzz

    def slow_start(payload: tuple[object, ...]) -> tuple[int, float, list[object], bool]:
        time.sleep(0.3)  # (as workers that take the whole --time to start)
        return 0, 0.0, [], False

    monkeypatch.setattr(fuzz, "run_chunk", slow_start)
    r = spftui("fuzz", "--policy", "classic", "--time", "0.2", "--out", str(tmp_path / "o"))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "no violation" not in r.stdout
    assert r.stderr == (
        "spftui: error: not one scenario was run within --time 0.2 s: nothing was fuzzed; give a longer --time\n"
    )


def test_the_workers_are_not_all_started_after_the_time_is_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from spftui.engine import workers

    started: list[int] = []

    class Counted:
        def __init__(self, *args: object) -> None:
            started.append(1)
            raise RuntimeError("no process in this test")

    monkeypatch.setattr(workers, "_Worker", Counted)
    done, stopped = workers.run_tasks(abs, [1, 2, 3], 3, cancelled=lambda: True)
    assert (done, stopped, started) == ({}, True, [])


def test_several_policies_side_by_side_write_their_finds_and_progress_with_json() -> None:
    """`--policy spf-refetch-vma,classic --jobs 2 --json` wrote no line to stderr (4 with --jobs 1)."""
    r = spftui("explore", "cow_lost_write", "--policy", "spf-refetch-vma,classic", "--jobs", "2", "--json")
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stderr.splitlines()]
    found = [e for e in events if e["event"] == "found"]
    assert [(e["policy"], e["kind"]) for e in found] == [("spf-refetch-vma", "lost_write")]
    progress = {e["policy"]: e for e in events if e["event"] == "progress"}
    assert set(progress) == {"spf-refetch-vma", "classic"}
    assert progress["classic"]["states"] == json.loads(r.stdout)["policies"]["classic"]["states"]


def test_matrix_json_writes_its_progress_as_json_lines() -> None:
    r = spftui("matrix", "dontneed_race", "--policies", "classic,spf-mm-seq", "--runs", "0", "--jobs", "1", "--json")
    assert r.returncode in (0, 1), r.stderr
    events = [json.loads(line) for line in r.stderr.splitlines()]  # (every line: JSON)
    assert events[0] == {"event": "start", "cells": 2, "scenarios": 1, "policies": 2}
    assert [(e["event"], e["done"], e["policy"]) for e in events[1:]] == [
        ("cell", 1, "classic"),
        ("cell", 2, "spf-mm-seq"),
    ]
