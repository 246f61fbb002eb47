"""userfaultfd write-protect: the gallery race (6ce64428d620) through the CLI, the
protect / fault / un-protect cycle, its results and its located errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import spftui

from spftui.engine import Session
from spftui.engine.explorer import explore
from spftui.kernel.pte import pte_uffd_wp, pte_write
from spftui.kernel.state import VM_UFFD_WP
from spftui.scenario import POLICIES, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
FIX = "uffd_wp_flush_pending"
SCENARIO = "scenarios/history_uffd_wp_flush.toml"


# ------------------------------------------------------------ the gallery race
@pytest.mark.parametrize(("state", "verdict"), [("off", "sometimes"), ("on", "never")])
def test_explore_loses_the_store_through_the_stale_tlb_entry_only_without_the_fix(state: str, verdict: str):
    r = spftui("explore", SCENARIO, "--fix", f"{FIX}={state}", "--json")
    assert r.returncode == 0, r.stderr  # [expect] or [expect.fixes_off.uffd_wp_flush_pending] holds
    out = json.loads(r.stdout)
    cell = out["policies"]["classic"]
    assert cell["complete"] and cell["reuse"] == "page-count"
    assert cell["verdicts"]["lost_write"] == verdict
    assert {k for k, v in cell["verdicts"].items() if v != "never"} == ({"lost_write"} if state == "off" else set())
    assert out["fixes_off"] == ([FIX] if state == "off" else [])


def test_check_replays_the_commits_diagram_on_the_bundled_schedule():
    off = json.loads(spftui("check", SCENARIO, "--fix", f"{FIX}=off", "--json").stdout)
    assert off["expect_table"] == f"[expect.fixes_off.{FIX}]" and off["expect_ok"]
    assert [v["kind"] for v in off["violations"]] == ["lost_write"]
    on = json.loads(spftui("check", SCENARIO, "--json").stdout)
    assert on["violations"] == [] and on["expect_ok"]


def test_kernel_5_11_lacks_the_fix_and_5_12_has_it(tmp_path: Path):
    text = (ROOT / SCENARIO).read_text()
    old = tmp_path / "old.toml"
    old.write_text(text.replace('kernel = "5.12"', 'kernel = "5.11"'))
    r = json.loads(spftui("check", str(old), "--json").stdout)
    assert [v["kind"] for v in r["violations"]] == ["lost_write"] and r["expect_ok"]


def test_spftui_fixes_lists_the_switch_with_its_commit_and_scenario():
    fixes = {f["name"]: f for f in json.loads(spftui("fixes", "--json").stdout)}
    f = fixes[FIX]
    assert f["commit"] == "6ce64428d620" and "history_uffd_wp_flush" in f["scenarios"]
    assert f["presets_without"] == ["5.11"] and "do_wp_page" in f["where"]


# --------------------------------------------------- protect, fault, un-protect
TEXT = """\
title = "t"
policy = "{policy}"
kernel = "5.12"

[[process]]
name = "A"
data = {{ "0x10000" = 7, "0x12000" = 3 }}

  [[process.mapping]]
  start = 0x10000
  pages = 2
  prot = "rw"
  uffd_wp = true

  [[process.mapping]]
  start = 0x12000
  pages = 1
  prot = "rw"

[[thread]]
name = "M"
process = "A"
ops = {monitor}

