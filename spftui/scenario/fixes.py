"""The registry of modelled kernel fixes: one record each, and a switch.

Every fix the model carries that a historical race needs taken out gets a
name here. The kernel asks `m.fixed(NAME)` where the fix's code sits, so a
scenario's `[fixes]` table (`fork_vma_write_lock = false`) or the CLI's
`--fix NAME=off` replays the kernel as it was before the commit. Fixes are on
unless a scenario, a kernel preset or the user turns them off.

The records live at the bottom layer, beside the policies, because the
loader validates names against them and the kernel builds on the loader.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from .model import KERNEL_PRESET, Thread, pins_a_page
from .syntax import suggest


@attrs.frozen
class Fix:
    """One modelled fix.

    name      the switch's name in `[fixes]`, `--fix` and `spftui fixes`
    title     one line: what the fix does
    commit    the commit that introduced it (12 hex digits), or the patch
              (Message-ID) when it never reached mainline
    kernels   the releases that have it / lack it, in words
    where     the kernel function(s) the switch sits in
    policies  the validation policies under which it matters (empty: all)
    reuse     the COW reuse rules under which it matters (empty: all); an
              `[expect.fixes_off.NAME]` table of a file under another rule is
              about the first of these (loader._expect_fixes_off)
    story     a paragraph: the race it closes
    needs_pin a kernel preset that lacks it takes it out only of a scenario
              that pins (a `gup … pin` op): elsewhere its code never runs, and
              "fixes off" would name it on every scenario of that release
    needs     what a scenario must have for its code to run at all (a
              `Scenario.features` name: "fork", "gup", "pin", "uffd_wp",
              "madv_free", "stack"; "": any)
    preset_needs  as needs_pin, for another feature: a kernel preset that lacks
              it takes it out only of a scenario with this `needs` feature
    """

    name: str
    title: str
    commit: str
    kernels: str
    where: str
    policies: tuple[str, ...] = ()
    reuse: tuple[str, ...] = ()
    story: str = ""
    needs_pin: bool = False
    needs: str = ""
    preset_needs: str = ""

    def inert(self, policy: str, reuse: str, features: frozenset[str]) -> str:
        """Why switching it cannot change a run under this policy and reuse rule, of
        a scenario with these `features` (`Scenario.features`); "": it may."""
        if self.policies and policy not in self.policies:
            return f"matters only under {', '.join(self.policies)}"
        if self.reuse and reuse not in self.reuse:
            return f"no effect under the {reuse} rule"
        if self.needs and self.needs not in features:
            return NEEDS[self.needs]
        return ""


NEEDS = {
    "fork": "no fork op here",
    "gup": "no gup op here",
    "pin": "no page is pinned here",
    "uffd_wp": "no uffd-wp mapping here",
    "madv_free": "no madvise … free op here",
    "stack": "no growsdown (stack) mapping here",
}
"""What `Fix.inert` says when a scenario lacks what the fix's code needs."""


