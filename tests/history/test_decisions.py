"""The kernel's deciding branches are events (`decision`): do_wp_page's reuse or copy,
faultin_page's FOLL_WRITE drop. Read through `spftui trace`, where a user meets them."""

from __future__ import annotations

import json
from pathlib import Path

from cli_run import spftui


def _decisions(*args: str) -> list[tuple[int, str, str, str]]:
    r = spftui("trace", *args, "--json")
    assert r.returncode == 0, r.stderr
    out = []
    for line in r.stdout.splitlines():
        step = json.loads(line)
        out += [
            (step["step"], step["label"], e["what"], e["detail"]) for e in step["events"] if e["kind"] == "decision"
        ]
    return out


def test_the_gup_after_fork_leak_turns_on_the_reuse_rule_and_the_trace_says_which() -> None:
    (old,) = _decisions("history_gup_after_fork", "--reuse", "mapcount", "--fix", "gup_force_cow=off")  # 5.7
    assert old == (
        20, "do_wp_page:reuse_check", "reuse",
        "reuses pfn 1: mapcount 1 (the mapcount rule: page_count 2 is not looked at)",
    )  # fmt: skip
    (new,) = _decisions("history_gup_after_fork")
    assert new[2] == "copy" and new[3] == "copies pfn 1: page_count 2 (the page-count rule)"


def test_in_5_8_the_childs_gup_forces_the_cow_break_and_the_parents_reuse_is_its_own() -> None:
    forced, child, parent = _decisions("history_gup_after_fork", "--reuse", "mapcount")
    assert forced[:3] == (2, "__get_user_pages:check_vma_flags", "foll") and "FOLL_WRITE forced" in forced[3]
    assert child[1:] == (
        "do_wp_page:reuse_check", "copy", "copies pfn 1: mapcount 2 (the mapcount rule: page_count 2 is not looked at)"
    )  # fmt: skip
    assert parent[3] == "reuses pfn 1: mapcount 1 (the mapcount rule: page_count 1 is not looked at)"


def test_dirty_cow_shows_faultin_page_dropping_foll_write_only_with_the_fix_off() -> None:
    off = [d for d in _decisions("history_dirty_cow", "--fix", "foll_cow=off") if d[2] == "foll"]
    assert [(s, label) for s, label, *_ in off] == [(20, "faultin_page:ret")]
    assert "clears FOLL_WRITE: the retry is a read" in off[0][3]
    on = [d for d in _decisions("history_dirty_cow") if d[2] == "foll"]
    assert on and all("sets FOLL_COW" in d[3] for d in on)
    text = spftui("trace", "history_dirty_cow", "--fix", "foll_cow=off").stdout
    assert "faultin_page:ret                       W VM_FAULT_WRITE on a !VM_WRITE VMA" in text


def test_the_dirty_cow_counterexample_narration_says_faultin_page_dropped_foll_write() -> None:
    r = spftui("explore", "history_dirty_cow", "--fix", "foll_cow=off", "--first")
    assert r.returncode == 1, r.stderr  # a violation
    story = " ".join(r.stdout.split())
    assert (
        "reuses the page in do_wp_page, sets P:0x10000 pfn 2 RO A D → pfn 2 RO A D, drops FOLL_WRITE in faultin_page;"
        in story
    )


SWAPPED_SHARED = """
title = "a write after a swap-in read, the page still in the swap cache"
policy = "classic"
kernel = "5.8"

[[process]]
name = "A"
data = { "0x10000" = 1 }

  [[process.mapping]]
  start = 0x10000
  pages = 1
  prot = "rw"

[[process]]
name = "B"
fork_of = "A"

[[thread]]
name = "A1"
process = "A"
ops = ["reclaim 0x10000", "read 0x10000", "write 0x10000 5"]
"""


def test_a_page_in_the_swap_cache_says_its_swap_count_under_each_reuse_rule(tmp_path: Path) -> None:
    """Reclaim swaps out A's and B's PTEs (swap count 2); A's read swaps its PTE back in
    read-only, the page stays in the swap cache for B's swap PTE (swap count 1)."""
    path = tmp_path / "swapped.toml"
    path.write_text(SWAPPED_SHARED)
    (old,) = _decisions(str(path), "--reuse", "mapcount")
    assert old[3] == "copies pfn 1: mapcount 1 + swap count 1 (the mapcount rule: page_count 2 is not looked at)"
    (new,) = _decisions(str(path), "--reuse", "page-count")
    assert new[3] == "copies pfn 1: page_count 2, 1 of them the swap cache's (the page-count rule)"
    (now,) = _decisions(str(path), "--reuse", "anon-exclusive")
    assert now[3].startswith("copies pfn 1: not PageAnonExclusive, page_count 2, 1 of them the swap cache's")
