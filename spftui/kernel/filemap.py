"""Private file mappings and the page cache (kernel-mm.md; history.md §1).

A file's pages are page-cache pages (`Frame.mapping`/`index`), each holding
one reference for the page cache. A private mapping (`Vma.vm_file`) maps them
read-only: a read fault on a none PTE runs `do_read_fault` (the page-cache
page, read-only, clean, `page_add_file_rmap`); a write fault runs
`do_cow_fault` (`anon_vma_prepare`, a new anonymous page, `filemap_fault`,
`copy_user_highpage`, then `finish_fault` installs the copy dirty, and
writable only with VM_WRITE); a write to a read-only PTE of a page-cache page
goes to `do_wp_page`, which always copies a page that is not anonymous.

Simplifications: every file page is in the page cache from the start and is
never evicted, truncated or written back (no `write(2)`, no shared
mappings), so `Machine.page_cache` is fixed at build; there is no
fault-around; `filemap_fault` is one step (no readahead, no page lock).
Faults on file VMAs never run speculatively: Lespinasse's SPF and 6.4's
`lock_vma_under_rcu` handle anonymous VMAs only, and Dufour's series is
modelled the same way here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .events import AnonVma, Validate
from .fault import fault_done, lock_pte, unlock_pte
from .pte import PAGE_SIZE, mk_pte, vpn_of
from .state import VM_WRITE, Frame
from .steps import step

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .machine import Machine
    from .state import Mm, Thread, Vma


# ---------------------------------------------------------------- setup
def add_file(m: Machine, name: str, pages: int, data: Sequence[tuple[int, int]]) -> None:
    """Read a whole file into the page cache: one frame per page, one reference each."""
    words = [[0] * m.nwords for _ in range(pages)]
    for off, value in data:
        words[off // PAGE_SIZE][(off % PAGE_SIZE) // (PAGE_SIZE // m.nwords)] = value
    m.file_data[name] = tuple(tuple(w) for w in words)
    for index in range(pages):
        f = Frame(len(m.frames), m.nwords)
        f.words = list(words[index])
        f.free = False
        f.count = 1  # the page cache's reference
        f.mapping, f.index = name, index
        m.frames.append(f)
        m.page_cache[(name, index)] = f.pfn


def map_file(m: Machine, mm: Mm, v: Vma, name: str, pgoff: int) -> None:
    """mmap(MAP_PRIVATE) of `name`: the VMA points at the file; the process
    sees the file's contents (the lost-write oracle's shadow starts there)."""
    v.vm_file, v.vm_pgoff = name, pgoff
    for vpn in range(vpn_of(v.vm_start), vpn_of(v.vm_end)):
        file_shadow(m, mm, v, vpn)


def file_index(v: Vma, vpn: int) -> int:
    """linear_page_index: the file page `vpn` maps in `v`."""
    return vpn - vpn_of(v.vm_start) + v.vm_pgoff


def file_words(m: Machine, v: Vma, vpn: int) -> tuple[int, ...]:
    """What the file holds at `vpn` of `v` (on disk, not the page cache)."""
    return m.file_data[v.vm_file][file_index(v, vpn)]


def file_shadow(m: Machine, mm: Mm, v: Vma, vpn: int) -> None:
    """The process's view of an unwritten (or zapped) private file page: the file."""
    words = file_words(m, v, vpn)
    if any(words):
        mm.shadow[vpn] = list(words)
    else:
        mm.shadow.pop(vpn, None)


def after_zap(m: Machine, mm: Mm, vpn: int) -> None:
    """A zapped PTE of a private file mapping reads the file again (MADV_DONTNEED)."""
    v = m.vma_lookup(mm, vpn << 12)
    if v is not None and v.vm_file:
        file_shadow(m, mm, v, vpn)


# ---------------------------------------------------------------- faults
def do_fault(m: Machine, t: Thread) -> None:
    """do_fault on a none PTE of a file VMA: do_read_fault, or do_cow_fault for a private write."""
    t.pc = "do_cow_fault:anon_vma_prepare" if t.vmf["write"] else "filemap_fault:find_get_page"


@step("do_cow_fault:anon_vma_prepare")
def cow_anon_vma_prepare(m: Machine, t: Thread) -> None:
    """anon_vma_prepare: the first COW of a private file VMA gives it an anon_vma."""
    v = m.vma_ref(t.vmf["vma"])
    if v.anon_vma is None:
        v.anon_vma = m.new_anon_vma()
        m.emit(AnonVma(v.mm, v.id, v.anon_vma))
    t.pc = "do_cow_fault:alloc_page"


@step("do_cow_fault:alloc_page")
def cow_alloc_page(m: Machine, t: Thread) -> None:
    """alloc_page_vma: the anonymous page the private copy goes into."""
    t.vmf["new_page"] = m.alloc_page(t)
    t.pc = "filemap_fault:find_get_page"


@step("filemap_fault:find_get_page")
def filemap_fault(m: Machine, t: Thread) -> None:
    """__do_fault → filemap_fault: find the page-cache page (always cached here), get_page."""
    v = m.vma_ref(t.vmf["vma"])
    pfn = m.page_cache[(v.vm_file, file_index(v, vpn_of(t.vmf["addr"])))]
    m.get_page(t, pfn)
    t.vmf["page"] = pfn
    if "new_page" in t.vmf:
        t.pc = "do_cow_fault:copy_user_highpage"
    else:
        lock_pte(m, t, "finish_fault:set_pte")


@step("do_cow_fault:copy_user_highpage")
def cow_copy(m: Machine, t: Thread) -> None:
    """copy_user_highpage(new, page-cache page): one step (nothing writes a page-cache page legitimately)."""
    src = m.frame(t.vmf["page"])
    dst = m.frame(t.vmf["new_page"])
    dst.words = list(src.words)
    m.dirty_frames.add(dst.pfn)
    lock_pte(m, t, "finish_fault:set_pte")


@step("finish_fault:set_pte")
def finish_fault(m: Machine, t: Thread) -> None:
    """Under the PTL: if the PTE is no longer none, back out; else install the
    COW copy (page_add_new_anon_rmap; dirty, W only with VM_WRITE) or the
    page-cache page (page_add_file_rmap; read-only, clean)."""
    mm = m.thread_mm(t)
    vpn = vpn_of(t.vmf["addr"])
    table = m.table_of(t.vmf["pmd"])
    cur = m.get_pte(table, vpn)
    m.emit(Validate(t.name, "pte_same", "pte", mm.name, t.vmf["addr"], None, 0, cur, cur == 0))
    page = t.vmf.pop("page")
    new = t.vmf.pop("new_page", None)
    if cur != 0:
        unlock_pte(m, t)
        if new is not None:
            m.put_page(t, new)
        m.put_page(t, page)
        fault_done(m, t)
        return
    write = bool(m.vma_of(t.vmf["vma"]).vm_flags & VM_WRITE)
    if new is not None:
        f = m.frame(new)
        f.mapcount = 1  # page_add_new_anon_rmap
        f.anon_exclusive = True
        mm.rss_anon += 1
        m.transfer_ref_to_pte(t, new)
        m.set_pte(mm, table, vpn, mk_pte(new, write=write, dirty=True))
        m.put_page(t, page)  # do_cow_fault's reference on the page-cache page
    else:
        f = m.frame(page)
        f.mapcount += 1  # page_add_file_rmap
        m.dirty_frames.add(page)
        m.transfer_ref_to_pte(t, page)
        m.set_pte(mm, table, vpn, mk_pte(page))
    unlock_pte(m, t)
    fault_done(m, t)
