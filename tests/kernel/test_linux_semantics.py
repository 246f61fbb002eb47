"""The four differences from Linux that a live-kernel comparison found (issue 10), each through the Session."""

from __future__ import annotations

from spftui.engine import RoundRobin, Session
from spftui.kernel.events import OpDone
from spftui.kernel.pte import format_pte, vpn_of
from spftui.scenario import parse_scenario

HEAD = """
title = "t"
kernel = "6.4"
[[process]]
name = "P"
  [[process.mapping]]
  start = 0x10000
  pages = 3
"""


def run(parent: list[str], child: list[str] | None = None, more: str = "") -> Session:
    text = HEAD + more + f'[[thread]]\nname = "T"\nprocess = "P"\nops = {parent}\n'
    if child is not None:
        text += f'[[thread]]\nname = "U"\nprocess = "C"\nops = {child}\n'
    s = Session(parse_scenario(text.replace("'", '"')), RoundRobin())
    s.run()
    assert s.violations() == []
    return s


def pte(s: Session, mm: str, addr: int) -> str:
    return format_pte(s.machine.pte_lookup(s.machine.mms[mm], vpn_of(addr)))


def results(s: Session) -> list[str]:
    return [e.result for _, _, evs in s.timeline.replay() for e in evs if isinstance(e, OpDone)]


def test_fork_does_not_copy_a_zero_page_pte_of_a_vma_without_anon_vma() -> None:
    s = run(["read 0x10000", "fork C"])
    assert pte(s, "P", 0x10000).startswith("zero")
    assert pte(s, "C", 0x10000) == "none"  # vma_needs_copy(): no anon_vma, no copy


def test_fork_skips_ptes_per_vma() -> None:
    s = run(["mprotect 0x11000 1p r", "write 0x10000 1", "read 0x12000", "fork C"])
    assert pte(s, "C", 0x10000).startswith("pfn")  # this VMA got an anon_vma from the write
    assert pte(s, "C", 0x12000) == "none"  # its own VMA has none: the read fault did not create one


def test_mprotect_over_a_hole_changes_the_part_before_it_and_returns_enomem() -> None:
    s = run(["munmap 0x11000 1p", "mprotect 0x10000 3p r", "write 0x12000 1", "write 0x10000 2"])
    assert results(s)[1] == "ENOMEM"
    assert results(s)[2] == "wrote 1"  # past the hole: still writable
    assert results(s)[3] == "killed by SIGSEGV at 0x10000: VMA r--p has no write permission"


def test_madvise_dontneed_over_a_hole_zaps_both_sides_and_returns_enomem() -> None:
    s = run(["write 0x10000 1", "write 0x12000 2", "munmap 0x11000 1p", "madvise 0x10000 3p dontneed"])
    assert results(s)[-1] == "ENOMEM"
    assert pte(s, "P", 0x10000) == pte(s, "P", 0x12000) == "none"


def test_a_read_of_a_prot_none_page_kills_the_process_even_with_the_page_present() -> None:
    s = run(["write 0x10000 7", "mprotect 0x10000 1p none", "read 0x10000"])
    t = s.machine.threads[0]
    assert t.state == "done"
    assert t.result == "read 0x10000: killed by SIGSEGV at 0x10000: VMA ---p has no read permission"


def test_sigsegv_kills_every_thread_of_the_process_and_frees_its_memory() -> None:
    more = '[[thread]]\nname = "T2"\nprocess = "P"\nops = ["read 0x10000"]\nrepeat = 100\n'
    s = run(["write 0x10000 1", "fork C", "read 0x20000", "write 0x11000 3"], ["write 0x10000 2"], more)
    m = s.machine
    by_name = {t.name: t for t in m.threads}
    assert by_name["T"].result == "read 0x20000: killed by SIGSEGV at 0x20000: no VMA"
    assert "killed by SIGSEGV (group exit)" in by_name["T2"].result
    assert m.mms["P"].vmas == [] and m.mms["P"].pgd == {}
    # The child's page is its own again: mapcount 1, and its write reused or copied it.
    f = m.frames[int(pte(s, "C", 0x10000).split()[1])]
    assert f.mapcount == 1 and f.words[0] == 2


def test_an_unfaulted_vma_made_read_only_loses_vm_account_and_does_not_merge_so_fork_skips_it() -> None:
    # Found by kernel-check (seed 5109): p2-p3 never had an anon_vma, so mprotect drops VM_ACCOUNT and
    # p1 (accounted, with the anon_vma of p0's write) cannot absorb them; fork then skips p3's zero PTE.
    s = run(["mprotect 0x12000 1p none", "write 0x10000 1", "mprotect 0x11000 2p r", "read 0x12000", "fork C"])
    assert pte(s, "P", 0x12000).startswith("zero")
    assert pte(s, "C", 0x12000) == "none"
    assert pte(s, "C", 0x10000).startswith("pfn")
