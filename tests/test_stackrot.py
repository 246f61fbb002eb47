"""StackRot (CVE-2023-3269; kernel/stack.py): stack expansion replaces the VMA index's node, and a
find_vma_prev that holds the old node under the mmap read lock reads it after RCU freed it; with
8d7071af8907 (`expand_stack_write_lock`) the fault expands only under the write lock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import spftui

from spftui.kernel.build import build_machine
from spftui.kernel.machine import Machine
from spftui.kernel.state import VM_GROWSDOWN
from spftui.scenario import bundled_scenarios_dir
from spftui.scenario.fixes import FIX
from spftui.scenario.loader import parse_scenario

SCENARIO = str(bundled_scenarios_dir() / "history_stackrot.toml")
OFF = ("--fix", "expand_stack_write_lock=off")

# L (two pages, its first written: it has an anon_vma) and the stack S one page above it, both
# VM_GROWSDOWN. F faults just below S, M walks the VMAs from S (madvise), W reads L's second page.
TWO_STACKS = """\
title = "t"
{kernel}
policy = "{policy}"

[[process]]
name = "A"
data = {{ "0x10000" = 7 }}

  [[process.mapping]]
  start = 0x10000
  pages = 2
  prot = "rw"
  growsdown = {lower}

  [[process.mapping]]
  start = 0x13000
  pages = 1
  prot = "rw"
  growsdown = true

[[thread]]
name = "F"
process = "A"
ops = ["write 0x12000 1"]

[[thread]]
name = "M"
process = "A"
ops = ["madvise 0x13000 1p dontneed"]

