"""The little languages inside scenario strings: ops and schedule entries.

These parsers know nothing about files; they raise `Invalid` with a message,
and the loader adds the file, line and key.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Sequence

import attrs

from spftui.scenario.model import (
    FOLL_NAMES,
    MAX_MAPPING_PAGES,
    MAX_STEPS,
    OP_KINDS,
    PAGE_SIZE,
    PROTS,
    Op,
    ScheduleEntry,
)

USER_ADDR_LIMIT = 1 << 47
"""Addresses must lie below this (x86-64 TASK_SIZE with 4-level page tables)."""

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
"""Process and thread names; also each half of a step label."""

LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*(?::[A-Za-z_][A-Za-z0-9_.-]*)?")
"""A step label: `function:point` (e.g. `wp_page_copy:copy`) or a bare name."""

DONE = "done"
"""The pseudo-label that runs a thread to completion."""

_INT = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|[0-9][0-9_]*)", re.ASCII)
_PAGES = re.compile(r"([0-9][0-9_]*)p", re.ASCII)

_OP_ARGS: dict[str, tuple[str, ...]] = {
    "read": ("ADDR",),
    "write": ("ADDR", "VALUE"),
    "mmap": ("ADDR", "LENGTH", "PROT"),
    "munmap": ("ADDR", "LENGTH"),
    "mprotect": ("ADDR", "LENGTH", "PROT"),
    "madvise": ("ADDR", "LENGTH", "ADVICE"),
    "fork": ("CHILD",),
    "reclaim": ("ADDR",),
    "age": ("ADDR",),
    "gup": ("ADDR",),  # then optional flags, parsed by _gup_flags
    "gup-read": ("ADDR",),
    "gup-write": ("ADDR", "VALUE"),
    "unpin": ("ADDR",),
    "mremap": ("ADDR", "LENGTH", "NEWLENGTH"),  # then [move NEWADDR] [dontunmap], parsed by _mremap
    "uffd-wp": ("ADDR", "LENGTH"),  # UFFDIO_WRITEPROTECT, mode WP
    "uffd-unwp": ("ADDR", "LENGTH"),  # UFFDIO_WRITEPROTECT, mode 0: un-protect and wake
}
assert tuple(_OP_ARGS) == OP_KINDS
ADVICES = ("dontneed", "free")
_OPTIONAL = {"gup": " [write] [force] [pin]", "mremap": " [move NEWADDR] [dontunmap]"}


class Invalid(Exception):
    """A value is malformed; `message` says what was expected and found."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def suggest(word: str, choices: Sequence[str]) -> str:
    """`; did you mean 'x'?` for the closest choice (ignoring case), or ""."""
    folded = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(folded), n=1)
    return f"; did you mean '{folded[close[0]]}'?" if close else ""


def one_of(what: str, value: str, choices: Sequence[str], note: str = "", limit: int = 12) -> str:
    """Check `value` against `choices`; raise a message listing them (the first `limit`) if
    absent (or saying `note` instead: after the value, which the reader looks for first)."""
    if value not in choices:
        listed = ", ".join(choices[:limit]) if choices else "(none)"
        if len(choices) > limit:
            listed += f", ... ({len(choices)} in all)"
        raise Invalid(f"unknown {what} '{value}'{suggest(value, choices)} ({note or 'expected one of: ' + listed})")
    return value


def parse_int(token: str, what: str = "an integer", signed: bool = False) -> int:
    """An integer written in decimal or 0x hex (0o, 0b and `_` also work)."""
    if _INT.fullmatch(token) and (signed or token[0] not in "+-"):
        try:
            return int(token, 0)
        except ValueError:  # "1__0", "010", more than 4300 digits
            pass
    sign = "" if signed else "non-negative "
    raise Invalid(f"expected {what} ({sign}decimal or 0x hex), found '{token}'")


def check_word(value: int) -> int:
    """A value a page word can hold: an unsigned long, or a long written with its sign."""
    if not -(1 << 63) <= value < 1 << 64:
        raise Invalid(f"expected a 64-bit value (-2**63 to 2**64 - 1), found {value}")
    return value


def check_name(name: str, what: str) -> str:
    if not NAME.fullmatch(name):
        raise Invalid(f"expected a {what} name (a letter or '_', then letters, digits, '_', '-', '.'), found '{name}'")
    return name


