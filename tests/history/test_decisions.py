"""The kernel's deciding branches are events (`decision`): do_wp_page's reuse or copy,
faultin_page's FOLL_WRITE drop. Read through `spftui trace`, where a user meets them."""

from __future__ import annotations

import json

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
