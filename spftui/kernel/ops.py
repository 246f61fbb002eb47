"""Starting and finishing user operations, and the user memory access.

A memory access goes through the CPU's TLB, then a hardware page walk that
sets A/D and fills the TLB, and only then takes a page fault. A TLB entry is
(pfn, writable); one loaded from a clean PTE is not writable: x86 sets D with
another walk on the first store (user_access).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import oracles
from .events import Fault, OpDone, OpStart, Wake
from .exit import KILLED, group_killed, reap_group
from .foll import foll_flags
from .policies import fault_entry
from .pte import _PAGE_ACCESSED, _PAGE_DIRTY, pte_dirty, pte_pfn, pte_present, pte_protnone, pte_write, vpn_of
from .state import BLOCKED, DONE, RUNNABLE
from .steps import step

if TYPE_CHECKING:
    from .machine import Machine
    from .state import Thread

OP_ENTRY = {
    "read": "user:load",
    "write": "user:store",
    "mmap": "mmap_region:mmap_write_lock",
    "munmap": "__do_munmap:mmap_write_lock",
    "mprotect": "do_mprotect_pkey:mmap_write_lock",
    "madvise": "do_madvise:mmap_read_lock",
    "fork": "dup_mmap:mmap_write_lock",
    "reclaim": "shrink_page_list:isolate",
    "age": "page_referenced_one:clear_young",
    "gup": "__get_user_pages:mmap_read_lock",
    "gup-read": "__access_remote_vm:read",
    "gup-write": "__access_remote_vm:write",
    "unpin": "unpin_user_page:put",
    "mremap": "mremap:mmap_write_lock",
    "uffd-wp": "mwriteprotect_range:mmap_read_lock",
    "uffd-unwp": "mwriteprotect_range:mmap_read_lock",
}
WRITER_OPS = oracles.WRITER_OPS


def start_op(m: Machine, t: Thread) -> None:
    op = m.ops[t.index][t.op_index]
    mm = m.mms[t.mm]
    m.touched.add(("mm", mm.name))
    if not mm.exists:
        m.block(t, f"process {t.mm} (not forked yet)")
        return
    t.vmf = {"addr": op.addr}
    if op.kind in ("read", "write"):
        t.vmf["write"] = op.kind == "write"
    elif op.kind == "gup":
        t.vmf["gup_foll"] = foll_flags(op.foll)
    if op.kind in WRITER_OPS:
        mm.writers += 1
    m.emit(OpStart(t.name, op.text))
    t.pc = OP_ENTRY[op.kind]


def finish_op(m: Machine, t: Thread, result: str, fatal: bool = False) -> None:
    """The op returns `result`; `fatal`: it took a fatal signal, and its process dies (exit.py)."""
    op = m.ops[t.index][t.op_index]
    if op.kind in WRITER_OPS:
        mm = m.mms[t.mm]
        mm.writers -= 1
        oracles.writer_done(m, t, op)
    m.emit(OpDone(t.name, op.text, result))
    t.result = f"{op.text}: {result}"
    t.vmf = {}
    t.pc = ""
    t.stack = []
    t.op_index += 1
    if fatal or group_killed(m, t):  # back in user space with a fatal signal pending: do_exit
        t.state = DONE
        if not fatal:
            t.result += f"; then {KILLED}SIGSEGV (group exit)"
        reap_group(m, t.mm, "SIGSEGV (group exit)")
        if m.all_done():
            oracles.final_check(m)
    elif t.op_index == len(m.ops[t.index]):
        t.op_index = 0
        t.iteration += 1
        if t.iteration >= m.repeats[t.index]:
            t.state = DONE
            if m.all_done():
                oracles.final_check(m)


def word_of(m: Machine, addr: int) -> int:
    return (addr & 0xFFF) // (4096 // m.nwords)


def _access(m: Machine, t: Thread, pfn: int) -> None:
    mm = m.mms[t.mm]
    addr = t.vmf["addr"]
    vpn, word = vpn_of(addr), word_of(m, addr)
    f = m.frame(pfn)
    m.dirty_frames.add(pfn)
    if t.vmf["write"]:
        value = m.ops[t.index][t.op_index].value
        f.words[word] = value
        oracles.record_write(m, mm, vpn, word, value, pfn)
        oracles.store_racing_madv_free(m, mm, vpn, word, value, pfn)
        oracles.after_user_write(m, mm, vpn, word, value, pfn)
        finish_op(m, t, f"wrote {value}")
    else:
        value = f.words[word]
        oracles.check_read(m, mm, vpn, word, value, pfn)
        finish_op(m, t, f"read {value}")


def user_access(m: Machine, t: Thread) -> None:
    """The access: TLB hit, else a hardware walk (sets A/D, fills the TLB), else a page fault."""
    mm = m.mms[t.mm]
    addr = t.vmf["addr"]
    write = t.vmf["write"]
    vpn = vpn_of(addr)
    tlb = m.tlbs[t.index]
    key = (mm.name, vpn)
    m.touched.add(("tlb", t.index))
    ent = tlb.get(key)
    if ent is not None:
        if not write or ent[1]:
            _access(m, t, ent[0])
            return
        del tlb[key]  # a write to a read-only entry re-walks
    table = m.pmd_table(mm, vpn)
    pte = 0 if table is None else m.get_pte(table, vpn)
    if table is not None and pte_present(pte) and not pte_protnone(pte) and (not write or pte_write(pte)):
        new = pte | _PAGE_ACCESSED | (_PAGE_DIRTY if write else 0)
        if new != pte:
            m.set_pte(mm, table, vpn, new)
        # x86 caches D with the entry: a store through an entry loaded from a clean PTE walks again to set
        # D in the PTE, so such an entry is kept here as read-only (a later store re-walks). MADV_FREE
        # relies on it: a page written after it has a dirty PTE, and reclaim keeps it (lazyfree.py).
        tlb[key] = (pte_pfn(pte), pte_write(pte) and pte_dirty(new))
        _access(m, t, pte_pfn(pte))
        return
    m.emit(Fault(t.name, addr, "write" if write else "read"))
    t.vmf.update(fault_entry(m, t))


@step("user:load")
def user_load(m: Machine, t: Thread) -> None:
    """A load from user space: TLB, then page walk, then a read fault."""
    user_access(m, t)


@step("user:store")
def user_store(m: Machine, t: Thread) -> None:
    """A store from user space: TLB (needs W), then page walk, then a write fault."""
    user_access(m, t)


def wake_forked(m: Machine, child: str) -> None:
    m.touched.add(("mm", child))
    for th in m.threads:
        if th.state == BLOCKED and th.mm == child and th.blocked_on.startswith("process"):
            th.state = RUNNABLE
            th.blocked_on = ""
            m.emit(Wake(th.name))
