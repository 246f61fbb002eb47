"""Run an op sequence in the simulator: P's ops on thread P, C's on thread C, one op at a time, in order."""

from __future__ import annotations

from ..engine import RoundRobin, Session
from ..kernel.pte import is_swap_pte, pte_pfn, pte_present, pte_special, vpn_of
from ..scenario import parse_scenario
from .host import PAGE, Page
from .sequence import Op

BASE = 0x10000


def op_text(op: Op) -> str:
    """The op as a scenario op string."""
    addr = BASE + op.page * PAGE
    if op.kind in ("read", "write"):
        addr += op.offset
    if op.kind == "fork":
        return "fork C"
    if op.kind == "read":
        return f"read {addr:#x}"
    if op.kind == "write":
        return f"write {addr:#x} {op.value}"
    extra = f" {op.prot}" if op.kind == "mprotect" else " dontneed" if op.kind == "madvise" else ""
    return f"{op.kind} {addr:#x} {op.npages}p{extra}"


def scenario_text(ops: list[Op], npages: int, reuse: str, words: int = 4) -> str:
    lines = ['title = "kernel-check"', 'policy = "classic"', f'reuse = "{reuse}"', f"words_per_page = {words}"]
    lines += ["[[process]]", 'name = "P"', "[[process.mapping]]", f"start = {BASE:#x}", f"pages = {npages}"]
    for proc in ("P", "C"):
        texts = [op_text(op) for op in ops if op.proc == proc]
        if texts or proc == "P":
            quoted = ", ".join(f'"{t}"' for t in texts or ["read 0x10000"])
            lines += ["[[thread]]", f'name = "{proc}"', f'process = "{proc}"', f"ops = [{quoted}]"]
    return "\n".join(lines) + "\n"


def normalise(result: str) -> str:
    """The model's op result as the host spells it."""
    if "killed by SIGSEGV" in result:
        return "SIGSEGV"
    if result.startswith("read "):
        return result.split()[1]
    if result.startswith("wrote "):
        return "ok"
    if result.startswith("child "):
        return "0"
    return result


class ModelRun:
    """One sequence in a Session, driven thread by thread."""

    def __init__(self, ops: list[Op], npages: int, reuse: str, words: int = 4) -> None:
        self.npages = npages
        self.session = Session(parse_scenario(scenario_text(ops, npages, reuse, words)), RoundRobin())
        self.forked = False
        self.why = ""  # the model's own words for the last SIGSEGV

    def _thread(self, proc: str):  # type: ignore[no-untyped-def]
        return next((t for t in self.session.machine.threads if t.name == proc), None)

    def dead(self, proc: str) -> bool:
        """Not forked yet, or killed (a process with no thread of its own cannot die)."""
        if proc == "C" and not self.forked:
            return True
        t = self._thread(proc)
        return t is not None and "killed by" in t.result

    def do(self, op: Op) -> str:
        self.why = ""
        if self.dead(op.proc):
            return "dead"
        t = self._thread(op.proc)
        before = (t.iteration, t.op_index)
        while True:
            self.session.step(op.proc)
            t = self._thread(op.proc)
            if (t.iteration, t.op_index) != before or t.state == "done":
                break
        if op.kind == "fork":
            self.forked = True
        result = t.result.split(": ", 1)[1]
        self.why = result if "SIGSEGV" in result else ""
        return normalise(result)

    def pages(self, proc: str) -> list[Page] | None:
        if self.dead(proc):
            return None
        m = self.session.machine
        mm = m.mms[proc]
        out: list[Page] = []
        for i in range(self.npages):
            pte = m.pte_lookup(mm, vpn_of(BASE) + i)
            if is_swap_pte(pte):
                out.append(("swap", 0, 0, False))
            elif not pte_present(pte):
                out.append(("none", 0, 0, False))
            elif pte_special(pte):
                out.append(("zero", 0, 0, False))
            else:
                f = m.frames[pte_pfn(pte)]
                out.append(("page", f.pfn, f.mapcount, f.anon_exclusive))
        return out

    def violations(self) -> list[str]:
        return [f"{mk.what}: {mk.detail}" for mk in self.session.violations()]
