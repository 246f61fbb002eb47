"""A scenario's operations as one kernel-check sequence (`spftui kernel-check --scenario FILE`).

The comparison runs one op at a time, so a scenario's concurrency is left
out: its threads run one after another, in the order the file declares them
(a thread of a process that a `fork` op creates waits until that op has
run), each op to completion, every `repeat`. What kernel-check can drive on
the host is one private anonymous mapping in a parent P and, after one fork,
a child C; a scenario fits when it has one process with one mapping (P) and
at most one other process, forked from it at setup (`fork_of`) or by a `fork`
op (C). The setup becomes ops too: a mapping's `prot` other than rw is an
mprotect, `populate` a fault on each page (a write of 0 where the mapping is
writable, as MAP_POPULATE's write fault; else a read), `data` words are
writes, and `fork_of` is P's fork right after its data. Ops the host side
cannot run (mmap, reclaim, age, uffd-wp, ...), a mapping of a file or one
registered for uffd-wp (the host maps anonymous memory, without a
userfaultfd) and addresses outside the mapping are refused with the file,
line and key.
"""

from __future__ import annotations

from ..scenario import Scenario, ScenarioError
from ..scenario.model import PAGE_SIZE
from ..scenario.model import Op as ScenarioOp
from .sequence import Op

SUPPORTED = ("read", "write", "mprotect", "munmap", "madvise", "fork")


def scenario_ops(sc: Scenario) -> tuple[list[Op], int]:
    """(the ops, the mapping's pages) of `sc`; raises ScenarioError where it does not fit."""

    def refuse(message: str, line: int = 0, key: str = "") -> ScenarioError:
        return ScenarioError(f"kernel-check --scenario: {message}", sc.path, line, key)

    roots = [p for p in sc.processes if p.fork_of is None]
    if len(roots) != 1 or len(roots[0].mappings) != 1:
        where = roots[0] if len(roots) == 1 else None
        found = f"{len(where.mappings)} mappings" if where else f"{len(roots)} processes not forked from another"
        raise refuse(
            f"it compares one private mapping in one process (and a child): found {found}",
            where.line if where else 0,
            "process",
        )
    parent = roots[0]
    mapping = parent.mappings[0]
    # The host side maps private anonymous memory and registers no userfaultfd: a file
    # mapping or uffd-wp would be compared as what it is not (and "agree").
    for key, used, what in (
        ("file", mapping.file, f"this one maps file {mapping.file}, and the host side would map anonymous memory"),
        ("uffd_wp", mapping.uffd_wp, "this one is registered for uffd-wp, and the host side registers no userfaultfd"),
    ):
        if used:
            where = ("process", sc.processes.index(parent), "mapping", 0, key)
            raise refuse(
                f"it compares private anonymous mappings only: {what}", *_line_and_key(sc, where, mapping.line)
            )
    base, npages = mapping.start, mapping.length // PAGE_SIZE
    proc = {parent.name: "P"}
    children = [p for p in sc.processes if p.fork_of is not None]
    forks = [(t, op) for t in sc.threads for op in t.ops if op.kind == "fork"]
    if len(children) + len(forks) > 1:
        raise refuse("it compares a parent and one child: the scenario creates more than one child process")

    def page_of(op: ScenarioOp, addr: int, thread: str) -> tuple[int, int]:
        page, offset = divmod(addr - base, PAGE_SIZE)
        if not 0 <= page < npages:
            raise refuse(f"{thread}: `{op.text}` is outside the mapping {base:#x}-{base + mapping.length:#x}", op.line)
        return page, offset

    out: list[Op] = []
    if mapping.prot != "rw":
        out.append(Op("P", "mprotect", 0, npages, prot=mapping.prot))
    if mapping.populate:
        out += [Op("P", "write" if mapping.prot == "rw" else "read", i) for i in range(npages)]

    def data(p_name: str, words: tuple[tuple[int, int], ...], line: int) -> None:
        for addr, value in words:
            page, offset = divmod(addr - base, PAGE_SIZE)
            if not 0 <= page < npages:
                raise refuse(f"{p_name}'s data word at {addr:#x} is outside the mapping", line, "data")
            out.append(Op(proc[p_name], "write", page, value=value, offset=offset))

    data(parent.name, parent.data, parent.line)
    for child in children:
        if child.fork_of != parent.name or child.mappings:
            raise refuse(f"{child.name} must be forked from {parent.name} and map nothing of its own", child.line)
        out.append(Op("P", "fork"))
        proc[child.name] = "C"
        data(child.name, child.data, child.line)

    pending = list(sc.threads)
    while pending:
        ready = next((t for t in pending if t.process in proc), None)
        if ready is None:
            t = pending[0]
            raise refuse(f"thread {t.name}: its process {t.process} is never forked", t.line, "thread")
        pending.remove(ready)
        me = proc[ready.process]
        for _ in range(ready.repeat):
            for op in ready.ops:
                if op.kind not in SUPPORTED or (op.kind == "madvise" and op.advice != "dontneed"):
                    raise refuse(
                        f"thread {ready.name}: `{op.text}` cannot be compared (only read, write, mprotect, munmap, madvise dontneed and fork)",
                        op.line,
                        "ops",
                    )
                if op.kind == "fork":
                    if me != "P":
                        raise refuse(f"thread {ready.name}: only the parent forks", op.line, "ops")
                    out.append(Op("P", "fork"))
                    proc[op.child] = "C"
                    continue
                page, offset = page_of(op, op.addr, ready.name)
                if op.kind in ("read", "write"):
                    out.append(Op(me, op.kind, page, value=op.value, offset=offset))
                    continue
                if offset or op.length % PAGE_SIZE:
                    raise refuse(f"thread {ready.name}: `{op.text}` is not page-aligned", op.line, "ops")
                if page + op.length // PAGE_SIZE > npages:  # the host's guard pages lie beyond
                    raise refuse(f"thread {ready.name}: `{op.text}` runs past the end of the mapping", op.line, "ops")
                out.append(Op(me, op.kind, page, op.length // PAGE_SIZE, prot=op.prot))
    return out, npages


def _line_and_key(sc: Scenario, where: tuple[str | int, ...], fallback: int) -> tuple[int, str]:
    """The line of key `where` in the scenario's file (`fallback`: its table's, when the
    file cannot be read again) and the key as errors write it."""
    from ..scenario.document import Document
    from ..scenario.files import read_text
    from ..scenario.locate import format_key

    try:
        return Document(read_text(sc.path), sc.path).line(where) or fallback, format_key(where)
    except (OSError, ScenarioError):
        return fallback, format_key(where)
