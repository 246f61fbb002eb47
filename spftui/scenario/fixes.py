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

import attrs

from .syntax import suggest


@attrs.frozen
class Fix:
    """One modelled fix.

    name      the switch's name in `[fixes]`, `--fix` and `spftui fixes`
    title     one line: what the fix does
    commit    the commit that introduced it (12 hex digits), or where it
              was proposed when it never reached mainline
    kernels   the releases that have it / lack it, in words
    where     the kernel function(s) the switch sits in
    policies  the validation policies under which it matters (empty: all)
    story     a paragraph: the race it closes
    """

    name: str
    title: str
    commit: str
    kernels: str
    where: str
    policies: tuple[str, ...] = ()
    story: str = ""


FIX_LIST: tuple[Fix, ...] = (
    Fix(
        name="fork_vma_write_lock",
        title="dup_mmap write-locks every parent VMA before copying it",
        commit="fb49c455323f",
        kernels="missing in 6.4.0–6.4.2 (per-VMA locks, 6.4); in 6.4.3 and 6.5",
        where="dup_mmap (vma_start_write)",
        policies=("vma-lock",),
        story=(
            "With per-VMA locks a page fault under lock_vma_under_rcu does not take "
            "mmap_lock, so it can run while dup_mmap copies the parent under "
            "mmap_write_lock: a write through a TLB entry copy_pte_range has not yet "
            "flushed, or a first COW that runs anon_vma_prepare on a VMA already "
            "copied, is not seen by the child (kernel bugzilla 217624)."
        ),
    ),
    Fix(
        name="fork_vm_raw_write",
        title="dup_mmap holds vm_raw_write_begin on each copied parent VMA until flush_tlb_mm",
        commit="Dufour SPF v12 (2019, not merged)",
        kernels="Dufour's speculative page faults series, v12",
        where="dup_mmap (vm_raw_write_begin / vm_raw_write_end)",
        policies=("spf-vma-seq",),
        story=(
            "A speculative fault validates the VMA's vm_sequence, which fork does not "
            "otherwise bump: without the raw write section a fault can run against a "
            "parent whose PTEs copy_pte_range has write-protected but not yet flushed."
        ),
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
