"""The simulated machine: frames, page tables, VMAs, mm_structs, TLBs, swap,
the fault and writer paths as named steps, validation policies and oracles.
Pure: no I/O, standard library + attrs only."""

from .build import build_machine
from .machine import Machine
from .paths import all_labels
from .steps import DOCS, PATHS, STEPS

__all__ = ["DOCS", "PATHS", "STEPS", "Machine", "all_labels", "build_machine"]
