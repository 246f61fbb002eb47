"""Fidelity review of 2 December (probe A): each defect a reviewer found by
reading the kernel, reproduced through a scenario, against the kernel's
behaviour (the commit or function is named in each test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import spftui

from spftui.engine import Session
from spftui.kernel import build_machine
from spftui.kernel.events import SpfAbort
from spftui.scenario import parse_scenario

ROOT = Path(__file__).resolve().parents[2]

# ------------------------------------- 1. a stale TLB entry after a zap, before its flush
DONTNEED_STALE = """
title = "a store or load through a stale TLB entry after MADV_DONTNEED's zap, while another thread refaults"
policy = "classic"
kernel = "5.12"
words_per_page = 4
[[process]]
name = "A"
data = {{ "0x10000" = 1 }}
  [[process.mapping]]
  start = 0x10000
  pages = 1
  prot = "rw"
[[thread]]
name = "A1"
process = "A"
ops = ["write 0x10000 5", "{second}"]
[[thread]]
name = "A2"
process = "A"
ops = ["madvise 0x10000 1p dontneed"]
[[thread]]
name = "A3"
process = "A"
ops = ["{third}"]
[schedule]
steps = ["A1 1", "A2 until zap_pte_range:zap", "A2 1", "A3 until done", "A1 until done", "A2 until done"]
"""


@pytest.mark.parametrize(
    ("second", "third", "result"),
    [
        ("write 0x10000 7", "read 0x10000", "wrote 7"),  # A3 maps the zero page
        ("read 0x10000", "read 0x10000", "read 5"),
        ("read 0x10000", "write 0x10000 9", "read 5"),  # A3 maps a new anonymous page and writes it
    ],
)
def test_an_access_through_the_stale_tlb_entry_before_dontneeds_flush_is_legal_after_a_refault(
    second: str, third: str, result: str
) -> None:
    """madvise_dontneed_single_vma holds only the mmap read lock: between zap_pte_range and
    tlb_finish_mmu another thread's do_anonymous_page may fill the PTE, and A1's access through
    its old TLB entry still reaches the zapped page. Either outcome is allowed."""
    s = Session(parse_scenario(DONTNEED_STALE.format(second=second, third=third)))
    assert s.run().kind == "finished"
    assert s.violations() == []
    assert s.machine.threads[0].result.endswith(result)
    assert "stale" not in s.machine.threads[1].vmf  # tlb_finish_mmu ended the exemption


@pytest.mark.parametrize(("touched", "stale"), [(True, (0x10,)), (False, None)])
def test_a_zap_records_the_stale_entry_only_where_a_tlb_holds_one(touched: bool, stale: object) -> None:
    """The pending-flush record is in the explorer's fingerprint: a zap with no stale TLB entry adds nothing."""
    text = DONTNEED_STALE.format(second="read 0x10000", third="read 0x10000")
    if not touched:
        text = text.replace('"A1 1", ', "")  # A1 has not loaded the page: no TLB entry to go stale
    s = Session(parse_scenario(text))
    s.run(limit=4 if touched else 3)  # up to and including zap_pte_range:zap
    a2 = s.machine.threads[1]
    assert a2.pc == "tlb_finish_mmu:flush" and a2.vmf.get("stale") == stale


def test_explore_finds_no_lost_write_in_the_dontneed_refault_race(tmp_path: Path) -> None:
    path = tmp_path / "dontneed.toml"
    path.write_text(DONTNEED_STALE.format(second="write 0x10000 7", third="read 0x10000").split("[schedule]")[0])
    r = spftui("explore", str(path), "--json")
    assert r.returncode == 0, r.stderr
    cell = json.loads(r.stdout)["policies"]["classic"]
    assert cell["complete"] and cell["verdicts"]["lost_write"] == "never"


# ---------------------------------------------- 2. 5.18 has no GUP unsharing (5.19)
@pytest.mark.parametrize(
    ("kernel", "table", "pin_lost"),
    [("5.18", "[expect.fixes_off.gup_unshare]", True), ("5.19", "[expect.anon-exclusive]", False)],
)
def test_kernel_5_18_lacks_gup_unsharing_and_5_19_has_it(
    tmp_path: Path, kernel: str, table: str, pin_lost: bool
) -> None:
    """a7f226604170 / c89357e27f20 / 6c287605fd56 are 5.19: on 5.18 a R/O pin of a COW-shared page
    stays on the shared page, and the pinner's own write copies it away."""
    text = (ROOT / "scenarios/history_gup_pin_unshare.toml").read_text()
    assert 'kernel = "6.4"' in text
    path = tmp_path / "pin.toml"
    path.write_text(text.replace('kernel = "6.4"', f'kernel = "{kernel}"'))
    r = json.loads(spftui("check", str(path), "--json").stdout)
    assert r["expect_table"] == table and r["expect_ok"]
    assert ("pin_coherence" in {v["kind"] for v in r["violations"]}) == pin_lost


