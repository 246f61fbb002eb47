"""`spftui diff` of two schedules saved under different policies: both run under
one (SCHEDULE_1's, or --policy), and the report says that run 2's was overridden
and what run 2 reports under its own."""

from __future__ import annotations

import json
from pathlib import Path

from cli_run import spftui


def saved(tmp_path: Path, name: str, *options: str) -> str:
    path = tmp_path / name
    r = spftui("check", "cow_lost_write", *options, "--save-schedule", str(path))
    assert r.returncode == 0, r.stderr
    return str(path)


def test_a_schedule_saved_under_another_policy_is_named_with_its_own_verdict(tmp_path: Path) -> None:
    a = saved(tmp_path, "a.toml")  # the scenario's policy, spf-refetch-vma: the lost write
    b = saved(tmp_path, "b.toml", "--policy", "spf-mm-seq")  # the same steps pass under spf-mm-seq
    r = spftui("diff", "cow_lost_write", a, b)
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert (
        "note: SCHEDULE_2 (run 2) was saved with policy spf-mm-seq; here both schedules run under policy "
        "spf-refetch-vma, reuse mapcount (--policy, --reuse and --fix choose)." in text
    )
    assert "note: Under its own settings run 2 takes 58 steps, no violation: another verdict than here." in text
    assert "Run 2 = " + b + ": 54 steps, lost_write at step 52 (A1)" in text  # (the run under run 1's policy)

    j = json.loads(spftui("diff", "cow_lost_write", a, b, "--json").stdout)
    assert j["policy"] == "spf-refetch-vma" and len(j["notes"]) == 2 and "spf-mm-seq" in j["notes"][0]


def test_no_note_when_the_policy_is_chosen_or_the_same(tmp_path: Path) -> None:
    a = saved(tmp_path, "a.toml")
    b = saved(tmp_path, "b.toml", "--policy", "spf-mm-seq")
    chosen = json.loads(spftui("diff", "cow_lost_write", a, b, "--policy", "spf-mm-seq", "--json").stdout)
    assert chosen["notes"] == [] and chosen["policy"] == "spf-mm-seq"
    same = spftui("diff", "cow_lost_write", a, a)
    assert same.returncode == 0 and "note:" not in same.stdout


def test_a_reuse_rule_that_differs_is_named_too(tmp_path: Path) -> None:
    a = saved(tmp_path, "a.toml")
    b = saved(tmp_path, "b.toml", "--reuse", "page-count")
    j = json.loads(spftui("diff", "cow_lost_write", a, b, "--json").stdout)
    assert j["reuse"] == "mapcount"
    assert j["notes"][0].startswith("SCHEDULE_2 (run 2) was saved with reuse page-count; here both schedules run under")


def test_diff_takes_fix_off_and_names_the_fixes_off_in_its_header(tmp_path: Path) -> None:
    """`diff --fix` was refused with a usage error, and its header never named a fix that was out."""
    on = tmp_path / "on.toml"
    assert spftui("check", "history_dirty_cow", "--save-schedule", str(on)).returncode == 0  # (no violation)
    r = spftui("diff", "history_dirty_cow", "--fix", "foll_cow=off", str(on), str(on))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1] == "policy classic · reuse mapcount · fixes off: foll_cow"
    assert f"Run 1 = {on}: 36 steps, file_integrity at step 35 (W)" in r.stdout  # the fix is out: Dirty COW
    assert "note:" not in r.stdout  # (run 2 runs under the user's --fix too: nothing overridden)
    j = json.loads(spftui("diff", "history_dirty_cow", str(on), str(on), "--fix", "foll_cow=off", "--json").stdout)
    assert j["fixes_off"] == ["foll_cow"] and j["run1"]["violations"][0]["oracle"] == "file_integrity"
    plain = spftui("diff", "history_dirty_cow", str(on), str(on))
    assert plain.stdout.splitlines()[1] == "policy classic · reuse mapcount"
