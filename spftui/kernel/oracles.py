"""Oracles: checks that run as the simulation goes.

lost_write      a completed read, a PTE install or the final state disagrees
                with the shadow memory of completed writes
cow_isolation   a write in one process is visible in another
use_after_free  a freed frame, page table or VMA is used, or a page is
                freed while a PTE or a TLB entry still maps it
refcount        page_count / page_mapcount / swap counts disagree with the
                references that exist
stray_pte       a PTE outside every VMA, or a writable PTE in a VMA without
                VM_WRITE, while no address-space writer is active
deadlock        no thread can run and not all are done (checked by the
                scheduler)
rmap            an anonymous page is mapped in a VMA that rmap cannot reach it
                from. The model keeps no anon_vma chains, so this checks the
                part it can: the VMA has an anon_vma at all (the 6.4 fork
                race's mechanism: a PTE copied into a child VMA that never
                cloned the anon_vma)
file_integrity  a page-cache page changes: in the model nothing may write a
                file (no write(2), no shared mappings), so any store into a
                page-cache page is a private write that reached the file
pin_coherence   what a pinned (FOLL_PIN) reader sees is what the pinning
                process sees: a read through the pin returns the process's
                last write, and the process's writes land in the pinned page
                (until the process zaps the address: munmap, MADV_DONTNEED)
Pins also feed cow_isolation: a write by one process into a page another
process's thread holds from GUP (a vmsplice'd pipe buffer) leaks across fork.

Fork's promise (what `lost_write` and `cow_isolation` hold a fork to): a
store the parent completes before `fork` starts is seen by the child; a
store that races `fork` may or may not be; a store made after `fork`
returns must not be. The race window is dup_mmap's: from vm_area_dup until
flush_tlb_mm (`mm.forking`), the parent's stale writable TLB entries may
store into a page copy_pte_range has already shared with the child. Such a
store is a real store of the parent's, so the parent must see it (a COW
that copies the page before it and installs the copy loses it: the
`lost_write` of the 6.4.0 and Dufour v11 fork races), while the child's
word may then hold the value before the store or the store's: its shadow
word becomes the tuple of both (`either`) until the child's own store
replaces it (reads are not narrowed: they do not write the shadow, which
keeps them independent for the explorer's reductions). After flush_tlb_mm a
parent store can reach a shared page only through a bug, and one that
changes what the child reads is a `cow_isolation` violation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from itertools import chain
from typing import TYPE_CHECKING, Any

from .foll import FOLL_PIN
from .pte import (
    PTRS_PER_PTE,
    ZERO_PFN,
    format_pte,
    is_swap_pte,
    pte_dirty,
    pte_pfn,
    pte_present,
    pte_special,
    pte_swp_offset,
    pte_write,
)
from .state import DISCARDED, VM_WRITE, Word

if TYPE_CHECKING:
    from .machine import Machine
    from .state import Frame, Mm, PteTable, Thread


def addr_of(vpn: int) -> str:
    return f"{vpn << 12:#x}"


def on_set_pte(m: Machine, mm: Mm, vpn: int, old: int, new: int) -> None:
    """Keep the ground-truth rmap; check what a newly present PTE shows."""
    key = (mm.name, vpn)
    if pte_present(old) and not pte_special(old):
        m.touched.add(("f", pte_pfn(old)))
        m.frames[pte_pfn(old)].ptes.discard(key)
        m.dirty_frames.add(pte_pfn(old))
    if pte_present(new) and not pte_special(new):
        pfn = pte_pfn(new)
        f = m.frames[pfn]
        m.touched.add(("f", pfn))
        if f.free:
            m.violation("use_after_free", ("frame", pfn), f"PTE for {addr_of(vpn)} in {mm.name} set to freed pfn {pfn}")
        f.ptes.add(key)
        m.dirty_frames.add(pfn)
        check_visible(m, mm, vpn, f.words, new)
    elif pte_present(new):  # the zero page
        m.touched.add(("f", ZERO_PFN))
        check_visible(m, mm, vpn, m.frames[ZERO_PFN].words, new)
    if is_swap_pte(old):
        m.dirty_frames.add(-pte_swp_offset(old) - 1)
    if is_swap_pte(new):
        m.dirty_frames.add(-pte_swp_offset(new) - 1)
    m.dirty_ptes.append(key)


def either(want: Word, value: int) -> tuple[int, ...]:
    """The shadow word that allows `want` (a value or values) and `value`."""
    return tuple(sorted({*(want if isinstance(want, tuple) else (want,)), value}))


def allows(want: Word, have: int) -> bool:
    return have in want if isinstance(want, tuple) else have == want


def show(want: Word) -> str:
    return " or ".join(map(str, want)) if isinstance(want, tuple) else str(want)


def check_visible(m: Machine, mm: Mm, vpn: int, words: list[int], how: str | int) -> None:
    """The memory now visible at vpn must hold every completed write.

    `how` says what made it visible: a sentence, or the PTE just installed.
    """
    m.touched.add(("shadow", mm.name))  # the lost-write oracle's state: a key apart from the mm's
    expect = mm.shadow.get(vpn)
    if expect is None:
        expect = [0] * m.nwords
    for w, (have, want) in enumerate(zip(words, expect, strict=True)):
        if not allows(want, have):
            addr = (vpn << 12) + w * (4096 // m.nwords)
            if isinstance(how, int):
                how = f"installing {format_pte(how)}"
            m.violation(
                "lost_write",
                (mm.name, vpn, w, want),
                f"{mm.name}:{addr:#x} reads {have} after {how}, but {show(want)} was written there",
            )


def zapped_unflushed(m: Machine, mm: Mm, vpn: int, pfn: int, pte: int) -> bool:
    """Is an access to `pfn` at vpn one through a TLB entry a zap left stale?

    True when the PTE is none (a zap cleared it: munmap, MADV_DONTNEED,
    before their flush), or when it no longer maps `pfn` and a zap of mm
    that cleared vpn while a TLB held its page has not flushed yet (zap.py's
    `stale`), and `pfn` is that page (the zero page, or one in the zap's
    mmu_gather batch): MADV_DONTNEED runs under the mmap read lock, so
    another thread may fault a new page in between zap_pte_range and
    tlb_finish_mmu, and the access through the old entry is still legal.
    """
    if pte == 0:
        return True
    if pte_present(pte) and pte_pfn(pte) == pfn:
        return False
    return any(
        th.mm == mm.name and vpn in th.vmf.get("stale", ()) and (pfn == ZERO_PFN or pfn in th.vmf["batch"])
        for th in m.threads
    )


def record_write(m: Machine, mm: Mm, vpn: int, word: int, value: int, pfn: int) -> None:
    """A write completed into frame `pfn`: update the shadow, check isolation.

    A write through a stale TLB entry after a zap cleared the PTE (a racing
    MADV_DONTNEED or munmap, before its flush) is discarded with the page:
    either outcome of that race is allowed, so it is not recorded, even if
    another thread has faulted a new page in meanwhile (`zapped_unflushed`).
    """
    pte = m.pte_lookup(mm, vpn)
    if zapped_unflushed(m, mm, vpn, pfn, pte):
        return
    m.touched.add(("shadow", mm.name))
    words = mm.shadow.get(vpn)
    if words is None:
        words = mm.shadow[vpn] = [0] * m.nwords
    words[word] = value
    f = m.frames[pfn]
    for other, ovpn in sorted(f.ptes):
        if other == mm.name:
            continue
        m.touched.add(("shadow", other))
        omm = m.mms[other]
        theirs = omm.shadow.get(ovpn)
        want = theirs[word] if theirs is not None else 0
        if want == value:
            continue
        if mm.forking == other:
            # A store racing fork (before dup_mmap's flush_tlb_mm): the child
            # may see it or not (module docstring, "Fork's promise").
            omm.shadow.setdefault(ovpn, [0] * m.nwords)[word] = either(want, value)
            continue
        m.violation(
            "cow_isolation",
            (other, ovpn, word, value),
            f"{mm.name}'s write of {value} to pfn {pfn} shows at {other}:{addr_of(ovpn)}",
        )
    if pte_present(pte) and pte_pfn(pte) != pfn:
        m.violation(
            "lost_write",
            (mm.name, vpn, word, value),
            f"{mm.name}:{addr_of(vpn)} write of {value} went to pfn {pfn} through a stale TLB entry; "
            f"the PTE maps pfn {pte_pfn(pte)}",
        )


def store_racing_madv_free(m: Machine, mm: Mm, vpn: int, word: int, value: int, pfn: int) -> None:
    """A user store into a lazyfree page left its PTE clean: it went through a TLB entry loaded before
    MADV_FREE cleaned the PTE, before madvise's flush (a store racing madvise). Reclaim may still
    discard the page, so the word may read back as the store or as zero (lazyfree.py)."""
    if not m.frames[pfn].lazyfree or not value:  # (every store comes here: the cheap test first)
        return
    pte = m.pte_lookup(mm, vpn)
    words = mm.shadow.get(vpn)
    if words and pte_present(pte) and pte_pfn(pte) == pfn and not pte_dirty(pte):
        words[word] = either(value, 0)


def check_read(m: Machine, mm: Mm, vpn: int, word: int, value: int, pfn: int) -> None:
    """A completed read from frame `pfn` must return the last completed write (a
    read through a stale TLB entry racing with a zap may see either the old data
    or what the PTE maps now: `zapped_unflushed`)."""
    m.touched.add(("shadow", mm.name))
    words = mm.shadow.get(vpn)
    want = words[word] if words is not None else 0
    if not allows(want, value) and not zapped_unflushed(m, mm, vpn, pfn, m.pte_lookup(mm, vpn)):
        addr = (vpn << 12) + word * (4096 // m.nwords)
        m.violation(
            "lost_write",
            (mm.name, vpn, word, want),
            f"{mm.name}:{addr:#x} read returned {value}, but the last completed write was {show(want)}",
        )


def check_free_frame(m: Machine, f: Frame) -> None:
    if f.ptes:
        mm, vpn = sorted(f.ptes)[0]
        m.violation("use_after_free", ("frame", f.pfn), f"pfn {f.pfn} freed while {mm}:{addr_of(vpn)} maps it")
    for cpu, tlb in enumerate(m.tlbs):
        m.touched.add(("tlb", cpu))
        for (mm, vpn), (pfn, _w) in tlb.items():
            if pfn == f.pfn:
                m.violation(
                    "use_after_free",
                    ("frame", f.pfn),
                    f"pfn {f.pfn} freed while CPU {cpu}'s TLB still maps {mm}:{addr_of(vpn)}",
                )


def check_free_table(m: Machine, table: PteTable) -> None:
    if table.entries:
        idx, pte = sorted(table.entries.items())[0]
        vpn = table.pmd * PTRS_PER_PTE + idx
        m.violation(
            "stray_pte",
            ("freed-table", table.id),
            f"PTE table {table.id} freed with {table.mm}:{addr_of(vpn)} = {format_pte(pte)} in it (leaked)",
        )


def _held(m: Machine, pfn: int) -> int:
    """References threads hold on pfn (get_page, fresh pages, mmu_gather batches)."""
    n = 0
    for t in m.threads:
        if t.refs:
            n += t.refs.count(pfn)
    return n


def check_frames(m: Machine, pfns: Collection[int]) -> None:
    """page_count / page_mapcount / swap counts against the references that exist."""
    swap_ptes = None
    # A zap's mmu_gather batch holds a reference per page it cleared: counting
    # them page by page would be quadratic in the pages zapped, so many pages
    # against many references are counted in one pass.
    holds: Counter[int] | None = None
    if len(pfns) > 8 and sum(len(t.refs) for t in m.threads) > 64:
        holds = Counter(chain.from_iterable(t.refs for t in m.threads))
    for key in sorted(pfns):
        if key < 0:  # a swap slot
            off = -key - 1
            if swap_ptes is None:
                swap_ptes = count_swap_ptes(m)
            m.touched.add(("swap", off))
            have = m.swap_map.get(off, 0)
            want = swap_ptes.get(off, 0)
            if have != want:
                m.violation(
                    "refcount", ("swap", off, have, want), f"swap_map[{off}] is {have} but {want} swap PTEs use it"
                )
            continue
        if key == ZERO_PFN:
            continue
        f = m.frames[key]
        m.touched.add(("f", key))
        if f.free:
            continue
        held = _held(m, key) if holds is None else holds[key]
        mapped = len(f.ptes)
        want = mapped + (1 if f.swapcache is not None else 0) + held + (1 if f.mapping else 0)
        if f.count != want:
            m.violation(
                "refcount",
                ("count", key, f.count, want),
                f"pfn {key}: page_count {f.count}, but {mapped} PTE(s), "
                f"{'1 swap cache, ' if f.swapcache is not None else ''}{held} held reference(s)",
            )
        if f.mapcount != mapped:
            m.violation(
                "refcount",
                ("mapcount", key, f.mapcount, mapped),
                f"pfn {key}: page_mapcount {f.mapcount}, but {mapped} PTE(s) map it",
            )


def count_swap_ptes(m: Machine) -> Counter[int]:
    c: Counter[int] = Counter()
    for mm in m.mms.values():
        m.touched.add(("mm", mm.name))
        for tid in mm.pgd.values():
            m.touched.add(("t", tid))
            for pte in m.tables[tid].entries.values():
                if is_swap_pte(pte):
                    c[pte_swp_offset(pte)] += 1
    return c


def check_pte_in_vma(m: Machine, mm: Mm, vpn: int) -> None:
    table = m.pmd_table(mm, vpn)
    pte = 0 if table is None else m.get_pte(table, vpn)
    if not pte:
        return
    vma = m.vma_lookup(mm, vpn << 12)
    if vma is None:
        m.violation(
            "stray_pte",
            ("outside", mm.name, vpn, pte),
            f"{mm.name}:{addr_of(vpn)} = {format_pte(pte)} lies outside every VMA",
        )
    elif pte_write(pte) and not vma.vm_flags & VM_WRITE:
        m.violation(
            "stray_pte",
            ("writable", mm.name, vpn, pte),
            f"{mm.name}:{addr_of(vpn)} = {format_pte(pte)} is writable in a VMA without VM_WRITE",
        )
    elif vma.anon_vma is None and pte_present(pte) and not pte_special(pte) and not m.frames[pte_pfn(pte)].mapping:
        m.violation(
            "rmap",
            ("no-anon-vma", mm.name, vpn, pte),
            f"{mm.name}:{addr_of(vpn)} = {format_pte(pte)} maps an anonymous page in VMA {vma.id}, which has no "
            "anon_vma: rmap cannot reach the page from that VMA",
        )


WRITER_OPS = ("mmap", "munmap", "mprotect", "madvise", "fork", "mremap")
EVERYWHERE = (0, 1 << 52)


def op_range(op: Any) -> tuple[int, int]:
    """The vpns an address-space writer may leave inconsistent while it runs."""
    if op.kind in ("fork", "mremap"):  # (mremap: the old and the new range)
        return EVERYWHERE
    return op.addr >> 12, (op.addr + op.length) >> 12


def writer_ranges(m: Machine, mm: Mm, but: int = -1) -> list[tuple[int, int]]:
    """The ranges of mm's address-space writers in flight (except thread `but`)."""
    out = []
    for t in m.threads:
        if t.mm == mm.name and t.pc and t.index != but:
            op = m.ops[t.index][t.op_index]
            if op.kind in WRITER_OPS:
                out.append(op_range(op))
    return out


