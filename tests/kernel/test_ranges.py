"""Range operations and populate cost what exists (PTE tables, VMAs, pages), not the range's length.

munmap / mprotect / MADV_DONTNEED over the whole user address space used to
walk every pmd index of the range (2^26 of them): a minute and gigabytes for
a 19-step run. The CPU bounds below are ~100x above what these runs take now
and far below what they took then, so they hold on a loaded machine.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cli_run import spftui

from spftui.engine import Session
from spftui.kernel import build_machine
from spftui.kernel.build import _touch
from spftui.kernel.pte import PAGE_SIZE, PTRS_PER_PTE, ZERO_PFN, mk_pte, pte_present, pte_write, vpn_of
from spftui.scenario import parse_scenario

ROOT = Path(__file__).resolve().parents[2]
USER_END = 0x7FFFFFFFF000

WHOLE_RANGE = """
title = "{op} over the whole user address space"
policy = "{policy}"
kernel = "5.12"
words_per_page = 4
[[process]]
name = "A"
data = {{ "0x10000" = 1, "0x11000" = 2, "0x7fffffe00000" = 3 }}
  [[process.mapping]]
  start = 0x10000
  pages = 2
  [[process.mapping]]
  start = 0x7fffffe00000
  pages = 1
[[thread]]
name = "A1"
process = "A"
ops = ["write 0x10000 11", "read 0x11000"]
[[thread]]
name = "A2"
process = "A"
ops = ["{op}"]
[expect]
lost_write = "never"
use_after_free = "never"
refcount = "never"
stray_pte = "never"
"""


def whole_range(op: str, policy: str = "classic") -> str:
    return WHOLE_RANGE.format(op=op, policy=policy)


def run(text: str, seed: int | None = None) -> tuple[Session, float]:
    from spftui.engine import SeededRandom

    t0 = time.process_time()
    s = Session(parse_scenario(text), strategy=None if seed is None else SeededRandom(seed))
    s.run()
    return s, time.process_time() - t0


def test_every_interleaving_of_a_whole_range_munmap_explores_clean_from_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "munmap_all.toml"
    path.write_text(whole_range(f"munmap 0x0 {USER_END:#x}"))
    r = spftui("explore", str(path), "--policy", "classic,vma-lock", "--no-save")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "complete" in r.stdout and "Expectations hold." in r.stdout


@pytest.mark.parametrize("policy", ["classic", "spf-mm-seq", "vma-lock"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_munmap_of_the_whole_user_range_tears_everything_down_quickly(policy: str, seed: int) -> None:
    s, cpu = run(whole_range(f"munmap 0x0 {USER_END:#x}", policy), seed)
    assert cpu < 2.0
    assert s.violations() == []
    mm = s.machine.mms["A"]
    assert mm.vmas == [] and mm.pgd == {}  # free_pgtables unhooked both tables, at both ends of the range
    assert [f.pfn for f in s.machine.frames if not f.free] == [0]  # only the zero page is left


def test_mprotect_of_the_whole_user_range_stops_at_the_first_hole_quickly() -> None:
    """do_mprotect_pkey: the part before the first hole changes, then -ENOMEM (from 0x0: nothing changes)."""
    s, cpu = run(whole_range(f"mprotect 0x10000 {USER_END - 0x10000:#x} r"))
    assert cpu < 2.0
    assert s.violations() == []
    m = s.machine
    mm = m.mms["A"]
    low, high = [m.pte_lookup(mm, vpn_of(a)) for a in (0x11000, 0x7FFFFFE00000)]
    assert pte_present(low) and not pte_write(low)
    assert pte_present(high) and pte_write(high)
    assert m.threads[1].result.endswith(": ENOMEM")
    s, _ = run(whole_range(f"mprotect 0x0 {USER_END:#x} r"))
    assert pte_write(s.machine.pte_lookup(s.machine.mms["A"], vpn_of(0x7FFFFFE00000)))
    assert s.machine.threads[1].result.endswith(": ENOMEM")


def test_madvise_dontneed_of_the_whole_user_range_zaps_but_keeps_the_vmas_quickly() -> None:
    s, cpu = run(whole_range(f"madvise 0x0 {USER_END:#x} dontneed"))
    assert cpu < 2.0
    assert s.violations() == []
    mm = s.machine.mms["A"]
    assert len(mm.vmas) == 2
    assert s.machine.pte_lookup(mm, vpn_of(0x7FFFFFE00000)) == 0


POPULATE = """
title = "populated mappings"
policy = "classic"
kernel = "5.12"
words_per_page = 4
[[process]]
name = "A"
  [[process.mapping]]
  start = {start:#x}
  pages = {pages}
  populate = {populate}
  [[process.mapping]]
  start = 0x40000000
  pages = 3
  prot = "r"
  populate = {populate}
[[thread]]
name = "A1"
process = "A"
ops = ["read {start:#x}", "write {last:#x} 7", "read 0x40001000", "munmap {start:#x} {pages}p"]
"""


def populate_text(pages: int, populate: bool, start: int = 0x10000) -> str:
    last = start + (pages - 1) * PAGE_SIZE
    return POPULATE.format(start=start, pages=pages, last=last, populate=str(populate).lower())


def test_populate_builds_the_state_that_touching_every_page_in_order_builds() -> None:
    # 1,200 pages from a start that is not table-aligned: four PTE tables, partly filled.
    pages = 1200
    fast = build_machine(parse_scenario(populate_text(pages, True)))
    slow = build_machine(parse_scenario(populate_text(pages, False)))
    mm = slow.mms["A"]
    for addr in range(0x10000, 0x10000 + pages * PAGE_SIZE, PAGE_SIZE):
        _touch(slow, mm, addr)
    for vpn in range(0x40000, 0x40003):  # read-only: read faults map the zero page (do_anonymous_page)
        slow.set_pte(mm, slow.pte_alloc(mm, vpn), vpn, mk_pte(ZERO_PFN))
    assert len(fast.mms["A"].pgd) == 4
    assert fast.snapshot() == slow.snapshot()


def test_a_populated_mapping_runs_clean_and_its_pages_go_at_munmap() -> None:
    s, _ = run(populate_text(2 * PTRS_PER_PTE + 5, True))
    assert s.violations() == []
    assert s.machine.threads[0].result == f"munmap 0x10000 {2 * PTRS_PER_PTE + 5}p: 0"
    live = [f.pfn for f in s.machine.frames if not f.free]
    assert live == [0]  # the zero page, which the read-only mapping's 3 pages map


def test_populating_and_unmapping_40k_pages_costs_microseconds_per_page() -> None:
    # About 10 us a page now; counting the zap batch's references page by page
    # made this quadratic (about 6 s).
    s, cpu = run(populate_text(40_000, True))
    assert s.violations() == []
    assert cpu < 3.0


def test_setup_respects_prot_none_and_read_only_populate_maps_the_zero_page(tmp_path: Path) -> None:
    """Data in a PROT_NONE mapping is present but PROT_NONE (written, then mprotect'ed);
    MAP_POPULATE read-faults a read-only mapping (the zero page) and skips PROT_NONE."""
    path = tmp_path / "none.toml"
    path.write_text(
        """title = "prot at setup"
[[process]]
name = "Q"
data = { 0x10000 = 5 }
  [[process.mapping]]
  start = 0x10000
  pages = 1
  prot = "none"
  [[process.mapping]]
  start = 0x20000
  pages = 2
  prot = "r"
  populate = true
  [[process.mapping]]
  start = 0x30000
  pages = 1
  prot = "none"
  populate = true
[[thread]]
name = "U"
process = "Q"
ops = ["read 0x10000"]
"""
    )
    m = build_machine(parse_scenario(path.read_text()))
    mm = m.mms["Q"]
    assert m.pte_lookup(mm, 0x10) == mk_pte(1, dirty=True) | 0x100  # _PAGE_PROTNONE, not readable
    assert [m.pte_lookup(mm, vpn) for vpn in (0x20, 0x21)] == [mk_pte(ZERO_PFN)] * 2
    assert m.pte_lookup(mm, 0x30) == 0
    r = spftui("trace", str(path))
    assert "U `read 0x10000` → killed by SIGSEGV at 0x10000" in r.stdout, r.stdout