def test_spftui_fixes_lists_5_18_as_a_release_without_gup_unshare() -> None:
    fixes = {f["name"]: f for f in json.loads(spftui("fixes", "--json").stdout)}
    assert fixes["gup_unshare"]["presets_without"] == ["5.18"]


# ------------------------------ 3. 6.4's lock_vma_under_rcu: userfaultfd_armed, range, detached
UFFD_VMA_LOCK = """
title = "a fault in a uffd-registered VMA under per-VMA locks"
policy = "vma-lock"
kernel = "5.12"
words_per_page = 2
[[process]]
name = "A"
data = { "0x10000" = 7 }
  [[process.mapping]]
  start = 0x10000
  pages = 2
  prot = "rw"
  uffd_wp = true
[[thread]]
name = "W"
process = "A"
ops = ["write 0x11000 5", "read 0x11000"]  # (0x10000's data gave the VMA its anon_vma)
"""


def test_lock_vma_under_rcu_refuses_a_userfaultfd_armed_vma_even_without_a_protected_pte() -> None:
    """444eeb17437a (6.4): `if (userfaultfd_armed(vma)) { vma_end_read(vma); goto inval; }` right after
    vma_start_read, so the fault runs under mmap_lock although the PTE has no uffd-wp bit."""
    s = Session(parse_scenario(UFFD_VMA_LOCK))
    assert s.run().kind == "finished" and s.violations() == []
    aborts = [(a.thread, a.what, a.label) for a in s.aborts()]
    assert aborts == [("W", "UFFD_WP", "lock_vma_under_rcu:vma_start_read")]
    assert s.machine.threads[0].result.endswith("read 5")
    assert all(not v.lock_readers for v in s.machine.vmas if v is not None)  # vma_end_read


def test_lock_vma_under_rcu_checks_the_range_before_detached() -> None:
    """6.4 (and 444eeb17437a's context): the range test (`goto inval`: the classic path) comes before
    `vma->detached` (retry the lookup). A VMA both shrunk away from the address and detached goes classic."""
    m = build_machine(parse_scenario(UFFD_VMA_LOCK.replace("  uffd_wp = true\n", "")))
    while m.threads[0].pc != "lock_vma_under_rcu:vma_start_read":
        m.step(0)
    v = m.vmas[m.threads[0].vmf["vma"]]
    assert v is not None
    v.vm_end, v.detached = 0x11000, True  # as a split and an unlink would leave it
    events = m.step(0)
    assert [(e.reason, e.label) for e in events if isinstance(e, SpfAbort)] == [
        ("RANGE", "lock_vma_under_rcu:vma_start_read")
    ]
    assert m.threads[0].pc == "do_user_addr_fault:mmap_read_lock" and not v.lock_readers


# ------------------------------- 4. Lespinasse SPF: anon_vma matters only to a write fault
SPF_NO_ANON_VMA = """
title = "a speculative fault on a none PTE of a VMA without anon_vma"
policy = "spf-mm-seq"
kernel = "5.12"
words_per_page = 4
[[process]]
name = "A"
data = {{ "0x10000" = 1 }}  # (gives the first table; the VMA at 0x20000 has no anon_vma)
  [[process.mapping]]
  start = 0x10000
  pages = 1
  prot = "rw"
  [[process.mapping]]
  start = 0x20000
  pages = 1
  prot = "rw"
[[thread]]
name = "A1"
process = "A"
ops = ["{op} 0x20000{value}"]
[[thread]]
name = "A2"  # (a second user of the mm: a single-threaded process faults classically)
process = "A"
ops = ["read 0x10000"]
"""