def check_mm(m: Machine, mm: Mm, lo: int = 0, hi: int = 1 << 52, skip: Sequence[tuple[int, int]] = ()) -> None:
    """Every PTE of mm with a vpn in [lo, hi), outside the ranges in `skip`, lies in a VMA that allows it."""
    m.touched.add(("mm", mm.name))
    for pmd, tid in sorted(mm.pgd.items()):
        base = pmd * PTRS_PER_PTE
        if base + PTRS_PER_PTE <= lo or base >= hi:
            continue
        m.touched.add(("t", tid))
        for idx in sorted(m.tables[tid].entries):
            vpn = base + idx
            if lo <= vpn < hi and not any(s <= vpn < e for s, e in skip):
                check_pte_in_vma(m, mm, vpn)


def writer_done(m: Machine, t: Thread, op: Any) -> None:
    """An address-space writer finished: the PTEs in its range must agree with the VMAs now.

    Not where another writer of the same mm is still in flight: a munmap that
    has detached its VMAs (downgraded to the read lock, so a MADV_DONTNEED
    runs beside it) leaves their PTEs outside every VMA until its
    zap_pte_range. Those PTEs are checked when that writer finishes (its range
    covers them), as `after_step` defers them too.
    """
    mm = m.mms[t.mm]
    check_mm(m, mm, *op_range(op), skip=writer_ranges(m, mm, but=t.index))


