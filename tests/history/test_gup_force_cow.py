"""5.8's forced COW break in GUP (17839856fd58, fix `gup_force_cow`): the GUP-after-fork
leak's progression 5.7 (leak), 5.8 (the child's gup copies), 5.9+ (the parent copies),
through the CLI a user touches; and what the break does to a read GUP on its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import spftui

from spftui.engine import Session
from spftui.engine.narrate import narrate
from spftui.scenario import bundled_scenarios_dir, load_scenario, parse_scenario
from spftui.scenario.fixes import FIX
from spftui.scenario.model import KERNEL_PRESET

SCENARIO = "history_gup_after_fork"


def verdicts(*args: str) -> tuple[dict[str, object], list[str]]:
    r = spftui("explore", *args, "--json")
    assert r.returncode == 0, r.stdout + r.stderr  # the file's table for that run holds
    out = json.loads(r.stdout)
    (cell,) = out["policies"].values()
    assert cell["complete"]
    return cell["verdicts"], out["fixes_off"]


def with_kernel(kernel: str, tmp_path: Path) -> str:
    text = (bundled_scenarios_dir() / f"{SCENARIO}.toml").read_text()
    path = tmp_path / f"{SCENARIO}_{kernel}.toml"
    path.write_text(text.replace('kernel = "5.12"', f'kernel = "{kernel}"'))
    return str(path)


@pytest.mark.parametrize(
    "kernel, leak, fixes_off",
    [
        ("5.7", "sometimes", ["gup_force_cow"]),  # the mapcount rule, no forced COW break: the leak
        ("5.8", "never", []),  # the mapcount rule, the child's read gup breaks COW: its own copy
        ("5.12", "never", []),  # the page-count rule, no forced COW break: the parent copies
    ],
)
def test_the_gup_after_fork_leak_is_in_5_7_only(kernel: str, leak: str, fixes_off: list[str], tmp_path: Path) -> None:
    seen, off = verdicts(with_kernel(kernel, tmp_path))
    assert seen["cow_isolation"] == leak and seen["pin_coherence"] == "never"
    assert off == fixes_off


def test_the_same_progression_by_switches_on_the_bundled_file() -> None:
    assert verdicts(SCENARIO, "--reuse", "mapcount", "--fix", "gup_force_cow=off")[0]["cow_isolation"] == "sometimes"
    assert verdicts(SCENARIO, "--reuse", "mapcount")[0]["cow_isolation"] == "never"
    assert verdicts(SCENARIO)[0]["cow_isolation"] == "never"
    # under the page-count rule its code never runs: the same Never, and no table of the file is about that run
    r = spftui("explore", SCENARIO, "--fix", "gup_force_cow=off")
    assert r.returncode == 0 and "cow_isolation:  Never" in r.stdout and "nothing judged" in r.stdout


def test_the_fixes_off_table_of_a_mapcount_only_fix_is_about_the_mapcount_rule() -> None:
    sc = parse_scenario((bundled_scenarios_dir() / f"{SCENARIO}.toml").read_text())
    (table,) = [t for t in sc.expect if t.fix_off == "gup_force_cow"]
    assert (table.policy, table.reuse) == ("classic", "mapcount")
    (table,) = [t for t in sc.expect if t.fix_off == "page_count_reuse"]
    assert (table.policy, table.reuse) == ("classic", "page-count")  # the file's own rule, as before


def test_the_trace_says_gup_forced_foll_write_only_under_the_mapcount_rule() -> None:
    def forced(*args: str) -> list[tuple[int, str]]:
        r = spftui("trace", SCENARIO, *args, "--json")
        assert r.returncode == 0, r.stderr
        steps = [json.loads(line) for line in r.stdout.splitlines()]
        return [
            (s["step"], s["label"])
            for s in steps
            for e in s["events"]
            if e["kind"] == "decision" and e["detail"].startswith("FOLL_WRITE forced")
        ]

    assert forced("--reuse", "mapcount") == [(2, "__get_user_pages:check_vma_flags")]
    assert forced("--reuse", "mapcount", "--fix", "gup_force_cow=off") == []
    assert forced() == []
    text = spftui("trace", SCENARIO, "--reuse", "mapcount").stdout
    assert "(should_force_cow_break, 17839856fd58)" in text
    assert "`gup 0x10000` → got pfn 2 (FOLL_WRITE|FOLL_GET)" in text  # the child's own copy


def test_the_story_of_a_run_says_gup_forced_foll_write() -> None:
    """The narration a counterexample gets (explore's story) names the forced flag, not FOLL_COW."""
    sc = load_scenario(bundled_scenarios_dir() / f"{SCENARIO}.toml").with_policy(reuse="mapcount")
    story = narrate(sc, [0] * 21)  # C1's gup: forced FOLL_WRITE, the COW copy, the page
    assert story.startswith("C1 (steps 1–21) starts `gup 0x10000`, forces FOLL_WRITE in __get_user_pages (a COW")
    assert "takes do_wp_page's copy path" in story and "sets FOLL_COW" not in story


RO = """\
title = "a read GUP of read-only private mappings"
kernel = "{kernel}"

[[file]]
name = "F"
pages = 1
data = {{ "0x0" = 7 }}

[[process]]
name = "A"
data = {{ "0x10000" = 1 }}

  [[process.mapping]]
  start = 0x10000
  pages = 1
  prot = "r"

  [[process.mapping]]
  start = 0x20000
  pages = 1
  prot = "r"
  file = "F"

[[thread]]
name = "A1"
process = "A"
ops = ["gup 0x10000", "gup-read 0x10000", "gup 0x20000", "gup-read 0x20000"]
"""


@pytest.mark.parametrize("kernel", ["5.7", "5.8"])
def test_a_forced_break_on_a_read_only_mapping_ends_without_foll_force(kernel: str) -> None:
    """5.8's can_follow_write_pte drops the FOLL_FORCE requirement: a forced break on a
    !VM_WRITE VMA sets FOLL_COW without FOLL_FORCE, and the dirty read-only PTE must pass
    (else GUP would fault forever). The file page is copied, never handed out."""
    s = Session(parse_scenario(RO.format(kernel=kernel), "ro.toml"))
    stop = s.run(limit=500)
    assert stop.kind == "finished", stop.text
    done = [e.result for _, _, evs in s.timeline.replay() for e in evs if e.kind == "op_done"]
    m = s.machine
    if kernel == "5.8":
        assert done[0].endswith("(FOLL_WRITE|FOLL_GET|FOLL_COW)") and done[2].endswith("(FOLL_WRITE|FOLL_GET|FOLL_COW)")
        assert int(done[2].split()[2]) != m.page_cache[("F", 0)]  # do_cow_fault's anonymous copy
    else:
        assert done[0].endswith("(FOLL_GET)")
        assert int(done[2].split()[2]) == m.page_cache[("F", 0)]  # a read GUP takes the page-cache page
    assert done[1] == "read 1 from pfn " + done[0].split()[2] and done[3].startswith("read 7 ")


def test_spftui_fixes_lists_the_forced_cow_break() -> None:
    rows = {r["name"]: r for r in json.loads(spftui("fixes", "--json").stdout)}
    f = rows["gup_force_cow"]
    assert f["commit"] == "17839856fd58" == FIX["gup_force_cow"].commit
    assert f["presets_without"] == ["5.7"] and f["reuse"] == ["mapcount"]
    assert SCENARIO in f["scenarios"]
    assert rows["fork_copy_pinned"]["presets_without"] == ["5.7", "5.8"]
    text = spftui("fixes", "gup_force_cow").stdout
    assert "replay:    spftui explore history_gup_after_fork --reuse mapcount --fix gup_force_cow=off" in text
    assert "reuse:     mapcount (no effect under the other rules)" in text
    assert "17839856fd58" in KERNEL_PRESET["5.8"].note and "not modelled" not in KERNEL_PRESET["5.8"].note