@pytest.mark.parametrize(
    ("op", "value", "aborts", "result"),
    [
        ("read", "", [], "read 0"),  # the zero page, speculatively
        ("write", " 3", [("ANON_VMA", "do_anonymous_page:anon_vma_prepare")], "wrote 3"),
    ],
)
def test_a_speculative_fault_aborts_for_a_missing_anon_vma_only_on_the_write_path(
    op: str, value: str, aborts: list[tuple[str, str]], result: str
) -> None:
    """Lespinasse, "mm: implement speculative handling in do_anonymous_page()": the abort sits in the
    "Allocate our own private page" branch; the zero-page branch only calls pte_map_lock."""
    s = Session(parse_scenario(SPF_NO_ANON_VMA.format(op=op, value=value)))
    assert s.run().kind == "finished" and s.violations() == []
    assert [(a.what, a.label) for a in s.aborts()] == aborts
    assert s.machine.threads[0].result.endswith(result)


# ------------------------------------------- 5. mprotect to the flags a VMA already has
MPROTECT_NOOP = """
title = "mprotect to the same protection during a fault"
policy = "{policy}"
kernel = "5.12"
words_per_page = 4
[[process]]
name = "A"
data = {{ "0x10000" = 1 }}
  [[process.mapping]]
  start = 0x10000
  pages = 2
  prot = "rw"
[[thread]]
name = "A1"
process = "A"
ops = ["write 0x11000 5"]
[[thread]]
name = "A2"
process = "A"
ops = ["mprotect 0x10000 2p rw"]
[schedule]
steps = ["A1 until do_anonymous_page:alloc_page", "A1", "A2 until done", "A1 until done"]
"""


@pytest.mark.parametrize(
    ("policy", "aborts"),
    [
        ("spf-vma-seq", []),  # no vm_write_begin: vm_sequence does not move
        ("vma-lock", []),  # no vma_start_write: A2 does not wait for A1's VMA read lock
        ("spf-mm-seq", ["SEQ1"]),  # do_mprotect_pkey still takes the mmap write lock: mmap_seq moves
    ],
)
def test_mprotect_to_unchanged_flags_returns_before_touching_the_vma(policy: str, aborts: list[str]) -> None:
    """mprotect_fixup (5.12 and 6.x): `if (newflags == oldflags) { *pprev = vma; return 0; }` before
    vma_merge/split_vma/vm_write_begin/vma_start_write, change_protection and its flush."""
    s = Session(parse_scenario(MPROTECT_NOOP.format(policy=policy)))
    assert s.run().kind == "finished" and s.violations() == []
    assert [a.what for a in s.aborts()] == aborts
    m = s.machine
    assert [t.result for t in m.threads] == ["write 0x11000 5: wrote 5", "mprotect 0x10000 2p rw: 0"]
    (v,) = [v for v in m.vmas if v is not None and not v.free]
    assert v.vm_sequence == 0 and m.mms["A"].mmap_seq == 2
    assert not any(e.kind == "flush" for i in range(len(s.timeline)) for e in s.events_of(i))


# ------------------------------------------ 6. the setup fork copies PTEs as copy_page_range
SETUP_FORK = """
title = "setup fork vs runtime fork of a VMA without anon_vma"
policy = "classic"
kernel = "5.12"
words_per_page = 4
[[process]]
name = "A"
data = { "0x20000" = 4 }
  [[process.mapping]]
  start = 0x10000
  pages = 1
  prot = "r"
  populate = true
  [[process.mapping]]
  start = 0x20000
  pages = 1
  prot = "rw"
[[process]]
name = "B"
fork_of = "A"
[[thread]]
name = "A1"
process = "A"
ops = ["fork C"]
[[thread]]
name = "B1"
process = "B"
ops = ["read 0x10000", "read 0x20000"]
[[thread]]
name = "C1"
process = "C"
ops = ["read 0x10000", "read 0x20000"]
"""


def test_the_setup_fork_skips_the_ptes_of_a_vma_without_anon_vma_as_the_runtime_fork_does() -> None:
    """copy_page_range (5.12): `if (!(vma->vm_flags & (VM_HUGETLB|VM_PFNMAP|VM_MIXEDMAP)) && !vma->anon_vma)
    return 0;`: the populated read-only VMA's zero-page PTEs stay behind; the data VMA's page is COW-shared."""
    m = build_machine(parse_scenario(SETUP_FORK))
    a, b = m.mms["A"], m.mms["B"]
    assert m.pte_lookup(a, 0x10) != 0 and m.pte_lookup(b, 0x10) == 0
    assert m.pte_lookup(a, 0x20) >> 12 == m.pte_lookup(b, 0x20) >> 12 != 0
    s = Session(parse_scenario(SETUP_FORK))
    assert s.run().kind == "finished" and s.violations() == []
    assert [t.result for t in s.machine.threads[1:]] == ["read 0x20000: read 4", "read 0x20000: read 4"]
