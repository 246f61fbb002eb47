"""A recorded run as a Chrome JSON trace (trace-event format), for Perfetto's UI and chrome://tracing.

The time axis is the step number: step N (1-based, as everywhere) is the
slice [N, N+1) µs. What the trace holds:

- a process per simulated process (its mm: `A`, a forked `A.child`...) with
  a thread track per user thread (each thread runs on its own CPU, so a
  track per thread is a track per CPU), nesting three levels of slices: the
  op (`write 0x10000 42`, `munmap 0x10000 1p`, `fork`), the kernel function
  it is in (the label's prefix: `do_user_addr_fault`, `wp_page_copy`,
  `__do_munmap`...), and the step (`wp_page_copy:copy`);
- a `locks` process with a track per lock and holder (`mmap_lock(A) · B`),
  whose slices are the hold times: mmap_lock read/write, the split PTL of
  each PTE table, the per-VMA lock (read by a fault, write-locked while
  vm_lock_seq == mm_lock_seq) and the page lock. They are read from the
  machine's state after each step (the PTL and per-VMA locks emit no event);
  a PTL taken and dropped within one step (zap_pte_range's) is found in the
  step's footprint (Machine.touched) and gets a slice over that step;
- counter tracks in each mm's process: `mmap_seq`, `mm_lock_seq`, each VMA's
  `vm_sequence`, and each page's `page_count` and `page_mapcount`;
- instant events: SPF aborts, validations (passed or failed), the kernel's
  decisions (do_wp_page's reuse or copy, do_swap_page's reuse, faultin_page's
  FOLL_WRITE drop or FOLL_COW, named as the trace words them), SIGSEGV,
  blocking, and violations (global: a line across every track).

The run's configuration (policy, reuse rule, the modelled fixes that are off)
is in `otherData` and labels each simulated process, since a race may only
exist with a fix off.

Slices are complete events (`ph: X`), so a slice never needs its end to be
matched. Events come from the Timeline (kernel/events.py records, plus the
derived aba/invalidated ones); nothing here writes a Session.

Standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..kernel import Machine
from ..kernel.events import Block, Decision, OpDone, OpStart, Segv, SpfAbort, Validate, Violation
from ..kernel.pte import ZERO_PFN
from .describe import decision_short, format_event
from .files import REFUSE, write_file
from .history import derived_events
from .timeline import Timeline

SCHEMA = "spftui-perfetto/1"
LOCKS_PID = 1  # the pseudo-process whose tracks are the locks


def lock_holds(m: Machine) -> Iterator[tuple[str, int, str]]:
    """(lock, holder thread index, mode) for every lock held in `m`, in a stable order."""
    for name in sorted(m.mms):
        mm = m.mms[name]
        if mm.lock_writer is not None:
            yield f"mmap_lock({name})", mm.lock_writer, "write"
        for t in mm.lock_readers:
            yield f"mmap_lock({name})", t, "read"
    for v in m.vmas:  # detached ones too: a fault may still hold its read lock
        if v.free:
            continue
        mm = m.mms[v.mm]
        for t in v.lock_readers:
            yield f"vma {v.id} lock({v.mm})", t, "read"
        if v.vm_lock_seq == mm.mm_lock_seq and mm.lock_writer is not None:
            yield f"vma {v.id} lock({v.mm})", mm.lock_writer, "write"
    for table in m.tables:
        if table.ptl is not None:
            yield f"ptl(table {table.id})", table.ptl, "spin"
    for f in m.frames:
        if f.locked is not None:
            yield f"page lock(pfn {f.pfn})", f.locked, "lock"


def counters(m: Machine) -> Iterator[tuple[str, str, int]]:
    """(mm, counter name, value) for every counter track, in a stable order."""
    for name in sorted(m.mms):
        mm = m.mms[name]
        yield name, "mmap_seq", mm.mmap_seq
        yield name, "mm_lock_seq", mm.mm_lock_seq
    for v in m.vmas:
        if not v.free:
            yield v.mm, f"vma{v.id}.vm_sequence", v.vm_sequence
    for f in m.frames:
        if f.pfn != ZERO_PFN and (not f.free or f.count or f.mapcount):
            yield "", f"pfn {f.pfn} page_count", f.count
            yield "", f"pfn {f.pfn} page_mapcount", f.mapcount


class _Builder:
    """Collects the trace events while the timeline is replayed once."""

    def __init__(self, tl: Timeline) -> None:
        self.tl = tl
        self.events: list[dict[str, Any]] = []
        self.pids: dict[str, int] = {}
        self.lock_tids: dict[tuple[str, int], int] = {}
        self.thread_pid: list[int] = []
        sc = tl.scenario
        self.config = config_text(sc)
        for p in sc.processes:
            self.pid(p.name)
        for i, t in enumerate(sc.threads):
            pid = self.pid(t.process)
            self.thread_pid.append(pid)
            self.meta("thread_name", pid, i + 1, f"{t.name} (CPU {i})")
            self.meta("thread_sort_index", pid, i + 1, i, key="sort_index")
        self.meta("process_name", LOCKS_PID, 0, "locks")
        self.meta("process_sort_index", LOCKS_PID, 0, 10_000, key="sort_index")
        self.open_ops: dict[int, tuple[int, str]] = {}  # thread -> (start step, op)
        self.open_fn: dict[int, tuple[int, str]] = {}  # thread -> (start step, function)
        self.held: dict[tuple[str, int, str], int] = {}  # (lock, thread, mode) -> since
        self.values: dict[tuple[str, str], int] = {}

    def meta(self, what: str, pid: int, tid: int, value: Any, key: str = "name") -> None:
        self.events.append({"ph": "M", "name": what, "pid": pid, "tid": tid, "args": {key: value}})

    def pid(self, mm: str) -> int:
        """The process of mm `mm` (a fork's child gets one when it appears)."""
        if mm not in self.pids:
            self.pids[mm] = pid = len(self.pids) + 2
            self.meta("process_name", pid, 0, f"process {mm}" if mm else "pages")
            self.meta("process_labels", pid, 0, self.config, key="labels")
            self.meta("process_sort_index", pid, 0, pid, key="sort_index")
        return self.pids[mm]

    def slice(self, pid: int, tid: int, name: str, start: int, end: int, cat: str, **args: Any) -> None:
        self.events.append(
            {"ph": "X", "name": name, "cat": cat, "pid": pid, "tid": tid, "ts": start, "dur": end - start, "args": args}
        )

    def instant(self, tid: int, name: str, ts: int, cat: str, scope: str = "t", **args: Any) -> None:
        pid = self.thread_pid[tid - 1] if tid else LOCKS_PID
        self.events.append(
            {"ph": "i", "name": name, "cat": cat, "pid": pid, "tid": tid, "ts": ts, "s": scope, "args": args}
        )

    # ------------------------------------------------------------ per step
    def state(self, m: Machine, ts: int, stepped: int | None = None) -> None:
        """Lock holds and counters after the step ending at `ts` (taken by thread `stepped`)."""
        now = set(lock_holds(m))
        if stepped is not None:
            self.brief_holds(m, ts, stepped, now)
        for key in [k for k in self.held if k not in now]:
            self.close_lock(key, ts)
        for key in now:
            self.held.setdefault(key, ts)
        for mm, name, value in counters(m):
            if self.values.get((mm, name)) != value:
                self.values[(mm, name)] = value
                self.events.append(
                    {"ph": "C", "name": name, "pid": self.pid(mm), "tid": 0, "ts": ts, "args": {"value": value}}
                )

    def brief_holds(self, m: Machine, ts: int, holder: int, now: set[tuple[str, int, str]]) -> None:
        """A PTL the step took and dropped (zap_pte_range's, in one step): free before the step, not the
        stepping thread's after it, touched by it (Machine.touched). The state after each step does not
        show it, so it gets a slice the length of the step, [ts - 1, ts)."""
        for key in sorted(k for k in m.touched if k[0] == "ptl"):
            lock = f"ptl(table {key[1]})"
            if any(h[0] == lock for h in self.held) or (lock, holder, "spin") in now:
                continue  # (held before the step: a failed try, a wait, or its own; or still held after it)
            table = next((t for t in m.tables if t.id == key[1]), None)
            if table is not None and holder in table.ptl_waiters:
                continue  # (it queued for the lock: not a hold)
            self.lock_slice(lock, holder, "spin", ts - 1, ts, within_step=ts - 1)

    def close_lock(self, key: tuple[str, int, str], ts: int) -> None:
        lock, holder, mode = key
        since = self.held.pop(key)
        self.lock_slice(lock, holder, mode, since, ts)

    def lock_slice(self, lock: str, holder: int, mode: str, since: int, ts: int, **args: Any) -> None:
        tid = self.lock_tids.get((lock, holder))
        if tid is None:
            tid = self.lock_tids[(lock, holder)] = len(self.lock_tids) + 1
            self.meta("thread_name", LOCKS_PID, tid, f"{lock} · {self.tl.names[holder]}")
        name = lock if mode in ("spin", "lock") else f"{lock} {mode}"
        self.slice(LOCKS_PID, tid, name, since, ts, "lock", holder=self.tl.names[holder], mode=mode, **args)

    def step(self, n: int, idx: int, label: str, events: tuple[Any, ...]) -> None:
        """Step n (1-based) by thread idx: slices [n, n+1); its instant events at n."""
        tid, pid = idx + 1, self.thread_pid[idx]
        fn = label.split(":", 1)[0]
        for e in events:
            if type(e) is OpStart and e.thread == self.tl.names[idx]:
                self.close_fn(idx, n)
                self.open_ops[idx] = (n, e.op)
        if idx in self.open_fn and self.open_fn[idx][1] != fn:
            self.close_fn(idx, n)
        self.open_fn.setdefault(idx, (n, fn))
        self.slice(pid, tid, label, n, n + 1, "step", step=n)
        for e in events:
            self.event(n, e)
            if type(e) is OpDone and e.thread == self.tl.names[idx]:
                self.close_fn(idx, n + 1)
                start, op = self.open_ops.pop(idx, (n, e.op))
                self.slice(pid, tid, op, start, n + 1, "op", result=e.result)

    def close_fn(self, idx: int, end: int) -> None:
        if idx in self.open_fn:
            start, fn = self.open_fn.pop(idx)
            self.slice(self.thread_pid[idx], idx + 1, fn, start, end, "kernel")

    def event(self, n: int, e: Any) -> None:
        tid = self.tl.names.index(e.thread) + 1 if getattr(e, "thread", "") in self.tl.names else 0
        args = {k: _plain(v) for k, v in e._asdict().items()}
        kind = type(e)
        if kind is Violation:
            self.instant(tid, f"VIOLATION {e.oracle}", n, "violation", "g", **args)
        elif kind is SpfAbort:
            self.instant(tid, f"abort {e.reason}", n, "abort", **args)
        elif kind is Validate:
            self.instant(tid, f"{e.check} {'passed' if e.ok else 'FAILED'}", n, "validate", **args)
        elif kind is Decision:  # the branch the race turns on: its own sentence, as the trace has it
            self.instant(tid, decision_short(e), n, "decision", text=format_event(e), **args)
        elif kind is Segv:
            self.instant(tid, "SIGSEGV", n, "signal", **args)
        elif kind is Block:
            self.instant(tid, f"blocked on {e.on}", n, "sched", **args)
        elif e.kind in ("aba", "invalidated"):
            self.instant(tid, e.kind, n, "validate", **args)

    def finish(self, end: int) -> None:
        for idx in list(self.open_fn):
            self.close_fn(idx, end)
        for idx, (start, op) in sorted(self.open_ops.items()):
            self.slice(self.thread_pid[idx], idx + 1, op, start, end, "op", result="(not finished)")
        for key in sorted(self.held):
            self.close_lock(key, end)


def config_text(sc: Any) -> str:
    """`policy spf-refetch-vma, reuse mapcount, fixes off: foll_cow` (every fix in: `all fixes in`)."""
    fixes = f"fixes off: {', '.join(sorted(sc.fixes_off))}" if sc.fixes_off else "all fixes in"
    return f"policy {sc.policy}, reuse {sc.reuse}, {fixes}"


def _plain(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, tuple | list):
        return [_plain(x) for x in v]
    if hasattr(v, "_asdict"):
        return {k: _plain(x) for k, x in v._asdict().items()}
    return str(v)


def chrome_trace(tl: Timeline, upto: int | None = None) -> dict[str, Any]:
    """The trace of `tl`'s first `upto` steps (all recorded ones by default) as a JSON object."""
    n = len(tl) if upto is None else min(upto, len(tl))
    b = _Builder(tl)
    b.state(tl.machine_at(0), 1)
    for pos, m, events in tl.replay(0, n):
        b.step(pos + 1, tl.thread_at(pos), tl.label_at(pos), events + derived_events(tl, pos, events))
        b.state(m, pos + 2, tl.thread_at(pos))
    b.finish(n + 1)
    sc = tl.scenario
    return {
        "traceEvents": b.events,
        "displayTimeUnit": "ns",
        "otherData": {
            "schema": SCHEMA,
            "scenario": sc.title,
            "policy": sc.policy,
            "reuse": sc.reuse,
            "kernel": sc.kernel,
            "fixes_off": sorted(sc.fixes_off),
            "config": config_text(sc),
            "steps": n,
            "time": "one step = 1 us; step N is the slice [N, N+1)",
        },
    }


def trace_text(tl: Timeline, upto: int | None = None) -> str:
    """The trace as the one JSON document a file holds (`trace -o -` prints it), with its newline."""
    return json.dumps(chrome_trace(tl, upto), ensure_ascii=False, separators=(",", ":")) + "\n"


def write_trace(path: str, tl: Timeline, upto: int | None = None, exists: str = REFUSE) -> str:
    """Write the trace atomically (engine/files.py); returns the path. Raises WriteError."""
    return write_file(path, trace_text(tl, upto), exists=exists, what="the trace")