[[thread]]
name = "W"
process = "A"
ops = ["read 0x11000"]
"""


def machine(policy: str = "classic", kernel: str = "6.1", lower: bool = True) -> Machine:
    text = TWO_STACKS.format(kernel=f'kernel = "{kernel}"', policy=policy, lower=str(lower).lower())
    return build_machine(parse_scenario(text, "s.toml"))


def run_until(m: Machine, name: str, label: str) -> None:
    """Step thread `name` until its next step is `label` (as a schedule's `NAME until LABEL`)."""
    i = next(t.index for t in m.threads if t.name == name)
    m.step(i)
    while m.threads[i].pc != label:
        m.step(i)


def violations(m: Machine) -> set[str]:
    return {k[0] for k in m.reported}


# ------------------------------------------------------------------ the CLI
def test_check_finds_the_use_after_free_with_the_fix_off_and_not_with_it() -> None:
    off = spftui("check", SCENARIO, *OFF, "--json")
    assert off.returncode == 0, off.stderr
    out = json.loads(off.stdout)
    assert [(v["kind"], v["thread"], v["label"]) for v in out["violations"]] == [
        ("use_after_free", "M", "find_vma_prev:mas_prev")
    ]
    assert out["expect_ok"]
    on = spftui("check", SCENARIO, "--json")
    assert on.returncode == 0, on.stderr
    assert json.loads(on.stdout)["violations"] == []
    trace = spftui("trace", SCENARIO).stdout
    assert "drops the mmap read lock to expand vma1 under the write lock" in trace
    assert "upgrade_mmap_lock_carefully:mmap_write_lock_killable" in trace
    assert "lock_mm_and_find_vma:mmap_write_downgrade" in trace


@pytest.mark.parametrize(("switch", "verdict"), [((), "never"), (OFF, "sometimes")])
def test_explore_says_sometimes_without_the_fix_and_never_with_it_under_every_policy(
    switch: tuple[str, ...], verdict: str
) -> None:
    r = spftui("explore", SCENARIO, "--policy", "all", "--json", *switch)
    assert r.returncode == 0, r.stderr
    for policy, cell in json.loads(r.stdout)["policies"].items():
        assert cell["complete"], policy
        assert cell["verdicts"]["use_after_free"] == verdict, (policy, cell["verdicts"])
        assert {v for k, v in cell["verdicts"].items() if k != "use_after_free"} == {"never"}, policy
        assert cell["expect_ok"], policy


# ----------------------------------------------------------- the node's life
def test_expanding_into_a_growsdown_neighbour_replaces_the_node_and_rcu_frees_the_old_one() -> None:
    m = machine()
    mm = m.mms["A"]
    assert mm.maple == ("live",)
    run_until(m, "F", "__handle_mm_fault:walk")
    stack = m.vmas[mm.vmas[1]]
    assert (stack.vm_start, mm.starts[1]) == (0x12000, 0x12000)
    assert mm.maple == ("freed", "live")  # no thread was in a read section: the grace period ended at once
    assert m.rcu_pending == []
    assert violations(m) == set()


def test_a_gap_that_stays_moves_a_pivot_in_place() -> None:
    text = TWO_STACKS.format(kernel='kernel = "6.1"', policy="classic", lower="true")
    text = text.replace("0x13000", "0x14000").replace("write 0x12000", "write 0x13000")
    m = build_machine(parse_scenario(text, "s.toml"))  # the stack grows to 0x13000: the page 0x12000 stays a gap
    run_until(m, "F", "__handle_mm_fault:walk")
    assert m.vmas[m.mms["A"].vmas[1]].vm_start == 0x13000
    assert m.mms["A"].maple == ("live",) and m.rcu_pending == []


def test_a_neighbour_that_is_not_a_stack_keeps_the_guard_gap() -> None:
    m = machine(lower=False)
    run_until(m, "F", "expand_downwards:mas_prev")
    m.step(0)  # L ends 0x1000 below the fault: within stack_guard_gap (256 pages): -ENOMEM, SIGSEGV
    assert "SIGSEGV" in m.threads[0].result and "stack_guard_gap" in m.threads[0].result
    assert m.mms["A"].maple == ("live",) and m.mms["A"].lock_readers == []


def test_the_grace_period_waits_for_a_thread_that_was_in_a_read_section() -> None:
    """W's fault is inside lock_vma_under_rcu's read section when F replaces the node: node 0 stays dead
    (and M's mas_prev reads valid memory) until W leaves it; then it is freed."""
    m = machine(policy="vma-lock")
    mm = m.mms["A"]
    run_until(m, "M", "find_vma_prev:mas_prev")
    run_until(m, "W", "lock_vma_under_rcu:vma_start_read")
    assert m.threads[2].rcu_depth == 1
    run_until(m, "F", "__handle_mm_fault:walk")
    assert mm.maple == ("dead", "live")
    assert [(kind, oid) for kind, oid, _ in m.rcu_pending] == [("maple_node:A", 0)]
    m.step(1)  # M: mas_prev reads the dead node: not freed yet
    assert "use_after_free" not in violations(m)
    m.step(2)  # W: vma_start_read, rcu_read_unlock: the grace period ends
    assert mm.maple == ("freed", "live") and m.rcu_pending == []


def test_the_reader_outside_rcu_reads_a_freed_node() -> None:
    m = machine()
    run_until(m, "M", "find_vma_prev:mas_prev")
    run_until(m, "F", "__handle_mm_fault:walk")
    m.step(1)
    assert violations(m) == {"use_after_free"}


def test_with_the_fix_the_expansion_waits_for_the_reader() -> None:
    m = machine(kernel="6.1.37")
    run_until(m, "M", "find_vma_prev:mas_prev")
    run_until(m, "F", "upgrade_mmap_lock_carefully:mmap_write_lock_killable")
    m.step(0)
    assert m.threads[0].state == "blocked" and m.mms["A"].maple == ("live",)
    while m.threads[1].state != "done":
        m.step(1)
    assert m.threads[0].state == "runnable"
    while m.threads[0].state != "done":
        m.step(0)
    assert m.mms["A"].maple == ("freed", "live") and violations(m) == set()


def test_without_a_stack_madvise_keeps_its_one_step_lookup() -> None:
    m = machine(lower=False)
    assert m.stack_fault is not None  # (S is a stack)
    text = TWO_STACKS.format(kernel="", policy="classic", lower="false").replace("  growsdown = true\n", "")
    plain = build_machine(parse_scenario(text, "s.toml"))
    assert plain.stack_fault is None
    run_until(plain, "M", "do_madvise:find_vma")


# ------------------------------------------------------------------ presets
@pytest.mark.parametrize(("kernel", "lacks"), [("6.1", True), ("6.1.37", False), ("6.4.0", True), ("6.4.3", False)])
def test_kernel_presets_lack_the_fix_from_6_1_through_6_4_0(kernel: str, lacks: bool) -> None:
    assert ("expand_stack_write_lock" in machine(kernel=kernel).fixes_off) == lacks


def test_a_preset_takes_the_fix_out_only_where_there_is_a_stack() -> None:
    text = TWO_STACKS.format(kernel='kernel = "6.4.0"', policy="vma-lock", lower="false")
    plain = parse_scenario(text.replace("  growsdown = true\n", "").replace("  growsdown = false\n", ""), "s.toml")
    assert plain.fixes_off == frozenset({"fork_vma_write_lock"})
    assert FIX["expand_stack_write_lock"].inert("classic", "anon-exclusive", plain.features)


def test_growsdown_is_for_anonymous_mappings() -> None:
    from spftui.scenario import ScenarioError

    text = TWO_STACKS.format(kernel="", policy="classic", lower="false") + '\n[[file]]\nname = "f"\npages = 1\n'
    text = text.replace("  start = 0x13000\n", '  start = 0x13000\n  file = "f"\n')
    with pytest.raises(ScenarioError, match="'growsdown' is for anonymous mappings"):
        parse_scenario(text, "s.toml")


def test_the_scenario_names_its_fix_commits(tmp_path: Path) -> None:
    text = Path(SCENARIO).read_text()
    for commit in ("8d7071af8907", "c2508ec5a58d", "9471f1f2f502", "6.1.37", "6.3.11", "6.4.1"):
        assert commit in text


# ------------------------------------------------ what a kernel review found
def test_dufours_speculative_fault_leaves_a_stack_to_the_classic_path(tmp_path: Path) -> None:
    """v12's handle_speculative_fault aborts on VM_GROWSDOWN (kernel-mm.md B.7): a store into a
    stack took the speculative path to the end."""
    text = TWO_STACKS.format(kernel='kernel = "6.1"', policy="spf-vma-seq", lower="true")
    path = tmp_path / "s.toml"
    path.write_text(text.replace('ops = ["write 0x12000 1"]', 'ops = ["write 0x10000 1"]'))  # inside L, a stack
    r = spftui("check", str(path), "--json")
    assert r.returncode in (0, 1), r.stderr
    aborts = json.loads(r.stdout)["aborts"]
    assert ("GROWSDOWN", "handle_speculative_fault:vma_checks") in {(a["reason"], a["label"]) for a in aborts}


def test_a_release_with_the_rbtree_refuses_a_stack_at_its_line(tmp_path: Path) -> None:
    """5.x kept VMAs in an rbtree: the maple node, and the fault's lock_mm_and_find_vma, would be
    6.1+ code on it (a use-after-free no rbtree kernel has)."""
    path = tmp_path / "s.toml"
    path.write_text(TWO_STACKS.format(kernel='kernel = "5.19"', policy="classic", lower="true"))
    r = spftui("check", str(path))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"spftui: error: {path}:13: process[0].mapping[0].growsdown: stacks are modelled "), (
        r.stderr
    )


