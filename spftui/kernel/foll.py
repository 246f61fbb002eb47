"""gup_flags (include/linux/mm.h): the FOLL_* bits GUP's loop carries (gup.py)."""

from __future__ import annotations

FOLL_WRITE = 0x01
FOLL_GET = 0x04
FOLL_FORCE = 0x10
FOLL_COW = 0x4000
FOLL_PIN = 0x40000

FOLL_BITS = {"write": FOLL_WRITE, "force": FOLL_FORCE, "pin": FOLL_PIN}


def foll_flags(names: tuple[str, ...]) -> int:
    """A `gup` op's flags as gup_flags: FOLL_GET unless FOLL_PIN."""
    flags = 0
    for name in names:
        flags |= FOLL_BITS[name]
    return flags if flags & FOLL_PIN else flags | FOLL_GET


def format_foll(flags: int) -> str:
    names = [(FOLL_WRITE, "WRITE"), (FOLL_GET, "GET"), (FOLL_FORCE, "FORCE"), (FOLL_COW, "COW"), (FOLL_PIN, "PIN")]
    return "|".join("FOLL_" + n for bit, n in names if flags & bit) or "0"