def check_addr(addr: int, what: str, aligned: bool) -> int:
    if addr < 0:
        raise Invalid(f"expected a {what} of 0 or more, found {addr:#x}")
    if aligned and addr % PAGE_SIZE:
        raise Invalid(f"expected a page-aligned {what} (a multiple of 0x{PAGE_SIZE:x}), found {addr:#x}")
    if addr >= USER_ADDR_LIMIT:
        raise Invalid(f"expected {what} below {USER_ADDR_LIMIT:#x}, found {addr:#x}")
    return addr


def check_range(start: int, length: int) -> None:
    if length <= 0 or length % PAGE_SIZE:
        raise Invalid(f"expected a length that is a positive multiple of 0x{PAGE_SIZE:x}, found {length:#x}")
    if start + length > USER_ADDR_LIMIT:
        raise Invalid(f"range {start:#x}+{length:#x} ends above {USER_ADDR_LIMIT:#x}")


def check_mapping_length(length: int) -> None:
    if length > MAX_MAPPING_PAGES * PAGE_SIZE:
        raise Invalid(
            f"a mapping of {length // PAGE_SIZE:,} pages is too large (at most {MAX_MAPPING_PAGES:,} pages, "
            f"{MAX_MAPPING_PAGES * PAGE_SIZE:#x} bytes)"
        )


def check_count(n: int, what: str) -> int:
    """A step or repeat count: 1 to MAX_STEPS (a run stops at MAX_STEPS steps anyway)."""
    if n < 1:
        raise Invalid(f"expected a {what} of at least 1, found {n}")
    if n > MAX_STEPS:
        raise Invalid(f"expected a {what} of at most {MAX_STEPS:,} (the step limit of a run), found {n:,}")
    return n


def parse_length(token: str) -> int:
    """A byte length, or `Np` for N pages."""
    match = _PAGES.fullmatch(token)
    if match:
        return parse_int(match.group(1), "a page count") * PAGE_SIZE
    return parse_int(token, "a length in bytes or 'Np' pages")


def parse_op(text: str) -> Op:
    """One op string such as `write 0x10000 42` (see scenarios/README.md)."""
    words = text.split()
    if not words:
        raise Invalid(f"empty op; expected one of: {', '.join(OP_KINDS)}")
    kind = one_of("op", words[0], OP_KINDS, limit=len(OP_KINDS))  # (all: the last ones are the least known)
    roles = _OP_ARGS[kind]
    foll: tuple[str, ...] = ()
    if kind == "gup":
        foll = _gup_flags(words[2:], text)
        words = words[:2]
    if kind == "mremap" and len(words) > 4:
        return _mremap(words, text)
    if len(words) - 1 != len(roles):
        usage = " ".join((kind, *roles)) + _OPTIONAL.get(kind, "")
        raise Invalid(f"expected '{usage}' ({len(roles)} argument(s)), found {len(words) - 1} in '{text.strip()}'")
    args = dict(zip(roles, words[1:], strict=False))
    addr = length = value = 0
    prot = advice = child = ""
    if "ADDR" in args:
        addr = parse_int(args["ADDR"], "an address")
        check_addr(addr, "range start" if "LENGTH" in args else "address", aligned="LENGTH" in args)
    if "LENGTH" in args:
        length = parse_length(args["LENGTH"])
        check_range(addr, length)  # munmap/mprotect/madvise may cover any user range, as in Linux
        if kind == "mmap":
            check_mapping_length(length)
    new_length = 0
    if "NEWLENGTH" in args:
        new_length = parse_length(args["NEWLENGTH"])
        check_range(addr, new_length)
        check_mapping_length(new_length)
        if new_length < length:
            raise Invalid(f"shrinking ({length:#x} to {new_length:#x}) is not modelled; munmap the tail instead")
    if "VALUE" in args:
        value = check_word(parse_int(args["VALUE"], "a value", signed=True))
    if "PROT" in args:
        prot = one_of("protection", args["PROT"], PROTS)
    if "ADVICE" in args:
        advice = one_of("madvise advice", args["ADVICE"], ADVICES, "'dontneed' and 'free' are modelled")
    if "CHILD" in args:
        child = check_name(args["CHILD"], "process")
    return Op(kind, addr, length, value, prot, advice, child, text, foll=foll, new_length=new_length)


