"""`--jobs` workers are supervised: a killed worker is reported and its work
runs again (or the run ends with a clear error), Ctrl-C and SIGTERM end every
worker at once and print what was decided so far, and a killed parent leaves
no worker behind. Through `python -m spftui`, with workers found in /proc."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from spftui.scenario.model import POLICIES

ROOT = Path(__file__).resolve().parents[1]
LONG = ("--max-states", "2000000", "--timeout", "none")  # a matrix cell that runs until it is stopped

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds workers through /proc")


T = TypeVar("T")


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "spftui", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def reap(p: subprocess.Popen[str]) -> None:
    """Kill the run if it is still going, wait for it and close its pipes (an
    unclosed pipe is a ResourceWarning in whichever test runs next)."""
    p.kill()
    p.wait()
    for f in (p.stdout, p.stderr):
        if f is not None:
            f.close()


def stop_with(p: subprocess.Popen[str], sig: int, ready: Callable[[], T]) -> tuple[T, str, str, float]:
    """Wait for `ready()` (e.g. busy workers), send `sig`; (what ready gave, stdout, stderr,
    seconds from the signal to the exit). The run is reaped whatever happens."""
    try:
        got = ready()
        t0 = time.monotonic()
        p.send_signal(sig)
        out, err = p.communicate(timeout=15)
        return got, out, err, time.monotonic() - t0
    finally:
        reap(p)


def stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat from the state on (state, ppid, ..., utime, stime at [11], [12])."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def workers(parent: int) -> list[int]:
    """The parent's worker processes (not multiprocessing's resource tracker)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = stat(int(entry))
            if st is not None and st[1] == str(parent) and st[0] != "Z":
                try:
                    if b"spawn_main" in Path(f"/proc/{entry}/cmdline").read_bytes():
                        out.append(int(entry))
                except OSError:
                    pass
    return sorted(out)


def cpu_seconds(pid: int) -> float:
    st = stat(pid)
    return 0.0 if st is None else (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")


def alive(pid: int) -> bool:
    st = stat(pid)
    return st is not None and st[0] != "Z"


def wait_for(predicate: object, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s")
        time.sleep(0.02)


def busy_workers(p: subprocess.Popen[str], n: int = 2, cpu: float = 0.8) -> list[int]:
    """Wait until n workers have each run `cpu` seconds (imports done, searching)."""
    found: list[int] = []

    def ready() -> bool:
        assert p.poll() is None, p.communicate()
        found[:] = workers(p.pid)
        return len(found) >= n and all(cpu_seconds(w) >= cpu for w in found)

    wait_for(ready, 20)
    return found


def test_a_killed_worker_is_reported_and_its_policy_explored_again() -> None:
    p = start("explore", "dontneed_race", "--policy", "all", "--jobs", "2", "--json", "--no-save")
    try:
        victim: list[int] = []
        wait_for(lambda: bool(victim.extend(workers(p.pid)[:1]) or victim), 20)
        os.kill(victim[0], signal.SIGKILL)
        out, err = p.communicate(timeout=60)
    finally:
        reap(p)
    assert p.returncode == 0, err
    assert f"spftui: warning: worker process {victim[0]} was killed by SIGKILL while running dontneed_race.toml" in err
    assert "running it again" in err
    data = json.loads(out)
    assert data["expect_ok"] is True and all(r["complete"] for r in data["policies"].values())
    assert sorted(data["policies"]) == sorted(POLICIES)


def test_a_task_whose_worker_dies_twice_ends_the_run_with_a_clear_error() -> None:
    p = start("explore", "dontneed_race", "--policy", "all", "--jobs", "2", "--no-save")
    try:
        end = time.monotonic() + 30
        while p.poll() is None and time.monotonic() < end:
            for w in workers(p.pid):
                os.kill(w, signal.SIGKILL)
            time.sleep(0.02)
        out, err = p.communicate(timeout=10)
    finally:
        reap(p)
    assert p.returncode == 2, (out, err)
    assert "Traceback" not in err
    assert err.splitlines()[-1].startswith("spftui: error: a worker process was killed by SIGKILL while running ")
    assert err.splitlines()[-1].endswith(", twice; stopping the run")


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_end_every_worker_and_print_the_partial_verdicts(sig: int, status: int) -> None:
    p = start("explore", "fork_cow_isolation", "--policy", "all", "--jobs", "2", "--json", "--no-save")
    busy, out, err, took = stop_with(p, sig, lambda: busy_workers(p))
    assert p.returncode == status, err
    assert took < 5, took
    wait_for(lambda: not any(alive(w) for w in busy), 2)
    data = json.loads(out)
    partial = [name for name, r in data["policies"].items() if r["stop"] == "interrupted"]
    assert len(partial) == 2, data["policies"].keys()  # the two in flight, with what they decided so far
    for name in partial:
        r = data["policies"][name]
        assert r["complete"] is False and r["states"] > 0
        assert set(r["verdicts"].values()) <= {"sometimes", "unknown"}


def test_a_killed_parent_leaves_no_worker_behind() -> None:
    p = start("matrix", "fork_cow_isolation", "--policies", "classic,spf-mm-seq", "--jobs", "2", "--json", *LONG)
    try:
        busy = busy_workers(p, cpu=0.5)
        p.kill()
        p.communicate(timeout=10)
        wait_for(lambda: not any(alive(w) for w in busy), 3)  # the watchdog notices within 0.2 s
    finally:
        reap(p)
        for w in workers(p.pid):
            os.kill(w, signal.SIGKILL)


@pytest.mark.parametrize("jobs", [1, 2])
def test_matrix_after_ctrl_c_prints_the_partial_cells_and_starts_no_other(jobs: int) -> None:
    p = start(
        "matrix", "fork_cow_isolation", "--policies", "classic,spf-mm-seq", "--jobs", str(jobs), "--runs", "4", *LONG
    )
    ready = (lambda: busy_workers(p)) if jobs > 1 else (lambda: wait_for(lambda: cpu_seconds(p.pid) >= 1.5, 20))
    _, out, err, _ = stop_with(p, signal.SIGINT, ready)
    assert p.returncode == 130, err
    assert "| fork_cow_isolation | classic" in out and "interrupted" in out
    partial = (
        "fork_cow_isolation × classic, fork_cow_isolation × spf-mm-seq" if jobs > 1 else "fork_cow_isolation × classic"
    )
    assert f"Interrupted: 0 of 2 cells finished; partial (verdicts so far, no abort figures): {partial}." in out


def test_ctrl_c_on_a_split_search_keeps_the_store_figures_and_the_split_note() -> None:
    """As when --timeout cuts it: the workers' stores give the bytes per state, and the note says how it was split."""
    p = start(
        "explore", "cow_three_writers_munmap", "--jobs", "2", "--mode", "exhaustive", "--json", "--no-save", *LONG
    )

    def searching() -> bool:  # (the split search forks its workers: any child busy for a while)
        assert p.poll() is None, p.communicate()
        kids = [int(e) for e in os.listdir("/proc") if e.isdigit() and (stat(int(e)) or ["", ""])[1] == str(p.pid)]
        return sum(cpu_seconds(k) >= 0.3 for k in kids) >= 2

    _, out, err, _ = stop_with(p, signal.SIGINT, lambda: wait_for(searching, 30))
    assert p.returncode == 130, err
    (r,) = json.loads(out)["policies"].values()
    assert r["stop"] == "interrupted" and r["states"] > 0
    assert r["store"]["bytes_per_state"] > 0, r["store"]
    assert any(n.startswith("one search split across 2 processes: ") for n in r.get("notes", ())), r.get("notes")