FIX_LIST: tuple[Fix, ...] = (
    Fix(
        name="fork_vma_write_lock",
        title="dup_mmap write-locks every parent VMA before copying it",
        commit="fb49c455323f",
        kernels="missing in 6.4.0–6.4.2 (per-VMA locks, 6.4); in 6.4.3 and 6.5",
        where="dup_mmap (vma_start_write)",
        policies=("vma-lock",),
        story=(
            "6.4 let a page fault run under lock_vma_under_rcu, without mmap_lock, so it could run while "
            "dup_mmap copied the parent under mmap_write_lock (kernel bugzilla 217624). A write fault that "
            "copies a page copy_pte_range has write-protected, before fork's flush_tlb_mm, installs a copy "
            "that misses a store another CPU makes through its stale writable TLB entry: the parent loses "
            "the store. The committed message also names a first COW whose anon_vma_prepare runs after "
            "vm_area_dup, so the child maps a page its anon_vma cannot reach; 6.4.0's lock_vma_under_rcu "
            "refused VMAs without an anon_vma, so only the first could happen there."
        ),
        needs="fork",
    ),
    Fix(
        name="fork_vm_raw_write",
        title="dup_mmap holds vm_raw_write_begin on each copied parent VMA until flush_tlb_mm",
        commit="Dufour SPF v12 18/31, 20190416134522.17540-19-ldufour@linux.ibm.com (not merged)",
        kernels="Dufour's speculative page faults series: v12 has it, v11 and earlier lack it",
        where="dup_mmap (vm_raw_write_begin / vm_raw_write_end)",
        policies=("spf-vma-seq",),
        story=(
            "A speculative fault validates the VMA's vm_sequence, which fork did not otherwise bump: "
            "without the raw write section a speculative write fault copies a page copy_pte_range has "
            "write-protected but not yet flushed, while another CPU stores into it through a stale "
            "writable TLB entry; the copy is installed and the store is lost (a pthread mutex corrupted, "
            "reported by Vinayak Menon and Ganesh Mahendran)."
        ),
        needs="fork",
    ),
)

FIX_LIST += (
    Fix(
        name="foll_cow",
        title="faultin_page sets FOLL_COW instead of clearing FOLL_WRITE; follow_page_pte accepts only a dirty PTE",
        commit="19be0eaffa3a",
        kernels="missing before 4.8.3 / 4.9-rc2 (2.6.x through 4.8.2); in 4.8.3, 4.9 and later",
        where="faultin_page, follow_page_pte (can_follow_write_pte)",
        story=(
            "Dirty COW (CVE-2016-5195). A FOLL_WRITE|FOLL_FORCE GUP (a write to /proc/self/mem) on a "
            "read-only private file mapping breaks COW, then faultin_page drops FOLL_WRITE so the retry "
            "takes the read-only COWed PTE. A MADV_DONTNEED in between zaps that PTE; the retry, now a read, "
            "faults in the page-cache page itself and GUP hands it to the writer: the write reaches the file."
        ),
        needs="gup",
    ),
    Fix(
        name="gup_force_cow",
        title="GUP forces a COW break on a COW mapping even for a read (FOLL_WRITE for FOLL_GET/FOLL_PIN)",
        commit="17839856fd58",
        kernels="missing up to 5.7.2 (stable 5.7.3 has it, per the CVE text); in 5.8 only: 5.9 removed it (a308c71bf1e6) "
        "when do_wp_page moved to the page_count rule (09854ba94c6a)",
        where="__get_user_pages (should_force_cow_break), follow_page_pte (can_follow_write_pte without "
        "FOLL_FORCE); mapcount rule only",
        reuse=("mapcount",),
        story=(
            "The GUP-after-fork COW leak (CVE-2020-29374), closed on the GUP side. A child takes a read-only "
            "GUP reference (vmsplice) on a page it COW-shares with its parent, then unmaps it: mapcount drops "
            "to 1 and the parent's next write fault reuses the page, so the child reads the parent's later "
            "writes. 5.8 makes every FOLL_GET/FOLL_PIN on a COW mapping a write (should_force_cow_break): the "
            "child's GUP breaks COW and takes its own copy, and the parent's reuse is then legitimate. Under "
            "the page-count rule (5.9+) its code does not run: 5.9 removed it."
        ),
        needs="gup",
    ),
    Fix(
        name="page_count_reuse",
        title="do_wp_page reuses an anonymous page only if page_count is 1 (not mapcount)",
        commit="09854ba94c6a",
        kernels="missing up to 5.8 (the mapcount rule, reuse_swap_page); in 5.9 and later",
        where="do_wp_page (can_reuse): off falls back to the mapcount rule under every reuse rule",
        reuse=("page-count", "anon-exclusive"),
        story=(
            "The GUP-after-fork COW leak (CVE-2020-29374). A child takes a read-only GUP reference "
            "(vmsplice) on a page it COW-shares with its parent, then unmaps it: mapcount drops to 1, so the "
            "parent's next write fault reuses the page in place, and the child reads the parent's later "
            "writes through its pipe. Counting references copies instead."
        ),
    ),
    Fix(
        name="gup_unshare",
        title="a read-only FOLL_PIN of a possibly shared anonymous page unshares it first (FAULT_FLAG_UNSHARE)",
        commit="a7f226604170",
        kernels="missing before 5.19 (with 6c287605fd56 PG_anon_exclusive, c89357e27f20); in 5.19 and later",
        where="follow_page_pte (gup_must_unshare), faultin_page, do_wp_page (unshare); anon-exclusive rule only",
        reuse=("anon-exclusive",),
        story=(
            "Under the page-count rule a process holding a read-only pin on a page it still COW-shares "
            "copies the page on its own next write: its page tables move to the copy while the pin keeps the "
            "old page, and the pinned reader (a DMA) no longer sees the process's writes. 5.19 makes the pin "
            "fault in an exclusive copy first, which the later write reuses."
        ),
        needs_pin=True,
        needs="pin",
    ),
)

