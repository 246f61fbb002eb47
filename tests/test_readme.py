"""The README's commands run as written: every non-interactive command of "A short tour" exits 0
and writes nothing into the directory it runs in.

Two kinds of command take most of a minute. `explore cow_lost_write
--policy all` (six complete searches) runs only in the slow run:
tests/engine/test_explorer.py checks its verdicts and other tests its
`--policy all` path on smaller scenarios. `kernel-check --seeds 200` (and
100) runs in the quick run with `--seeds 20` (`scaled`), so its whole
command path still runs. The slow run (`pytest -m slow tests/test_readme.py`)
runs both as written."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBCOMMANDS = ("check", "trace", "scenarios", "explore", "matrix")
SLOW_ONLY = ("explore cow_lost_write --policy all",)
SCALED = {"--seeds 200": ["--seeds", "20"], "--seeds 100": ["--seeds", "20"]}  # what `scaled` adds


def scaled(words: list[str]) -> list[str]:
    """`words` with the quick run's smaller figures if it is one of the SCALED commands."""
    text = shlex.join(words)
    for heavy, extra in SCALED.items():
        if heavy in text:
            return [*words, *extra]  # a later option wins (argparse)
    return words


def slow_only(words: list[str]) -> bool:
    return any(c in shlex.join(words) for c in SLOW_ONLY)


def is_heavy(words: list[str]) -> bool:
    return slow_only(words) or scaled(words) != words


def run_spftui(words: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spftui", *words[1:]], capture_output=True, text=True, cwd=cwd, timeout=300
    )


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
    [words for words in tour_commands() if words[1] in SUBCOMMANDS and not slow_only(words)],
    ids=lambda words: " ".join(words[1:]),
)
def test_every_non_interactive_tour_command_exits_0_and_writes_nothing(words: list[str], tmp_path: Path) -> None:
    tour_command_runs(scaled(words), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    "words",
    [words for words in tour_commands() if words[1] in SUBCOMMANDS and is_heavy(words)],
    ids=lambda words: " ".join(words[1:]),
)
def test_the_heavy_tour_commands_run_as_written(words: list[str], tmp_path: Path) -> None:
    tour_command_runs(words, tmp_path)


def tour_command_runs(words: list[str], tmp_path: Path) -> None:
    r = run_spftui(words, tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "Traceback" not in r.stderr and "do NOT hold" not in r.stdout
    assert list(tmp_path.iterdir()) == []


def test_the_quick_run_scales_down_only_commands_the_readme_has() -> None:
    every = [shlex.join(w) for _, block in sh_blocks() for w in block]
    for heavy in (*SLOW_ONLY, *SCALED):
        assert any(heavy in text for text in every), f"README: no command with {heavy!r} any more"


# --- every fenced sh block ----------------------------------------------------------------------

INTERACTIVE = "the debugger and `spftui serve` run until the user quits (tests/tui and tests/test_serve.py drive them)"
SETUP = ("pip", "python", "ruff", "mypy")  # installing and testing: .ci/run runs exactly these


def sh_blocks() -> list[tuple[int, list[list[str]]]]:
    """(line, the `spftui ...` commands in order) of every fenced sh block of the README; `a && b` is two."""
    text = (ROOT / "README.md").read_text()
    out = []
    for m in re.finditer(r"```sh\n(.*?)```", text, re.S):
        line = text.count("\n", 0, m.start()) + 1
        commands = []
        for row in m.group(1).splitlines():
            words = shlex.split(row, comments=True)
            while words:
                cut = words.index("&&") if "&&" in words else len(words)
                commands.append(words[:cut])
                words = words[cut + 1 :]
        out.append((line, commands))
    return out


def runnable(words: list[str]) -> bool:
    """A command the test runs: not setup, and not INTERACTIVE."""
    return words[0] == "spftui" and len(words) > 1 and words[1] in (*SUBCOMMANDS, "why", "kernel-check")


def test_every_sh_block_command_is_spftui_or_setup_and_the_blocks_cover_sharing() -> None:
    commands = [words for _, block in sh_blocks() for words in block]
    assert all(words[0] == "spftui" or words[0] in SETUP for words in commands), commands
    assert ["spftui", "trace", "cow_lost_write", "--format", "perfetto", "-o", "lost-write.json"] in commands
    assert ["spftui", "check", "lost.schedule.toml"] in commands
    assert any(words[:2] == ["spftui", "serve"] for words in commands)
    assert any(words[:3] == ["spftui", "kernel-check", "--scenario"] for words in commands)
    text = (ROOT / "README.md").read_text()
    assert "(docs/lost-write.svg)" in text
    svg = (ROOT / "docs" / "lost-write.svg").read_text()
    assert "wp_page_copy" in svg and "violation" in svg  # the debugger at the lost write


@pytest.mark.parametrize(
    "line, commands",
    [(line, block) for line, block in sh_blocks() if any(runnable(w) for w in block) and block != tour_commands()],
    ids=lambda v: f"README.md:{v}" if isinstance(v, int) else "",
)
def test_every_sh_block_of_the_readme_runs_and_exits_0(line: int, commands: list[list[str]], tmp_path: Path) -> None:
    """In a fresh directory holding only `scenarios/` (as in a clone), each block's commands in order
    (SCALED ones `scaled`); kernel-check needs Linux (and root for every column: CI). The tour's block
    is run above."""
    block_runs(line, [scaled(words) for words in commands], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    "line, commands",
    [(line, block) for line, block in sh_blocks() if any(is_heavy(w) for w in block) and block != tour_commands()],
    ids=lambda v: f"README.md:{v}" if isinstance(v, int) else "",
)
def test_the_sh_blocks_with_heavy_commands_run_as_written(line: int, commands: list[list[str]], tmp_path: Path) -> None:
    block_runs(line, commands, tmp_path)


def block_runs(line: int, commands: list[list[str]], tmp_path: Path) -> None:
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios")
    for words in commands:
        if not runnable(words):
            continue  # setup (pip, pytest), the debugger or serve: INTERACTIVE
        if words[1] == "kernel-check" and not sys.platform.startswith("linux"):
            pytest.skip("kernel-check needs a Linux host")
        r = run_spftui(words, tmp_path)
        assert r.returncode == 0, f"README.md:{line}: {shlex.join(words)}\n{r.stdout[-3000:]}{r.stderr[-3000:]}"
        assert "Traceback" not in r.stderr