def test_a_stack_does_not_grow_below_mmap_min_addr() -> None:
    text = TWO_STACKS.format(kernel='kernel = "6.1"', policy="classic", lower="false")
    text = text.replace("start = 0x10000\n  pages = 2", "start = 0x20000\n  pages = 2")
    text = text.replace("start = 0x13000", "start = 0x1000").replace("write 0x12000", "write 0x0")
    text = text.replace("madvise 0x13000", "madvise 0x1000").replace('"0x10000" = 7', '"0x20000" = 7')
    text = text.replace("read 0x11000", "read 0x21000")
    m = build_machine(parse_scenario(text, "s.toml"))
    run_until(m, "F", "expand_downwards:mas_prev")
    m.step(0)
    assert "SIGSEGV" in m.threads[0].result and "mmap_min_addr" in m.threads[0].result, m.threads[0].result
    stack = next(v for v in m.vmas if v.mm == "A" and v.vm_flags & VM_GROWSDOWN)
    assert stack.vm_start == 0x1000


def test_the_counterexamples_story_says_the_lock_the_kept_pointer_and_the_rcu_free() -> None:
    r = spftui("explore", SCENARIO, *OFF, "--policy", "classic", "--json")
    story = json.loads(r.stdout)["policies"]["classic"]["counterexamples"]["use_after_free"]["narration"]
    for phrase in (
        "keeps a pointer to A's maple node 0 (mas_root), no rcu_read_lock",
        "expands vma1 under the mmap read lock",
        "node 0 dead (call_rcu), RCU frees A's maple node 0",
    ):
        assert phrase in story, story
