"""`spftui fuzz` after Ctrl-C or SIGTERM: it stops at once, saves what it found (a finding
it was shrinking, as found), says it was interrupted and exits 130 (143). Real processes,
watched through /proc (the helpers of test_jobs.py)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from test_jobs import alive, busy_workers, cpu_seconds, start, stop_with, wait_for

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds workers through /proc")


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_after_fuzz_found_something_saves_it_and_stops(tmp_path: Path, sig: int, status: int) -> None:
    out = tmp_path / "found"
    # Seed 20 finds a lost write in scenario 24 after ~0.5 CPU s of search (plus ~0.5 s of
    # imports) and shrinks it for ~1 CPU s: at 2.5 CPU s it is shrinking or fuzzing on, with
    # the finding saved (shrunk) or about to be saved as found; either way it is listed.
    p = start("fuzz", "--policy", "spf-refetch-vma", "--seed", "20", "--time", "60", "--out", str(out))
    _, stdout, stderr, took = stop_with(p, sig, lambda: wait_for(lambda: cpu_seconds(p.pid) >= 2.5, 30))
    assert p.returncode == status, stderr
    assert took < 3, took
    saved = out / "fuzz-20-24-lost_write.toml"
    assert str(saved) in stdout and "ops 8 → " in stdout
    assert saved.exists() and (out / "fuzz-20-24-lost_write.schedule.toml").exists()
    assert "Interrupted: the run stopped early; every violation listed above is saved." in stdout
    assert "Traceback" not in stderr


def test_ctrl_c_while_fuzz_shrinks_a_finding_saves_it_as_found_and_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The moment a signal lands in the shrink is machine-dependent; here it lands there always."""
    from spftui import cli
    from spftui.engine import shrink

    def interrupted(*args: object, **kw: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(shrink, "shrink", interrupted)
    out = tmp_path / "found"
    assert cli.main(["fuzz", "--policy", "spf-refetch-vma", "--seed", "20", "--time", "60", "--out", str(out)]) == 130
    stdout = capsys.readouterr().out
    saved = out / "fuzz-20-24-lost_write.toml"
    assert str(saved) in stdout and "not shrunk (interrupted): threads 3, ops 8," in stdout  # listed, as found
    assert "→" not in stdout  # (it said "shrunk: ... ops 8 → 8")
    assert saved.exists() and (out / "fuzz-20-24-lost_write.schedule.toml").exists()
    assert "Interrupted: the run stopped early; every violation listed above is saved." in stdout
    assert "\n28 scenarios under spf-refetch-vma" in stdout  # no chunk after scenario 24's (chunks of 4)


def test_ctrl_c_ends_fuzz_workers_at_once_and_prints_the_scenarios_tried(tmp_path: Path) -> None:
    p = start("fuzz", "--policy", "classic", "--jobs", "2", "--time", "60", "--out", str(tmp_path / "found"))
    busy, stdout, stderr, took = stop_with(p, signal.SIGINT, lambda: busy_workers(p, cpu=0.5))
    assert p.returncode == 130, stderr
    assert took < 3, took
    wait_for(lambda: not any(alive(w) for w in busy), 2)
    assert " scenarios under classic in " in stdout and "no violation" in stdout
    assert "Interrupted:" in stdout and "Traceback" not in stderr