FIX_LIST += (
    Fix(
        name="uffd_wp_flush_pending",
        title="do_wp_page flushes the page's TLB entries before COW when a uffd-wp VMA has a TLB flush pending",
        commit="6ce64428d620",
        kernels=(
            "missing since 292924b26024 (uffd-wp, 5.7 by date), a lost write from 5.9 (09854ba94c6a copies whenever "
            "page_count > 1); in 5.12 (5.12-rc3 by date) and stable 5.9+"
        ),
        where="do_wp_page (userfaultfd_wp(vma) && mm_tlb_flush_pending(mm): flush_tlb_page)",
        story=(
            "UFFDIO_WRITEPROTECT (mwriteprotect_range) runs change_protection under the mmap read lock and "
            "defers its TLB flush; even un-protecting clears W on an already writable PTE of a private mapping. "
            "A write fault in the window copies the page (page_count > 1: another reference) while a third CPU "
            "still stores into it through its stale writable TLB entry; wp_page_copy's flush comes after the "
            "copy, so the copy is installed without the store. Found as occasional corruption in "
            "selftests/vm/userfaultfd (Nadav Amit, Yu Zhao)."
        ),
        needs="uffd_wp",
    ),
)

FIX_LIST += (
    Fix(
        name="fork_copy_pinned",
        title="fork copies an anonymous page the parent has pinned for the child, instead of sharing it",
        commit="70e806e4e645",
        kernels="missing up to 5.8; in 5.9 and later (with 008cfe4418b3 mm->has_pinned; page_try_dup_anon_rmap "
        "since 5.19)",
        where="copy_pte_range (copy_present_page)",
        story=(
            "A process pins a page for DMA (pin_user_pages: RDMA, VFIO, io_uring) and forks. Before the fix "
            "fork write-protects the pinned page in the parent as in the child, so the parent's next write "
            "faults and copies it: the parent's page tables move to the copy while the device keeps the old "
            'page, and the parent\'s writes never reach the pinned reader ("COW can break either way"). '
            "5.9 copies a pinned page for the child during fork and leaves the parent's PTE writable."
        ),
        needs_pin=True,
        needs="pin",
    ),
)

FIX_LIST += (
    Fix(
        name="madv_free_refcount_check",
        title="reclaim discards a MADV_FREE page only if page_count is 1 (its isolation) + mapcount",
        commit="6c8e2a256915",
        kernels=(
            "missing since MADV_FREE (854e9ed09ded, 4.5); in 5.18 (by date) and the stable queues of April 2022 (4.9.y to 5.17.y); "
            "the presets before 5.18 lack it"
        ),
        where="try_to_unmap_one (the MADV_FREE branch: ref_count == 1 + map_count && !PageDirty)",
        story=(
            "A MADV_FREE'd buffer used as an O_DIRECT read target (Ceph and TCMalloc checksum errors; Mauricio Faria "
            "de Oliveira). get_user_pages_fast takes a reference but marks nothing dirty until the I/O completes; "
            "reclaim meanwhile finds the PTE and the page clean and discards the page, whose reference keeps it "
            "allocated: the device writes the data into a page the process no longer maps, and the process's next "
            "read faults in zeros. The fix counts references first, and remaps the page when any is extra."
        ),
        needs="madv_free",
        preset_needs="madv_free",
    ),
)