def after_step(m: Machine) -> None:
    if m.dirty_frames:
        check_frames(m, m.dirty_frames)
    for name, vpn in m.dirty_ptes:
        mm = m.mms[name]
        # A PTE inside the range of a writer that is still running may be
        # transiently inconsistent; it is checked when the writer finishes.
        m.touched.add(("mm", name))
        if mm.writers == 0 or not any(lo <= vpn < hi for lo, hi in writer_ranges(m, mm)):
            check_pte_in_vma(m, mm, vpn)


def _in_swap_cache(m: Machine, off: int) -> bool:
    m.touched.add(("swap", off))
    return off in m.swap_cache


def final_check(m: Machine) -> None:
    """When every thread is done: memory, counts and tables all agree."""
    for mm in m.mms.values():
        m.touched.add(("mm", mm.name))
        m.touched.add(("shadow", mm.name))
        if not mm.exists:
            continue
        for vpn in sorted(mm.shadow):
            pte = m.pte_lookup(mm, vpn)
            if pte_present(pte):
                m.touched.add(("f", pte_pfn(pte)))
                words = m.frames[pte_pfn(pte)].words
            elif is_swap_pte(pte) and _in_swap_cache(m, pte_swp_offset(pte)):
                words = m.frames[m.swap_cache[pte_swp_offset(pte)]].words
            else:
                words = unmapped_words(m, mm, vpn)
            check_visible(m, mm, vpn, words, "the run")
        check_mm(m, mm)
    m.touched.update(("f", f.pfn) for f in m.frames)  # every frame
    m.touched.add(("alloc", 0))  # which frames and swap slots exist (machine.ALLOC)
    live = [f.pfn for f in m.frames if not f.free] + [-o - 1 for o in m.swap_map]
    check_frames(m, live)
    for f in m.frames:
        if not f.free and f.pfn != ZERO_PFN and f.count == 0:
            m.violation("refcount", ("leak", f.pfn), f"pfn {f.pfn} is allocated with no reference")