[[thread]]
name = "W"
process = "A"
ops = {writer}
"""


def scenario(monitor: list[str], writer: list[str], policy: str = "classic", extra: str = ""):  # type: ignore[no-untyped-def]
    def arr(ops: list[str]) -> str:
        return "[" + ", ".join(f'"{o}"' for o in ops) + "]"

    return parse_scenario(TEXT.format(policy=policy, monitor=arr(monitor), writer=arr(writer)) + extra, "t.toml")


def results(s: Session, thread: str | None = None) -> list[str]:
    evs = [e for _, _, evs in s.timeline.replay() for e in evs]
    return [e.result for e in evs if e.kind == "op_done" and thread in (None, e.thread)]


def pte(s: Session, addr: int) -> int:
    m = s.machine
    return m.tables[m.mms["A"].pgd[addr >> 21]].entries[(addr >> 12) % 512]


def test_protect_sets_the_uffd_wp_bit_and_clears_w_and_unprotect_clears_w_of_a_writable_pte_too():
    s = Session(scenario(["uffd-wp 0x10000 1p"], ["read 0x10000"]))
    s.run(limit=500)
    assert results(s, "M") == ["0"] and pte_uffd_wp(pte(s, 0x10000)) and not pte_write(pte(s, 0x10000))
    s = Session(scenario(["uffd-unwp 0x10000 2p"], ["read 0x10000"]))
    s.run(limit=500)
    assert not pte_uffd_wp(pte(s, 0x10000)) and not pte_write(pte(s, 0x10000))  # the corruption's first half
    assert s.machine.mms["A"].tlb_flush_pending == 0


@pytest.mark.parametrize("policy", POLICIES)
def test_a_write_to_a_protected_page_sleeps_until_the_unprotect_wakes_it(policy: str):
    extra = '\n[schedule]\nsteps = ["M 5", "W until handle_userfault:wait", "W", "M until done", "W until done"]\n'
    sc = scenario(["uffd-wp 0x10000 1p", "uffd-unwp 0x10000 1p"], ["write 0x10000 5", "read 0x10000"], policy, extra)
    s = Session(sc)
    s.run(limit=2000)
    events = [e for _, _, evs in s.timeline.replay() for e in evs]
    assert [e.kind for e in events if e.kind in ("block", "wake")] == ["block", "wake"]
    assert results(s) == ["0", "0", "wrote 5", "read 5"] and s.violations() == []
    r = explore(sc, policy, mode="exhaustive", narrate=False)
    assert r.complete and r.verdicts["deadlock"] == "never" and r.verdicts["lost_write"] == "never"


def test_without_an_unprotect_the_faulting_writer_sleeps_forever():
    r = explore(scenario(["uffd-wp 0x10000 1p"], ["write 0x10000 5"]), mode="exhaustive", narrate=False)
    assert r.complete and r.verdicts["deadlock"] == "sometimes"


def test_runtime_errors_are_results_and_gup_gets_efault_on_a_protected_page():
    s = Session(scenario(["uffd-wp 0x12000 1p", "uffd-wp 0x10000 3p", "uffd-wp 0x40000 1p"], ["read 0x10000"]))
    s.run(limit=500)
    assert results(s, "M") == [
        "-ENOENT: the VMA is not registered for uffd-wp",
        "-ENOENT: the range is not inside one VMA",
        "-ENOENT: the range is not inside one VMA",
    ]
    extra = '\n[schedule]\nsteps = ["M until done", "W until done"]\n'
    s = Session(scenario(["uffd-wp 0x10000 1p"], ["gup 0x10000 write", "read 0x10000"], extra=extra))
    s.run(limit=500)
    assert results(s) == [
        "0",
        "-EFAULT: handle_userfault returned VM_FAULT_SIGBUS (no FAULT_FLAG_ALLOW_RETRY)",
        "read 7",
    ]


def test_fork_drops_the_registration_and_mprotect_keeps_it():
    extra = '\n[[process]]\nname = "C"\nfork_of = "A"\n'
    s = Session(scenario(["uffd-wp 0x10000 1p", "fork D"], ["mprotect 0x10000 2p r"], extra=extra))
    s.run(limit=2000)
    m = s.machine
    assert all(not m.vmas[v].vm_flags & VM_UFFD_WP for c in ("C", "D") for v in m.mms[c].vmas)
    assert [bool(m.vmas[v].vm_flags & VM_UFFD_WP) for v in m.mms["A"].vmas] == [True, False]
    d = m.mms["D"]
    assert not pte_uffd_wp(m.tables[d.pgd[0]].entries[0x10])  # the child's copy of the PTE lost the bit


@pytest.mark.parametrize(
    ("edit", "where", "message"),
    [
        ('"uffd-wp 0x10001 1p"', "thread[0].ops[0]", "expected a page-aligned range start"),
        ('"uffd-wp 0x10000"', "thread[0].ops[0]", "expected 'uffd-wp ADDR LENGTH' (2 argument(s)), found 1"),
        ('"uffd-unwp 0x10000 0x800"', "thread[0].ops[0]", "expected a length that is a positive multiple of 0x1000"),
        ('"uffd-unwp 0x10000 1p wake"', "thread[0].ops[0]", "expected 'uffd-unwp ADDR LENGTH'"),
    ],
)
def test_bad_op_arguments_are_located_errors(edit: str, where: str, message: str, tmp_path: Path):
    text = TEXT.format(policy="classic", monitor=f"[{edit}]", writer='["read 0x10000"]')
    path = tmp_path / "bad.toml"
    path.write_text(text)
    r = spftui("check", str(path))
    assert r.returncode == 2
    line = text.splitlines().index(f"ops = [{edit}]") + 1
    assert f"{path}:{line}: {where}: {message}" in r.stderr


def test_uffd_wp_on_a_file_mapping_or_not_a_boolean_is_a_located_error(tmp_path: Path):
    base = TEXT.format(policy="classic", monitor='["read 0x10000"]', writer='["read 0x10000"]')
    path = tmp_path / "bad.toml"
    path.write_text(base.replace("uffd_wp = true", 'uffd_wp = "yes"'))
    r = spftui("check", str(path))
    assert r.returncode == 2 and "bad.toml:13: process[0].mapping[0].uffd_wp: expected a boolean" in r.stderr
    path.write_text(
        base.replace("uffd_wp = true", 'uffd_wp = true\n  file = "F"') + '\n[[file]]\nname = "F"\npages = 2\n'
    )
    r = spftui("check", str(path))
    assert r.returncode == 2 and "bad.toml:13: process[0].mapping[0].uffd_wp: 'uffd_wp' is for anonymous" in r.stderr