FIX_LIST += (
    Fix(
        name="expand_stack_write_lock",
        title="the page fault expands a stack only under the mmap write lock (lock_mm_and_find_vma)",
        commit="8d7071af8907",
        kernels=(
            "missing from 6.1 (the maple tree, with RCU-freed nodes) through 6.4; in 6.5 (branch expand-stack, "
            "merge 9471f1f2f502) and stable 6.1.37, 6.3.11, 6.4.1; the presets 6.1 and 6.4.0 lack it"
        ),
        where=(
            "do_user_addr_fault → lock_mm_and_find_vma (c2508ec5a58d): mmap_read_unlock, mmap_write_lock_killable, "
            "find_vma again, expand_stack_locked → expand_downwards, mmap_write_downgrade"
        ),
        story=(
            "StackRot (CVE-2023-3269, Ruihan Li). A fault below a stack VMA expanded it with expand_stack → "
            "expand_downwards under the mmap *read* lock. When the VMA below is itself VM_GROWSDOWN (or "
            "inaccessible, PROT_NONE) no guard gap is kept, the expansion removes the gap entry from the maple tree, and the tree (in RCU mode) publishes "
            "a new node and frees the old one with call_rcu (mas_replace → mas_free → ma_free_rcu). Another thread "
            "under the mmap read lock but outside rcu_read_lock (find_vma_prev, here from madvise_walk_vmas) may "
            "hold the old node across the grace period and read it after mt_free_rcu freed it: a use-after-free. "
            "The fix expands only under the mmap write lock, which excludes every mmap_read_lock reader."
        ),
        needs="stack",
        preset_needs="stack",
    ),
)

FIX: dict[str, Fix] = {f.name: f for f in FIX_LIST}
FIXES: tuple[str, ...] = tuple(FIX)

_ON = {"on": True, "true": True, "1": True, "off": False, "false": False, "0": False}


def parse_switch(text: str) -> tuple[str, bool]:
    """`NAME=off` / `NAME=on` (as `--fix` takes it) -> (NAME, on); ValueError says what is wrong."""
    name, sep, state = text.partition("=")
    name = name.strip()
    if name not in FIX:
        listed = ", ".join(FIXES)
        hint = suggest(name, FIXES) if name else ""
        raise ValueError(f"unknown fix '{name}'{hint} (expected one of: {listed}; `spftui fixes` lists them)")
    if not sep or state.strip().lower() not in _ON:
        raise ValueError(f"expected {name}=off or {name}=on, found '{text}'")
    return name, _ON[state.strip().lower()]


def preset_lacks(kernel: str | None, threads: Iterable[Thread], stacks: bool = False) -> frozenset[str]:
    """The fixes a scenario on `kernel` starts without (before its `[fixes]`): the preset's, but a
    fix about pinned pages only when a thread pins one, and one with `preset_needs` only where the
    scenario has that feature (`stacks`: a growsdown mapping) (the loader's and the writer's starting point)."""
    if not kernel:
        return frozenset()
    threads = list(threads)
    pins = pins_a_page(threads)
    frees = any(op.kind == "madvise" and op.advice == "free" for t in threads for op in t.ops)
    has = {"madv_free": frees, "stack": stacks}
    return frozenset(
        f
        for f in KERNEL_PRESET[kernel].fixes_off
        if (pins or not FIX[f].needs_pin) and (not FIX[f].preset_needs or has[FIX[f].preset_needs])
    )