# ------------------------------------------------- files and GUP pins
def check_file_write(m: Machine, who: str, pfn: int, word: int, value: int, how: str) -> None:
    """file_integrity: a store reached a page-cache page."""
    f = m.frames[pfn]
    if f.mapping:
        m.violation(
            "file_integrity",
            ("file", f.mapping, f.index, word),
            f"{who}'s {how} of {value} reached the page cache: file '{f.mapping}' page {f.index} (pfn {pfn}); "
            "a private mapping's write must go to an anonymous copy",
        )


def after_user_write(m: Machine, mm: Mm, vpn: int, word: int, value: int, pfn: int) -> None:
    """A user store into `pfn` completed: the file and the pins that hold the page must not see it wrongly."""
    who = m.cur.name if m.cur is not None else mm.name
    check_file_write(m, who, pfn, word, value, "store")
    for th in m.threads:
        if not th.pins:
            continue
        for addr, ppfn, foll, zaps in th.pins:
            coherent = mm.zaps.get(addr >> 12, 0) == zaps
            if ppfn == pfn and th.mm != mm.name and mm.forking != th.mm:
                m.violation(
                    "cow_isolation",
                    ("pin", th.mm, addr >> 12, word, value),
                    f"{mm.name}'s write of {value} to pfn {pfn} shows through {th.name}'s GUP reference "
                    f"({th.mm}:{addr:#x}): the page was reused in place although another process holds it",
                )
            elif th.mm == mm.name and addr >> 12 == vpn and coherent and foll & FOLL_PIN and ppfn != pfn:
                m.violation(
                    "pin_coherence",
                    ("pin", mm.name, vpn, word, value),
                    f"{mm.name}:{addr_of(vpn)} write of {value} went to pfn {pfn}, but {th.name}'s FOLL_PIN "
                    f"pin there holds pfn {ppfn}: the pin lost its page ("
                    + (
                        "reclaim discarded it after MADV_FREE"
                        if m.frames[ppfn].lazyfree == DISCARDED
                        else "a COW replaced it"
                    )
                    + ")",
                )


