"""The registry of validation policies and COW reuse rules: one record each.

A policy is everything the product says or decides about one way of
validating a page fault: its name and description for users, where its
fault starts, what it snapshots and checks, and what writers must do for it.
The kernel asks the record (`m.policy.write_locks_vmas`, `m.policy.check`)
instead of comparing names, so adding a policy is one record here plus its
steps. The records live at the bottom layer (the scenario vocabulary) because
the loader validates names against them and the kernel builds on the loader.

Writers bump every seqcount under every policy (`mmap_seq`, `vm_sequence`,
`mm_lock_seq`), as the patchsets each do for their own; a policy decides which
one its faults read.
"""

from __future__ import annotations

from typing import Literal

import attrs

Check = Literal["none", "mm-seq", "vma-seq", "refetch-vma", "refetch-pte-none", "vma-read-lock"]
Mode = Literal["classic", "spf", "dufour", "vmalock"]


@attrs.frozen
class Policy:
    """One validation policy.

    name              the name scenarios, the CLI and schedule files use
    description       one line for pickers and reports
    origin            where it comes from (patchset, release)
    entry             the fault's first step label
    mode              the fault's starting mode (`vmf["mode"]`): which
                      handlers it runs until it falls back to classic
    snapshots         what the fault samples at entry
    validates         how it validates before installing the PTE
    check             the check `pte_map_lock` runs (SEQ1 and SEQ2)
    retries_trylock   a failed PTL trylock re-runs the check (Dufour)
                      instead of aborting (Lespinasse)
    write_locks_vmas  writers take per-VMA write locks (vma_start_write)
    sound             validates enough to close the seed race
    """

    name: str
    description: str
    origin: str
    entry: str
    mode: Mode
    snapshots: str
    validates: str
    check: Check
    retries_trylock: bool = False
    write_locks_vmas: bool = False
    sound: bool = True

    @property
    def speculative(self) -> bool:
        """The fault starts without mmap_lock."""
        return self.mode != "classic"


_SPF_ENTRY = "do_user_addr_fault:spf_seq_start"

POLICY_LIST: tuple[Policy, ...] = (
    Policy(
        name="classic",
        description="mmap_lock held for the whole fault",
        origin="mainline; every other policy falls back to it",
        entry="do_user_addr_fault:mmap_read_lock",
        mode="classic",
        snapshots="nothing (mmap_read_lock excludes writers)",
        validates="nothing to validate",
        check="none",
    ),
    Policy(
        name="spf-mm-seq",
        description="Lespinasse: per-mm mmap_seq validated in pte_map_lock",
        origin="Lespinasse, speculative page faults, April 2021",
        entry=_SPF_ENTRY,
        mode="spf",
        snapshots="mm->mmap_seq and a copy of the VMA",
        validates="mmap_seq unchanged at SEQ1 and again under the PTL (SEQ2)",
        check="mm-seq",
    ),
    Policy(
        name="spf-vma-seq",
        description="Dufour: per-VMA vm_sequence validated in pte_map_lock",
        origin="Dufour, speculative page faults v12, 2019",
        entry="handle_speculative_fault:find_vma_rcu",
        mode="dufour",
        snapshots="vma->vm_sequence and a copy of the VMA",
        validates="vma_has_changed: the VMA is linked and vm_sequence unchanged",
        check="vma-seq",
        retries_trylock=True,
    ),
    Policy(
        name="vma-lock",
        description="6.4 per-VMA locks: the fault read-locks its VMA",
        origin="Baghdasaryan, per-VMA locks, 6.4",
        entry="lock_vma_under_rcu:mas_walk",
        mode="vmalock",
        snapshots="nothing: vma_start_read holds the VMA for the fault",
        validates="vma_start_read: vm_lock_seq differs from mm_lock_seq",
        check="vma-read-lock",
        write_locks_vmas=True,
    ),
    Policy(
        name="spf-refetch-vma",
        description="seed: re-find the VMA under the PTL and compare (unsafe)",
        origin="the tempting check Lespinasse's email rejects",
        entry=_SPF_ENTRY,
        mode="spf",
        snapshots="a copy of the VMA",
        validates="under the PTL, re-find the VMA and compare it with the copy",
        check="refetch-vma",
        sound=False,
    ),
    Policy(
        name="spf-refetch-pte-none",
        description="seed: refetch if orig_pte was none, else per-mm seq",
        origin="the alternative Lespinasse's email proposes",
        entry=_SPF_ENTRY,
        mode="spf",
        snapshots="mm->mmap_seq and a copy of the VMA",
        validates="refetch the VMA when orig_pte was none, else mmap_seq as spf-mm-seq",
        check="refetch-pte-none",
    ),
)
POLICY: dict[str, Policy] = {p.name: p for p in POLICY_LIST}
POLICIES: tuple[str, ...] = tuple(POLICY)


@attrs.frozen
class ReuseRule:
    """One COW reuse rule: when do_wp_page may reuse an anon page in place.

    name            the name scenarios, the CLI and schedule files use
    releases        the kernel releases that used it
    description     one line for pickers and reports
    by_refcount     decide by page_count (5.9's 09854ba94c6a), not mapcount
    anon_exclusive  PG_anon_exclusive marks pages owned by one process, and
                    do_swap_page decides by refcount after swap_free
    """

    name: str
    releases: str
    description: str
    by_refcount: bool = False
    anon_exclusive: bool = False


REUSE_LIST: tuple[ReuseRule, ...] = (
    ReuseRule(
        name="mapcount",
        releases="≤ 5.8",  # reuse_swap_page in do_wp_page and do_swap_page
        description="reuse when mapcount + swapcount ≤ 1 (extra references ignored)",
    ),
    ReuseRule(
        name="page-count",
        releases="5.9–5.17",  # do_wp_page by page_count (09854ba94c6a); do_swap_page kept reuse_swap_page
        description="reuse only when page_count == 1",
        by_refcount=True,
    ),
    ReuseRule(
        name="anon-exclusive",
        releases="5.19+ (5.18 without the bit)",
        # PG_anon_exclusive is 5.19's (6c287605fd56); 5.18 (c145e0b47c77) already decided
        # do_swap_page by refcount and removed reuse_swap_page, which this rule models too
        description="reuse when PageAnonExclusive, else when page_count == 1 (do_swap_page too)",
        by_refcount=True,
        anon_exclusive=True,
    ),
)
REUSE: dict[str, ReuseRule] = {r.name: r for r in REUSE_LIST}
REUSE_RULES: tuple[str, ...] = tuple(REUSE)
