"""What the views may read of the simulated machine, in one place.

The TUI and the CLI import the engine and the scenario layer only, never
`spftui.kernel`: the names they need to read a machine (its type, PTE
decoding, state constants, the step documentation and paths) are re-exported
here, so the kernel can change its layout behind one seam.
"""

from __future__ import annotations

from ..kernel import DOCS, PATHS, all_labels
from ..kernel.events import (
    EVENT_KINDS,
    TRACE_SCHEMA,
    Aba,
    Change,
    Event,
    Invalidated,
    OpStart,
    Pte,
    SpfAbort,
    Validate,
    Violation,
    event_fields,
)
from ..kernel.foll import FOLL_PIN, format_foll
from ..kernel.machine import Machine
from ..kernel.ops import OP_ENTRY
from ..kernel.pte import (
    PAGE_SHIFT,
    PTRS_PER_PTE,
    ZERO_PFN,
    format_pte,
    pmd_index,
    pte_index,
    pte_pfn,
    pte_present,
    pte_write,
)
from ..kernel.state import BLOCKED, DONE, RUNNABLE, VM_READ, VM_SHARED, VM_UFFD_WP, VM_WRITE, Vma, format_vm_flags
from .describe import local_is_vpn as local_is_vpn  # (the rule lives beside local_text)

__all__ = [
    "BLOCKED",
    "DOCS",
    "DONE",
    "EVENT_KINDS",
    "FOLL_PIN",
    "OP_ENTRY",
    "PAGE_SHIFT",
    "PATHS",
    "PTRS_PER_PTE",
    "RUNNABLE",
    "TRACE_SCHEMA",
    "VM_READ",
    "VM_SHARED",
    "VM_UFFD_WP",
    "VM_WRITE",
    "ZERO_PFN",
    "Aba",
    "Change",
    "Event",
    "Invalidated",
    "Machine",
    "OpStart",
    "Pte",
    "SpfAbort",
    "Validate",
    "Violation",
    "Vma",
    "all_labels",
    "event_fields",
    "format_foll",
    "format_pte",
    "format_vm_flags",
    "local_is_vpn",
    "pmd_index",
    "pte_index",
    "pte_pfn",
    "pte_present",
    "pte_write",
]