def record_pin_write(
    m: Machine, t: Thread, pin: tuple[int, int, int, int], coherent: bool, word: int, value: int
) -> None:
    """A write through a GUP page (gup-write) completed; `coherent`: the process has not zapped the address since.

    The process sees it wherever it maps the page now (an mremap may have
    moved it; reclaim may have left it in the swap cache behind a swap PTE).
    A FOLL_PIN page the process no longer maps at the pinned address while
    it still owes coherence there is a pin that lost its page.
    """
    addr, pfn, foll, _zaps = pin
    check_file_write(m, t.name, pfn, word, value, "write through GUP")
    mm = m.mms[t.mm]
    f = m.frames[pfn]
    vpns = sorted(vpn for name, vpn in f.ptes if name == mm.name)
    if f.swapcache is not None:
        vpns += sorted(vpn for vpn, pte in _ptes(m, mm) if is_swap_pte(pte) and pte_swp_offset(pte) == f.swapcache)
    for vpn in vpns:
        record_write(m, mm, vpn, word, value, pfn)
    vpn = addr >> 12
    pte = m.pte_lookup(mm, vpn)
    if not vpns and coherent and f.lazyfree == DISCARDED:
        # Reclaim discarded this MADV_FREE page from under the reference (lazyfree.py), and the process
        # has not given the address up since: it expects this data there, whatever it maps there now.
        m.touched.add(("shadow", mm.name))
        mm.shadow.setdefault(vpn, [0] * m.nwords)[word] = value
    if not vpns and coherent and foll & FOLL_PIN and pte_present(pte):
        m.violation(
            "pin_coherence",
            ("pin-write", mm.name, vpn, word, value),
            f"{t.name}'s write of {value} through its pin (pfn {pfn}) is not what {mm.name}:{addr_of(vpn)} "
            f"shows: the PTE maps pfn {pte_pfn(pte)}",
        )


