"""`spftui check`'s text report on a long run: it lists the first and last steps and those
around the aborts and violations, and replays only those (it replayed the whole run to
list them: 105,000 steps took 3.5 CPU s in text, 1.9 in --json); Ctrl-C while it lists
still prints the result and the expectations, then `spftui: interrupted`, exit 130."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from cli_run import spftui
from test_jobs import reap, start

from spftui.engine.timeline import Timeline


def _long_scenario(tmp_path: Path, ops: int) -> Path:
    """One thread, `ops` ops on one page (mprotect r, read, mprotect rw, write): about 5 steps each."""
    cycle = ["mprotect 0x10000 1p r", "read 0x10000", "mprotect 0x10000 1p rw", "write 0x10000 7"]
    listed = ", ".join(json.dumps(cycle[i % 4]) for i in range(ops))
    path = tmp_path / "long.toml"
    path.write_text(
        'title = "long"\npolicy = "spf-mm-seq"\n\n[[process]]\nname = "A"\ndata = { "0x10000" = 1 }\n\n'
        '  [[process.mapping]]\n  start = 0x10000\n  pages = 1\n  prot = "rw"\n\n'
        f'[[thread]]\nname = "A1"\nprocess = "A"\nops = [{listed}]\n'
    )
    return path


def test_the_text_report_replays_only_the_steps_it_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = _long_scenario(tmp_path, 2000)
    replayed = [0]
    replay = Timeline.replay

    def counting(self: Timeline, start: int = 0, end: int | None = None):  # type: ignore[no-untyped-def]
        for row in replay(self, start, end):
            replayed[0] += 1
            yield row

    monkeypatch.setattr(Timeline, "replay", counting)
    r = spftui("check", str(scenario), "--max-steps", "1000000")
    assert r.returncode == 0, r.stderr
    steps = json.loads(spftui("check", str(scenario), "--max-steps", "1000000", "--json").stdout)["steps"]
    assert steps > 10_000 and f"Result: all threads finished after {steps} steps" in r.stdout
    lines = r.stdout.splitlines()
    assert f"  … {steps - 200} steps …" in lines and lines.count("  … 1 steps …") == 0
    assert any(line.startswith(f"{steps:>5}  A1") for line in lines)  # the last step
    assert replayed[0] <= 400, replayed  # (was every step: one replay of the whole run)
    full = spftui("check", str(scenario), "--max-steps", "1000000", "--full")
    assert "steps …" not in full.stdout and any(line.startswith(f"{steps:>5}  A1") for line in full.stdout.splitlines())


def test_ctrl_c_while_check_lists_the_steps_still_prints_the_result(tmp_path: Path) -> None:
    scenario = _long_scenario(tmp_path, 2000)
    p = start("check", str(scenario), "--max-steps", "1000000", "--full")
    try:
        assert p.stdout is not None
        first = p.stdout.readline()  # (the listing fills the pipe we do not read: it waits in it)
        assert first.strip() == "long"
        p.send_signal(signal.SIGINT)
        out = p.stdout.read()  # (what readline buffered, then the rest; communicate would lose the first)
        assert p.stderr is not None
        err = p.stderr.read()
        p.wait(timeout=60)
    finally:
        reap(p)
    assert p.returncode == 130, err
    assert "  … the listing was interrupted …" in out and "Result: all threads finished after" in out
    assert "Violations: none" in out and err == "spftui: interrupted\n"
