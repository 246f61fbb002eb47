"""Importing this module registers every step of every kernel path."""

from . import anon, fault, fork, mmap, mprotect, munmap, ops, swap, wp, zap  # noqa: F401
