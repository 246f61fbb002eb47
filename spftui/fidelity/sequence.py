"""Op sequences on one private anonymous mapping of a few pages, in parent P and (after `fork`) child C."""

from __future__ import annotations

import random
from dataclasses import dataclass

PROTS = ("none", "r", "rw")


@dataclass(frozen=True)
class Op:
    """One operation: `proc` (P or C) does `kind` on pages [page, page + npages)."""

    proc: str
    kind: str  # read, write, fork, mprotect, munmap, madvise
    page: int = 0
    npages: int = 1
    value: int = 0
    prot: str = ""
    offset: int = 0  # bytes into the page (read, write): a scenario's word at 0x10400 is p0+0x400

    @property
    def text(self) -> str:
        where = f"p{self.page}+{self.offset:#x}" if self.offset else f"p{self.page}"
        if self.kind == "fork":
            return f"{self.proc} fork"
        if self.kind == "read":
            return f"{self.proc} read {where}"
        if self.kind == "write":
            return f"{self.proc} write {where} {self.value}"
        extra = f" {self.prot}" if self.kind == "mprotect" else " dontneed" if self.kind == "madvise" else ""
        return f"{self.proc} {self.kind} p{self.page} {self.npages}p{extra}"


def valid(ops: list[Op]) -> bool:
    """At most one fork, by P, and C acts only after it."""
    forked = False
    for op in ops:
        if op.kind == "fork":
            if forked or op.proc != "P":
                return False
            forked = True
        elif op.proc == "C" and not forked:
            return False
    return True


def generate(seed: int, nops: int, max_pages: int) -> tuple[int, list[Op]]:
    """A sequence of `nops` ops on 3..max_pages pages; the same seed gives the same sequence.

    Most loads and stores go to pages the generator believes accessible (it
    tracks each process's protections), so a sequence rarely ends at its first
    SIGSEGV; one access in twenty goes anywhere, to keep the fatal paths covered.
    """
    rng = random.Random(seed)
    npages = rng.randint(3, max(3, max_pages))
    prot = {"P": ["rw"] * npages, "C": ["rw"] * npages}  # "" = unmapped
    ops: list[Op] = []
    forked = False
    for _ in range(nops):
        proc = rng.choice("PC") if forked else "P"
        r = rng.random()
        page = rng.randrange(npages)
        span = rng.randint(1, npages - page)
        if not forked and r < 0.10:
            ops.append(Op("P", "fork"))
            prot["C"] = list(prot["P"])
            forked = True
        elif r < 0.70:
            write = r < 0.42
            ok = [i for i, p in enumerate(prot[proc]) if p == "rw" or (p == "r" and not write)]
            if ok and rng.random() < 0.95:
                page = rng.choice(ok)
            if write:
                ops.append(Op(proc, "write", page, value=rng.randint(1, 99)))
            else:
                ops.append(Op(proc, "read", page))
        elif r < 0.84:
            new = rng.choice(("none", "r", "r", "rw", "rw"))
            ops.append(Op(proc, "mprotect", page, span, prot=new))
            for i in range(page, page + span):  # approximate: the kernel stops at a hole
                prot[proc][i] = new if prot[proc][i] else ""
        elif r < 0.95:
            ops.append(Op(proc, "madvise", page, span))
        else:
            ops.append(Op(proc, "munmap", page, span))
            for i in range(page, page + span):
                prot[proc][i] = ""
    return npages, ops