def op_text(op: Op) -> str:
    """The canonical spelling of an op, which `parse_op` reads back as the same op
    (`write 0x10000 42`, `mprotect 0x10000 1p r`, `gup 0x10000 write pin`)."""

    def span(length: int) -> str:
        return f"{length // PAGE_SIZE}p" if length % PAGE_SIZE == 0 else str(length)

    args = {
        "ADDR": f"{op.addr:#x}",
        "LENGTH": span(op.length),
        "NEWLENGTH": span(op.new_length),
        "VALUE": str(op.value),
        "PROT": op.prot,
        "ADVICE": op.advice,
        "CHILD": op.child,
    }
    words = [op.kind, *(args[role] for role in _OP_ARGS[op.kind])]
    if op.kind == "gup":
        words += op.foll
    if op.kind == "mremap":
        if op.new_addr is not None:
            words += ["move", f"{op.new_addr:#x}"]
        if op.dontunmap:
            words.append("dontunmap")
    return " ".join(words)


def _mremap(words: Sequence[str], text: str) -> Op:
    """`mremap OLD LENGTH NEWLENGTH [move NEWADDR] [dontunmap]` (MREMAP_MAYMOVE|MREMAP_FIXED, MREMAP_DONTUNMAP)."""
    base = parse_op(" ".join(words[:4]))
    rest = list(words[4:])
    new_addr: int | None = None
    dontunmap = False
    while rest:
        w = rest.pop(0)
        if w == "move" and new_addr is None:
            if not rest:
                raise Invalid(f"'move' needs the new address, e.g. 'move 0x40000', in '{text.strip()}'")
            new_addr = check_addr(parse_int(rest.pop(0), "a new address"), "new address", aligned=True)
        elif w == "dontunmap" and not dontunmap:
            dontunmap = True
        else:
            one_of("mremap option", w, ("move", "dontunmap"))
            raise Invalid(f"mremap option '{w}' is given twice in '{text.strip()}'")
    if new_addr is not None:
        check_range(new_addr, base.new_length)
        if new_addr < base.addr + base.length and base.addr < new_addr + base.new_length:
            raise Invalid(f"the new range {new_addr:#x}+{base.new_length:#x} overlaps the old one (EINVAL)")
    if dontunmap and (new_addr is None or base.new_length != base.length):
        raise Invalid("'dontunmap' needs 'move NEWADDR' and the same length (MREMAP_DONTUNMAP: EINVAL otherwise)")
    return attrs.evolve(base, new_addr=new_addr, dontunmap=dontunmap, text=text)


def _gup_flags(words: Sequence[str], text: str) -> tuple[str, ...]:
    """`gup ADDR [write] [force] [pin]`: each flag at most once, any order."""
    seen: list[str] = []
    for w in words:
        one_of("gup flag", w, FOLL_NAMES)
        if w in seen:
            raise Invalid(f"gup flag '{w}' is given twice in '{text.strip()}'")
        seen.append(w)
    return tuple(f for f in FOLL_NAMES if f in seen)


def parse_entry(
    text: str,
    threads: Collection[str] | None = None,
    known_labels: Collection[str] | None = None,
) -> ScheduleEntry:
    """One schedule entry: `T`, `T N` or `T until LABEL` (LABEL may be `done`)."""
    words = text.split()
    if not words or len(words) > 3:
        raise Invalid(f"expected 'THREAD', 'THREAD N' or 'THREAD until LABEL', found '{text.strip()}'")
    thread = check_name(words[0], "thread")
    if threads is not None:
        one_of("thread", thread, _ordered(threads))
    if len(words) == 1:
        return ScheduleEntry(thread=thread, text=text)
    if words[1] != "until":
        if len(words) == 3:
            raise Invalid(f"expected 'until' after the thread name, found '{words[1]}' in '{text.strip()}'")
        steps = check_count(parse_int(words[1], "a step count or 'until LABEL'"), "step count")
        return ScheduleEntry(thread=thread, steps=steps, text=text)
    if len(words) == 2:
        raise Invalid(f"'until' needs a label, e.g. '{thread} until wp_page_copy:copy' or '{thread} until done'")
    label = words[2]
    if not LABEL.fullmatch(label):
        raise Invalid(f"expected a step label such as 'wp_page_copy:copy' or 'done', found '{label}'")
    if known_labels is not None and label != DONE:
        one_of("step label", label, [*_ordered(known_labels), DONE])
    return ScheduleEntry(thread=thread, until=label, text=text)


def _ordered(names: Collection[str]) -> list[str]:
    """Names in their given order, or sorted if they come in a set (for stable messages)."""
    return list(names) if isinstance(names, Sequence) else sorted(names)


def entry_text(entry: ScheduleEntry) -> str:
    """The canonical spelling of a schedule entry (what `parse_entry` reads)."""
    if entry.until is not None:
        return f"{entry.thread} until {entry.until}"
    return entry.thread if entry.steps == 1 else f"{entry.thread} {entry.steps}"