def _ptes(m: Machine, mm: Mm) -> list[tuple[int, int]]:
    return [
        (pmd * PTRS_PER_PTE + i, p) for pmd, tid in sorted(mm.pgd.items()) for i, p in m.tables[tid].entries.items()
    ]


def check_pin_read(
    m: Machine, t: Thread, pin: tuple[int, int, int, int], coherent: bool, word: int, value: int
) -> None:
    """A read through a FOLL_PIN page must return what the pinning process sees there."""
    addr, pfn, foll, _zaps = pin
    if not coherent or not foll & FOLL_PIN:
        return
    mm = m.mms[t.mm]
    vpn = addr >> 12
    if m.pte_lookup(mm, vpn) == 0:
        return
    m.touched.add(("shadow", mm.name))
    words = mm.shadow.get(vpn)
    want = words[word] if words is not None else 0
    if not allows(want, value):
        m.violation(
            "pin_coherence",
            ("pin-read", mm.name, vpn, word, value),
            f"{t.name} read {value} through its pin (pfn {pfn}), but {mm.name}:{addr_of(vpn)} holds {show(want)}",
        )


def unmapped_words(m: Machine, mm: Mm, vpn: int) -> list[int]:
    """What a none PTE at vpn reads once faulted: the page-cache page in a file VMA, else zeros."""
    v = m.vma_lookup(mm, vpn << 12)
    if v is not None and v.vm_file:
        pfn = m.page_cache[(v.vm_file, vpn - (v.vm_start >> 12) + v.vm_pgoff)]
        return m.frames[pfn].words
    return [0] * m.nwords
