"""Importing this module registers every step of every kernel path."""

from . import anon, fault, filemap, fork, gup, mmap, mprotect, mremap, munmap, ops, swap, userfaultfd, wp, zap  # noqa: F401
from .steps import STEPS


def all_labels() -> frozenset[str]:
    """Every step label of every path."""
    return frozenset(STEPS)
