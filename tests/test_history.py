"""The history gallery through the CLI a user touches: each fix off gives Sometimes,
on gives Never, complete; `--fix` errors; `spftui fixes`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import spftui

ROOT = Path(__file__).resolve().parents[1]

GALLERY = [
    ("history_fork_vma_lock", "fork_vma_write_lock", "vma-lock"),
    ("history_dufour_fork_tlb", "fork_vm_raw_write", "spf-vma-seq"),
    ("history_madv_free_dio", "madv_free_refcount_check", "classic"),
]


@pytest.mark.parametrize("state, verdict", [("off", "sometimes"), ("on", "never")])
@pytest.mark.parametrize("scenario, fix, policy", GALLERY)
def test_explore_finds_the_race_only_with_the_fix_off(scenario: str, fix: str, policy: str, state: str, verdict: str):
    r = spftui("explore", scenario, "--fix", f"{fix}={state}", "--json")
    assert r.returncode == 0, r.stderr  # the [expect] (or [expect.fixes_off.NAME]) table holds
    out = json.loads(r.stdout)
    cell = out["policies"][policy]
    assert cell["complete"]
    assert cell["verdicts"]["lost_write"] == verdict
    assert cell["verdicts"]["cow_isolation"] == "never"  # the child may see a store that raced fork
    assert out["fixes_off"] == ([fix] if state == "off" else [])


@pytest.mark.parametrize("scenario, fix, policy", GALLERY)
def test_check_with_the_fix_off_loses_the_store_on_the_bundled_schedule(scenario: str, fix: str, policy: str):
    off = json.loads(spftui("check", scenario, "--fix", f"{fix}=off", "--json").stdout)
    on = json.loads(spftui("check", scenario, "--json").stdout)
    assert off["expect_table"] == f"[expect.fixes_off.{fix}]" and off["expect_ok"]
    assert [v["kind"] for v in off["violations"]] == ["lost_write"]
    assert on["violations"] == [] and on["expect_ok"]


def test_kernel_6_4_0_is_6_4_3_without_the_fork_fix(tmp_path: Path):
    text = (ROOT / "scenarios" / "history_fork_vma_lock.toml").read_text()
    old = tmp_path / "old.toml"
    old.write_text(text.replace('kernel = "6.4.3"', 'kernel = "6.4.0"'))
    r = json.loads(spftui("check", str(old), "--json").stdout)
    assert [v["kind"] for v in r["violations"]] == ["lost_write"]
    assert r["expect_table"] == "[expect.fixes_off.fork_vma_write_lock]" and r["expect_ok"]
    r = json.loads(spftui("check", str(old), "--fix", "fork_vma_write_lock=on", "--json").stdout)
    assert r["violations"] == [] and r["expect_ok"]


@pytest.mark.parametrize(
    "command",
    [
        ["check", "history_fork_vma_lock"],
        ["trace", "history_fork_vma_lock"],
        ["why", "history_fork_vma_lock", "A.pte[0x10000]"],
        ["explore", "history_fork_vma_lock"],
        ["matrix", "history_fork_vma_lock"],
        ["history_fork_vma_lock"],  # the debugger: refused before the screen opens
    ],
)
def test_an_unknown_fix_is_refused_with_a_suggestion(command: list[str]):
    r = spftui(*command, "--fix", "fork_vma_write_lok=off")
    assert r.returncode == 2
    assert "unknown fix 'fork_vma_write_lok'; did you mean 'fork_vma_write_lock'?" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_fix_needs_on_or_off():
    r = spftui("check", "history_fork_vma_lock", "--fix", "fork_vma_write_lock")
    assert r.returncode == 2 and "expected fork_vma_write_lock=off or fork_vma_write_lock=on" in r.stderr


def test_spftui_fixes_lists_each_fix_with_its_commit_and_scenario():
    rows = json.loads(spftui("fixes", "--json").stdout)
    by_name = {r["name"]: r for r in rows}
    assert by_name["fork_vma_write_lock"]["commit"] == "fb49c455323f"
    assert by_name["fork_vma_write_lock"]["presets_without"] == ["6.4.0"]
    for scenario, fix, policy in GALLERY:
        assert scenario in by_name[fix]["scenarios"]
        assert policy in by_name[fix]["policies"] or not by_name[fix]["policies"]  # ([]: under every policy)
    assert by_name["madv_free_refcount_check"]["presets_without"] == ["5.7", "5.8", "5.11", "5.12", "5.17"]
    text = spftui("fixes").stdout
    assert "spftui explore history_fork_vma_lock --fix fork_vma_write_lock=off" in text
    # a fix the presets lack only where the scenario has the feature says which feature
    assert "off in:    kernel = '6.1', '6.4.0' (in a scenario with a `growsdown` mapping)" in text
    assert "(in a scenario with a `madvise … free` op)" in text


def test_a_saved_counterexample_replays_with_its_fixes_off(tmp_path: Path) -> None:
    """The schedule file records the fixes its run had out; replaying it needs no --fix."""
    scenario = "history_fork_vma_lock"
    saved = tmp_path
    r = spftui("explore", scenario, "--fix", "fork_vma_write_lock=off", "--save", str(saved))
    assert r.returncode == 0, r.stderr
    (schedule,) = saved.glob("*.toml")
    assert 'fixes_off = ["fork_vma_write_lock"]' in schedule.read_text()
    again = spftui("check", str(schedule), "--json")
    assert json.loads(again.stdout)["violations"], again.stdout
    on = spftui("check", str(schedule), "--fix", "fork_vma_write_lock=on", "--json")
    assert not json.loads(on.stdout)["violations"]


@pytest.mark.parametrize(
    "scenario, fix, oracle",
    [
        ("history_dirty_cow", "foll_cow", "file_integrity"),
        ("history_gup_after_fork", "page_count_reuse", "cow_isolation"),
        ("history_gup_pin_unshare", "gup_unshare", "pin_coherence"),
    ],
)
def test_every_gallery_file_says_what_its_fix_off_shows(scenario: str, fix: str, oracle: str) -> None:
    r = spftui("explore", scenario, "--fix", f"{fix}=off", "--json")
    assert r.returncode == 0, r.stderr  # judged by [expect.fixes_off.NAME], not by the fix-on tables
    out = json.loads(r.stdout)
    (cell,) = out["policies"].values()
    assert cell["complete"] and cell["verdicts"][oracle] == "sometimes"
    assert fix in [f["name"] for f in json.loads(spftui("fixes", "--json").stdout) if scenario in f["scenarios"]]


def test_a_run_without_a_fix_the_file_has_is_not_judged_by_the_files_tables() -> None:
    r = spftui("check", "cow_lost_write", "--fix", "page_count_reuse=off")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no expectation for this configuration" in r.stdout
    same = spftui("check", "cow_lost_write", "--fix", "page_count_reuse=on")  # the file's own fixes: judged
    assert same.returncode == 0 and "expectations hold" in same.stdout
