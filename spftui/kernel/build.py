"""Build the initial Machine from a Scenario (setup runs outside the timeline)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import paths  # noqa: F401  (registers the steps)
from .filemap import add_file, file_words, map_file
from .machine import Machine
from .pte import (
    _PAGE_DIRTY,
    _PAGE_RW,
    PAGE_SHIFT,
    PAGE_SIZE,
    PTRS_PER_PTE,
    ZERO_PFN,
    is_swap_pte,
    mk_pte,
    pmd_index,
    pte_clear_uffd_wp,
    pte_index,
    pte_mkold,
    pte_modify,
    pte_pfn,
    pte_present,
    pte_special,
    pte_wrprotect,
    vpn_of,
)
from .stack import fault_below_stack
from .state import VM_GROWSDOWN, VM_READ, VM_UFFD_WP, VM_WRITE, Frame, Mm, Thread, Vma, mmap_vm_flags

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..scenario.model import Scenario


def build_machine(sc: Scenario, after_step: Callable[[Machine], None] | None = None) -> Machine:
    """The machine at the start of `sc`. A scenario with its own oracles (`[[oracle]]`)
    needs `after_step`, their check (the engine's `user_oracles.build_machine` makes it):
    without it they would silently never fire."""
    if sc.oracles and after_step is None:
        raise ValueError(
            f"{sc.path or sc.title}: its [[oracle]] tables need the engine's check (engine.user_oracles.build_machine)"
        )
    m = Machine(sc.policy, sc.reuse, sc.words_per_page, sc.fixes_off)
    m.after_step = after_step
    for file in sc.files:
        add_file(m, file.name, file.pages, file.data)
    for p in sc.processes:
        mm = Mm(p.name)
        m.mms[p.name] = mm
        if p.fork_of is not None:
            _setup_fork(m, m.mms[p.fork_of], mm)
        for mp in p.mappings:
            flags = mmap_vm_flags(mp.prot) | (VM_UFFD_WP if mp.uffd_wp else 0)  # UFFDIO_REGISTER_MODE_WP
            if mp.growsdown:  # MAP_GROWSDOWN (stack.py)
                flags |= VM_GROWSDOWN
                m.stack_fault = fault_below_stack
            v = m.new_vma(mm, mp.start, mp.start + mp.length, flags, None)
            if mp.file:
                map_file(m, mm, v, mp.file, 0)
            m.vma_link(mm, v)
            if mp.populate:
                _populate(m, mm, v)
        for addr, value in p.data:
            pfn = _touch(m, mm, addr)
            word = (addr & 0xFFF) // (PAGE_SIZE // m.nwords)
            m.frames[pfn].words[word] = value
            mm.shadow.setdefault(vpn_of(addr), [0] * m.nwords)[word] = value
    for t in sc.threads:
        for op in t.ops:
            if op.kind == "fork" and op.child not in m.mms:
                child = Mm(op.child)
                child.exists = False
                m.mms[op.child] = child
    for i, t in enumerate(sc.threads):
        m.threads.append(Thread(i, t.name, t.process))
        m.ops.append(tuple(t.ops))
        m.repeats.append(t.repeat)
        m.tlbs.append({})
        m.mms[t.process].mm_users += 1
    for mm in m.mms.values():
        mm.mm_users = max(mm.mm_users, 1)
    m.events = []
    m.touched = set()
    m.dirty_frames = set()
    m.dirty_ptes = []
    return m


def _touch(m: Machine, mm: Mm, addr: int) -> int:
    """Make the page at addr present and written, as if the process wrote it: a page
    it shares (one a `fork_of` child inherited, or the zero page) is first copied, as
    wp_page_copy breaks COW (the parent keeps the original, read-only and no longer
    exclusive, as fork left it)."""
    vpn = vpn_of(addr)
    v = m.vma_lookup(mm, addr)
    assert v is not None, "the scenario loader checks data lies in a mapping"
    table = m.pte_alloc(mm, vpn)
    pte = m.get_pte(table, vpn)
    shared: list[int] | None = None
    if pte_present(pte):
        old = m.frames[pte_pfn(pte)]
        if not pte_special(pte) and not old.mapping and old.mapcount == 1 and old.count == 1:
            return old.pfn  # its own page
        shared = old.words
        if not pte_special(pte):
            old.count -= 1
            old.mapcount -= 1
            if not old.mapping:
                mm.rss_anon -= 1  # (counted again below)
    if v.anon_vma is None:
        v.anon_vma = m.new_anon_vma()
    holder = Thread(-1, "setup", mm.name)  # the reference becomes the PTE's
    pfn = m.alloc_page(holder)
    f = m.frames[pfn]
    if shared is not None:
        f.words = list(shared)
    elif v.vm_file:  # a write to a private file page: its anonymous copy (do_cow_fault)
        f.words = list(file_words(m, v, vpn))
    f.mapcount = 1
    f.anon_exclusive = True
    mm.rss_anon += 1
    write = bool(v.vm_flags & VM_WRITE)
    pte = mk_pte(pfn, write=write, dirty=True)
    if not v.vm_flags & (VM_READ | VM_WRITE):  # written, then mprotect(PROT_NONE): as change_pte_range leaves it
        pte = pte_modify(pte, write=False, none=True)
    m.set_pte(mm, table, vpn, pte)
    return pfn


def _populate(m: Machine, mm: Mm, v: Vma) -> None:
    """MAP_POPULATE, as populate_vma_page_range faults the pages in: a writable VMA
    takes write faults (every page present and written, as `_touch` makes one), a
    read-only one read faults (the zero page, read-only), and a PROT_NONE one
    nothing (no FOLL_FORCE without access: the -EFAULT is ignored by mm_populate).

    Writable: one pass per PTE table, writing entries and the oracle's rmap directly:
    setup is outside the timeline (its events and footprints are dropped), the
    VMA is new and mappings do not overlap, so every PTE is none before and the
    shadow is empty (a zeroed page shows what it should). Cost: linear in pages.
    """
    if not v.vm_flags & VM_WRITE:
        if v.vm_flags & VM_READ:
            for vpn in range(vpn_of(v.vm_start), vpn_of(v.vm_end)):
                m.set_pte(mm, m.pte_alloc(mm, vpn), vpn, mk_pte(ZERO_PFN))
        return
    if m.free_pfns:  # not at setup today; keep alloc_page's reuse order if it ever is
        for addr in range(v.vm_start, v.vm_end, PAGE_SIZE):
            _touch(m, mm, addr)
        return
    v.anon_vma = m.new_anon_vma()
    flags = _PAGE_DIRTY | (_PAGE_RW if v.vm_flags & VM_WRITE else 0)
    start, end = vpn_of(v.vm_start), vpn_of(v.vm_end)
    frames, nwords = m.frames, m.nwords
    while start < end:
        table = m.pte_alloc(mm, start)
        stop = min(end, (pmd_index(start) + 1) * PTRS_PER_PTE)
        entries = table.entries
        for vpn in range(start, stop):
            f = Frame(len(frames), nwords)
            f.free = False
            f.count = f.mapcount = 1  # the PTE's reference and mapping
            f.anon_exclusive = True
            f.ptes.add((mm.name, vpn))
            frames.append(f)
            entries[pte_index(vpn)] = mk_pte(f.pfn, write=False) | flags
        mm.rss_anon += stop - start
        start = stop


def _setup_fork(m: Machine, parent: Mm, child: Mm) -> None:
    """dup_mmap at setup: COW sharing, both sides write-protected, counts raised. As copy_page_range
    (`!vma_needs_copy`) and the runtime fork (fork.py): no PTE of a VMA without an anon_vma is copied
    (the zero-page PTEs of a populated read-only VMA, a file VMA's page-cache PTEs); the child faults
    them in again."""
    for vid in parent.vmas:
        v = m.vmas[vid]
        anon = m.new_anon_vma() if v.anon_vma is not None else None
        cv = m.new_vma(child, v.vm_start, v.vm_end, v.vm_flags & ~VM_UFFD_WP, anon)  # dup_userfaultfd
        cv.vm_file, cv.vm_pgoff = v.vm_file, v.vm_pgoff
        m.vma_link(child, cv)
    for pmd, tid in sorted(parent.pgd.items()):
        table = m.table_of(tid)
        for idx, pte in sorted(table.entries.items()):
            vpn = pmd * 512 + idx
            if vpn in parent.shadow:
                child.shadow[vpn] = list(parent.shadow[vpn])
            pv = m.vma_lookup(parent, vpn << PAGE_SHIFT)
            if pv is None or pv.anon_vma is None:  # !vma_needs_copy()
                continue
            ctable = m.pte_alloc(child, vpn)
            if is_swap_pte(pte):
                continue
            if not pte_special(pte):
                f = m.frames[pte_pfn(pte)]
                f.count += 1
                f.mapcount += 1
                f.anon_exclusive = False
                child.rss_anon += 1
            m.set_pte(parent, table, vpn, pte_wrprotect(pte))
            m.set_pte(child, ctable, vpn, pte_clear_uffd_wp(pte_mkold(pte_wrprotect(pte))))
