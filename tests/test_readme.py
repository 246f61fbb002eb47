"""The README's commands run as written: every non-interactive command of "A short tour" exits 0
and writes nothing into the directory it runs in."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBCOMMANDS = ("check", "trace", "scenarios", "explore", "matrix")


def tour_commands() -> list[list[str]]:
    """The `spftui …` lines of the fenced sh block under "## A short tour", comments stripped."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## A short tour", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, "README: no sh block under 'A short tour'"
    out = [shlex.split(line, comments=True) for line in block.group(1).splitlines()]
    return [words for words in out if words]


def test_the_tour_has_the_commands_a_new_user_tries() -> None:
    commands = tour_commands()
    assert all(words[0] == "spftui" for words in commands)
    assert ["spftui", "check", "cow_lost_write", "--reuse", "page-count"] in commands
    assert ["spftui", "check", "cow_lost_write", "--seed", "7"] in commands
    assert any(words[1:2] == ["cow_lost_write"] for words in commands)  # and the debugger (interactive)


@pytest.mark.parametrize(
    "words",
    [words for words in tour_commands() if words[1] in SUBCOMMANDS],
    ids=lambda words: " ".join(words[1:]),
)
def test_every_non_interactive_tour_command_exits_0_and_writes_nothing(words: list[str], tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "spftui", *words[1:]], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "Traceback" not in r.stderr and "do NOT hold" not in r.stdout
    assert list(tmp_path.iterdir()) == []
