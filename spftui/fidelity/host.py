"""Run an op sequence on the host kernel: real mmap/mprotect/munmap/madvise/fork, loads and stores.

Each sequence runs in a forked process P (so a SIGSEGV kills only it); P's
`fork` makes C. Both are driven over pipes, one op at a time, by the calling
process, which reads their page tables from /proc/PID/pagemap and, as root,
each frame's flags and map count from /proc/kpageflags and /proc/kpagecount.

The mapping is private anonymous, `MADV_NOHUGEPAGE` (no THP of any size),
fenced by PROT_NONE guard pages so it never merges with a neighbour.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import signal
import struct
from typing import Any

from .sequence import Op

PAGE = 4096
PROT = {"none": 0, "r": 1, "rw": 3}
MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS, MAP_NORESERVE = 0x02, 0x10, 0x20, 0x4000
MADV_DONTNEED, MADV_NOHUGEPAGE = 4, 15
GUARD = 2  # pages of PROT_NONE on each side
KPF_ZERO_PAGE = 24
KPF_ANON_EXCLUSIVE = 34  # PG_anon_exclusive aliases PG_mappedtodisk (KPF_MAPPEDTODISK) on anon pages
PM_PRESENT, PM_SWAP = 1 << 63, 1 << 62
PFN_MASK = (1 << 55) - 1
TIMEOUT = 10.0

# A page as observed: ("none"|"zero"|"page"|"swap"|"present", pfn, mapcount, exclusive)
Page = tuple[str, int, int, bool]


class HostError(Exception):
    """The host run could not be carried out (not a mismatch)."""


def _libc() -> Any:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    for name in ("mprotect", "munmap", "madvise"):
        fn = getattr(libc, name)
        fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int][: 3 if name != "munmap" else 2]
        fn.restype = ctypes.c_int
    return libc


def _rc(ret: int) -> str:
    return "0" if ret == 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))


def _serve(libc: Any, base: int, cmd: int, rep: int) -> None:
    """The loop of P or C: one command line in, one reply line out."""
    buf = b""
    while True:
        while b"\n" not in buf:
            chunk = os.read(cmd, 4096)
            if not chunk:
                os._exit(0)
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        w = line.decode().split()
        addr = base + int(w[1]) * PAGE if len(w) > 1 else 0
        size = int(w[2]) * PAGE if len(w) > 2 else 0
        if w[0] == "read":  # read PAGE OFFSET
            out = str(ctypes.c_uint64.from_address(addr + int(w[2])).value)
        elif w[0] == "write":  # write PAGE VALUE OFFSET
            ctypes.c_uint64.from_address(addr + int(w[3])).value = int(w[2])
            out = "ok"
        elif w[0] == "mprotect":
            out = _rc(libc.mprotect(addr, size, PROT[w[3]]))
        elif w[0] == "munmap":
            out = _rc(libc.munmap(addr, size))
        elif w[0] == "madvise":
            out = _rc(libc.madvise(addr, size, MADV_DONTNEED))
        elif w[0] == "fork":
            cmd_c, rep_c = int(w[1]), int(w[2])
            pid = os.fork()
            if pid == 0:
                os.close(cmd)
                os.close(rep)
                _serve(libc, base, cmd_c, rep_c)
            os.close(cmd_c)
            os.close(rep_c)
            out = f"0 {pid}"
        elif w[0] == "exit":
            if len(w) > 1:
                try:
                    os.waitpid(int(w[1]), 0)
                except ChildProcessError:
                    pass
            os._exit(0)
        else:
            out = "?"
        os.write(rep, (out + "\n").encode())


class HostRun:
    """One sequence on the host: P is forked at once, C by P's fork op."""

    def __init__(self, npages: int, pfns: bool) -> None:
        self.npages = npages
        self.pfns = pfns
        cmd_p, cmd_c, rep_p, rep_c = os.pipe(), os.pipe(), os.pipe(), os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                import faulthandler

                faulthandler.disable()  # a SIGSEGV must kill P silently, not print Python's traceback
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                # One CPU for P and C: do_wp_page's lru_add_drain() only drains this CPU's LRU
                # batch, and a page still in another CPU's batch has an extra reference: a copy.
                os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
                for fd in (cmd_p[1], rep_p[0], cmd_c[1], rep_c[0]):
                    os.close(fd)
                libc = _libc()
                total = (npages + 2 * GUARD) * PAGE
                fence = libc.mmap(None, total, 0, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
                base = fence + GUARD * PAGE
                flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED
                if (
                    fence in (None, ctypes.c_void_p(-1).value)
                    or libc.mmap(base, npages * PAGE, 3, flags, -1, 0) != base
                ):
                    os.write(rep_p[1], b"error mmap\n")
                    os._exit(1)
                libc.madvise(base, npages * PAGE, MADV_NOHUGEPAGE)
                os.write(rep_p[1], f"ready {base}\n".encode())
                _serve(libc, base, cmd_p[0], rep_p[1])
            finally:
                os._exit(1)
        for fd in (cmd_p[0], rep_p[1]):
            os.close(fd)
        self.pid = {"P": pid}
        self.cmd = {"P": cmd_p[1]}
        self.rep = {"P": rep_p[0]}
        self.child_fds = (cmd_c, rep_c)
        self.alive = {"P": True}
        self.buf = {"P": b"", "C": b""}
        ready = self._reply("P")
        if ready is None or not ready.startswith("ready"):
            self.close()
            raise HostError(f"the host process could not map its memory ({ready})")
        self.base = int(ready.split()[1])

    def _reply(self, proc: str) -> str | None:
        """One reply line; None when the process died (EOF)."""
        fd = self.rep[proc]
        while b"\n" not in self.buf[proc]:
            r, _, _ = select.select([fd], [], [], TIMEOUT)
            if not r:
                self.close()
                raise HostError(f"{proc} did not answer in {TIMEOUT:.0f} s")
            chunk = os.read(fd, 4096)
            if not chunk:
                return None
            self.buf[proc] += chunk
        line, self.buf[proc] = self.buf[proc].split(b"\n", 1)
        return line.decode()

    def do(self, op: Op) -> str:
        """Run op; its result as the comparison spells it."""
        if not self.alive.get(op.proc):
            return "dead"
        if op.kind == "fork":
            (cmd_c, rep_c) = self.child_fds
            line = f"fork {cmd_c[0]} {rep_c[1]}"
        elif op.kind == "write":
            line = f"write {op.page} {op.value} {op.offset}"
        elif op.kind == "read":
            line = f"read {op.page} {op.offset}"
        else:
            line = f"{op.kind} {op.page} {op.npages} {op.prot}"
        os.write(self.cmd[op.proc], (line + "\n").encode())
        if op.kind == "fork":
            os.close(cmd_c[0])
            os.close(rep_c[1])
        out = self._reply(op.proc)
        if out is None:
            self.alive[op.proc] = False
            return self._death(op.proc)
        if op.kind == "fork":
            self.pid["C"] = int(out.split()[1])
            self.cmd["C"], self.rep["C"] = cmd_c[1], rep_c[0]
            self.alive["C"] = True
            return "0"
        return out

    def _death(self, proc: str) -> str:
        """How the process died: waitpid for P; C is P's child, so read its exit code from /proc."""
        if proc == "P":
            _, status = os.waitpid(self.pid["P"], 0)
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
        else:
            try:
                with open(f"/proc/{self.pid['C']}/stat") as f:
                    sig = int(f.read().rsplit(")", 1)[1].split()[49]) & 0x7F
            except (OSError, IndexError, ValueError):
                sig = signal.SIGSEGV  # already reaped: an op can only end C by a signal
        return "SIGSEGV" if sig == signal.SIGSEGV else f"signal {sig}"

    def pages(self, proc: str) -> list[Page] | None:
        """The mapping's pages in proc's page table, or None when proc is dead."""
        if not self.alive.get(proc):
            return None
        with open(f"/proc/{self.pid[proc]}/pagemap", "rb") as f:
            f.seek(self.base // PAGE * 8)
            raw = struct.unpack(f"<{self.npages}Q", f.read(8 * self.npages))
        out: list[Page] = []
        for e in raw:
            if e & PM_SWAP:
                out.append(("swap", 0, 0, False))
            elif not e & PM_PRESENT:
                out.append(("none", 0, 0, False))
            elif not self.pfns:
                out.append(("present", 0, 0, False))
            else:
                pfn = e & PFN_MASK
                flags = _kpage("/proc/kpageflags", pfn)
                if flags >> KPF_ZERO_PAGE & 1:
                    out.append(("zero", pfn, 0, False))
                else:
                    excl = bool(flags >> KPF_ANON_EXCLUSIVE & 1)
                    out.append(("page", pfn, _kpage("/proc/kpagecount", pfn), excl))
        return out

    def close(self) -> None:
        """Tell the live processes to exit (C first, so P can reap it), then reap P."""
        for proc in ("C", "P"):
            if self.alive.get(proc):
                reap = f" {self.pid['C']}" if proc == "P" and "C" in self.pid else ""
                try:
                    os.write(self.cmd[proc], f"exit{reap}\n".encode())
                except OSError:
                    pass
                self.alive[proc] = False
        for fd in [*self.cmd.values(), *self.rep.values()]:
            try:
                os.close(fd)
            except OSError:
                pass
        self.cmd, self.rep = {}, {}
        if "C" not in self.pid:
            for fd in (*self.child_fds[0], *self.child_fds[1]):
                try:
                    os.close(fd)
                except OSError:
                    pass
        try:
            os.waitpid(self.pid["P"], 0)
        except ChildProcessError:
            pass


def _kpage(path: str, pfn: int) -> int:
    with open(path, "rb") as f:
        f.seek(pfn * 8)
        value: int = struct.unpack("<Q", f.read(8))[0]
        return value


def pfns_readable() -> bool:
    """Can we read PFNs (CAP_SYS_ADMIN) and the kpage files?"""
    return os.geteuid() == 0 and os.access("/proc/kpageflags", os.R_OK) and os.access("/proc/kpagecount", os.R_OK)
