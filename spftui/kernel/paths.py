"""Importing this module registers every step of every kernel path."""

from . import (  # noqa: F401
    anon,
    fault,
    filemap,
    fork,
    gup,
    lazyfree,
    mmap,
    mprotect,
    mremap,
    munmap,
    ops,
    stack,
    swap,
    userfaultfd,
    wp,
    zap,
)
from .steps import STEPS


def all_labels() -> frozenset[str]:
    """Every step label of every path."""
    return frozenset(STEPS)
