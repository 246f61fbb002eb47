"""The history gallery: each race is Sometimes with its fix off and Never with it on.

Driven through the CLI a user touches (`spftui explore FILE --policy all
--json`): the bundled file runs with the fix on; the same file with a
`[fixes]` table taking the fix out must show the race, under every policy,
with the search complete.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import spftui

from spftui.scenario import POLICIES, bundled_scenarios_dir
from spftui.scenario.fixes import FIX

ROOT = Path(__file__).resolve().parents[2]

GALLERY = [
    ("history_dirty_cow.toml", "foll_cow", "file_integrity"),
    ("history_gup_after_fork.toml", "page_count_reuse", "cow_isolation"),
    ("history_gup_pin_unshare.toml", "gup_unshare", "pin_coherence"),
    ("history_uffd_wp_flush.toml", "uffd_wp_flush_pending", "lost_write"),
    ("history_fork_pinned.toml", "fork_copy_pinned", "pin_coherence"),
    ("history_stackrot.toml", "expand_stack_write_lock", "use_after_free"),
]


def explore(path: Path) -> dict[str, dict[str, object]]:
    proc = spftui("explore", str(path), "--policy", "all", "--json")
    assert proc.returncode in (0, 1), proc.stderr
    policies: dict[str, dict[str, object]] = json.loads(proc.stdout)["policies"]
    return policies


def with_fix_off(src: Path, fix: str, tmp_path: Path) -> Path:
    text = src.read_text()
    head, sep, tail = text.partition("\n[expect")  # [fixes] is a top-level table: before the first [expect...]
    out = tmp_path / src.name
    out.write_text(f"{head}\n[fixes]\n{fix} = false\n{sep}{tail}")
    return out


# uffd-wp under every policy is ~25 s of CPU: slow here; tests/history/test_uffd_wp.py runs its own policy's cells
RACES = [pytest.param(*g, marks=pytest.mark.slow) if g[1] == "uffd_wp_flush_pending" else g for g in GALLERY]


@pytest.mark.parametrize(("name", "fix", "oracle"), RACES)
def test_the_race_is_never_with_the_fix_and_sometimes_without_it(name: str, fix: str, oracle: str, tmp_path: Path):
    assert fix in FIX
    src = bundled_scenarios_dir() / name
    on = explore(src)
    off = explore(with_fix_off(src, fix, tmp_path))
    assert set(on) == set(off) == set(POLICIES)
    for policy in POLICIES:
        assert on[policy]["complete"] and off[policy]["complete"], policy
        assert on[policy]["verdicts"][oracle] == "never", (policy, on[policy]["verdicts"])  # type: ignore[index]
        assert off[policy]["verdicts"][oracle] == "sometimes", (policy, off[policy]["verdicts"])  # type: ignore[index]


@pytest.mark.parametrize(("name", "fix", "oracle"), GALLERY)
def test_the_scenario_names_its_fix_commit_in_its_story(name: str, fix: str, oracle: str):
    text = (bundled_scenarios_dir() / name).read_text()
    assert FIX[fix].commit[:12] in text
    assert oracle in text
