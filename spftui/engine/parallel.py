"""One exhaustive search split across processes (`explore --jobs N`) or a Ray cluster.

Design: hash-partitioned state ownership, as distributed TLC and Stern and
Dill's parallel Murphi do. Worker k owns the states whose fingerprint maps
to k (`owner`); only the owner stores a state in its visited set and expands
it. A successor owned by another worker is sent to it, as a snapshot with the
choices that reached it (the counterexample) and its sleep set; successors a
worker owns itself go straight onto its own queue. The other design the
issue offers, swarm-style diversified DFS with a shared visited set, needs a
shared hash table (locks or shared memory on one machine, nothing at all
across machines) and gives state counts that vary run to run; partitioning
needs nothing shared, works unchanged over Ray, and lets memory grow with
the number of workers.

Rounds. The parent (or the Ray driver) runs the search in rounds: each
worker takes the batches sent to it, goes on with its depth-first search
over the states it owns for up to BATCH steps, and returns its outgoing
batches, one pickled blob per destination, which the parent forwards
unopened. A round ends when every worker has
answered, so termination is counting: the search is over after a round in
which no worker has anything queued and nothing was sent. Each worker's
round is a deterministic function of its inputs, so the whole search —
states, transitions, counterexamples — is the same on every run, whatever
the timing. The barrier costs idle time when partitions are uneven; the
hash spreads states evenly (the per-worker figures are in the result).

Reductions. The set of states visited must equal the single-process
search's, so a reduction may only depend on the state, not on the order in
which states are met:

- sleep sets stay on: they prune transitions, never states, and Godefroid's
  rule for combining them with a visited set (a state arriving with fewer
  threads asleep than it was stored with explores the difference) does not
  depend on the order of arrivals; the sleep set travels with the state.
- thread-local merging (`local`) stays on: it makes a thread's
  thread-local steps part of its next step's transition
  (explorer.merge_local), a function of the state, so the partitioned
  search visits exactly the states of the DFS.
- symmetry (canonical fingerprints) stays on: the owner of a state is a
  function of its canonical fingerprint, so symmetric states meet at one
  worker.

Checkpoints (`--checkpoint`, resume.py) are taken between two rounds, when
no worker is expanding: each worker's `Partition.state()` and the batches on
their way, a whole search. It resumes split as many ways (a state's owner
depends on the number of workers), on processes or on Ray alike.

A worker process that dies is reported (`workers.WorkerLost`), never waited
for: its states are gone, so the search cannot finish (a checkpoint keeps
what was found up to its last save). Every worker is
stopped and joined before `partitioned` returns.

Headless: standard library and attrs only (Ray is imported by ray_backend.py
when asked for).
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import time
from typing import TYPE_CHECKING, Any, Protocol

from ..kernel.events import Violation
from ..kernel.state import DONE, Thread
from .footprint import MAX_LOCAL_RUN, Footprint, KernelTracker
from .por import _THREADS, Fingerprinter, m_runnable, restore_changed
from .stepcache import StepCache
from .store import CompactStore
from .symmetry import Canonicaliser
from .user_oracles import build_machine
from .workers import POLL, WorkerLost, _Worker

if TYPE_CHECKING:
    from ..scenario.model import Scenario
    from .explorer import Search, Stats

BATCH = (
    2048  # DFS steps a worker takes per round: rounds stay short (limits, progress, ~0.1 s) but amortise the barrier
)

# An item of a queue: (fingerprint, snapshot, choices as bytes, sleep set {thread: footprint}, sleep mask)
Item = tuple[Any, tuple[Any, ...], bytes, dict[int, Footprint], int]


_T_STATE = Thread.SNAP_FIELDS.index("state")
# How states are given owners: "thread" (by `active_thread`: few states sent) or
# "hash" (by the whole fingerprint: even shares, (N-1)/N of the successors sent).
PARTITION = "thread"


def active_thread(key: tuple[Any, ...]) -> Any:
    """The part of a state that decides its owner: the snapshot of the
    lowest-numbered thread that is not done (None when all are). A step of
    any other thread keeps the owner, so most successors stay with the worker
    that made them and are not sent; the owner is still a function of the
    (canonical) state, so each state has one owner and the states visited are
    those of --jobs 1."""
    for th in key[_THREADS]:
        if th[_T_STATE] != DONE:
            return th
    return None


def owner(key: Any, n: int) -> int:
    """The worker that owns a state: digest bytes 4..7 (CompactStore probes from the low bytes)."""
    if isinstance(key, int):
        return ((key >> 32) & 0xFFFFFFFF) % n
    return int.from_bytes(key[4:8], "little") % n


class Partition:
    """One worker's share of the search: the states it owns, its queue, what it found."""

    def __init__(self, config: dict[str, Any], me: int) -> None:
        sc: Scenario = config["scenario"]
        # Unpickled batches are many new tuples: at the default threshold (700) the
        # collector runs thousands of times a round, about 12% of a worker's CPU here.
        gc.set_threshold(max(gc.get_threshold()[0], 20_000))
        self.me = me
        self.n: int = config["workers"]
        self.m = build_machine(sc)
        canon = Canonicaliser(self.m.snapshot()) if config.get("symmetry") else None
        self.fingerprint = Fingerprinter(
            digest_size=8 if config["compact"] else 16, as_int=config["compact"], canon=canon
        )
        self.by_thread = config.get("partition", "thread") == "thread"
        if self.by_thread:
            self.fingerprint.part = active_thread
        self.tracker = KernelTracker(
            self.m, enabled=config["reduction"] or config["local"], incremental=config["incremental"]
        )
        self.reduce = config["reduction"] and self.tracker.enabled
        self.local = config["local"] and self.tracker.enabled
        self.step_cache = StepCache() if config.get("cache") and self.tracker.enabled else None
        self.visited: Any = CompactStore(len(self.m.threads)) if config["compact"] else {}
        self.queue: list[Item] = []  # states sent here, not yet entered
        self.stack: list[list[Any]] = []  # this worker's depth-first search (_enter)
        self.cur = self.m.snapshot()
        self.counts = {
            "states": 0,
            "transitions": 0,
            "schedules": 0,
            "max_depth": 0,
            "sent": 0,
            "bytes": 0,
            "merged": 0,
        }
        self.found: dict[str, tuple[tuple[int, ...], str, str, str]] = {}
        self.cpu = 0.0  # seconds of CPU spent in rounds

    def round(self, inbox: list[bytes]) -> tuple[list[bytes | None], dict[str, Any]]:
        """Take the batches sent here, expand up to BATCH states; the batches to send and a report."""
        t0 = time.process_time()
        q = self.queue
        for blob in inbox:
            for key, snap, path, sleep, mask in pickle.loads(blob):
                fps = {u: Footprint(acc, w, ra, rw, g, lo) for u, acc, w, ra, rw, g, lo in sleep}
                q.append((key, snap, path, fps, mask))
        out: list[list[Item]] = [[] for _ in range(self.n)]
        new_found: dict[str, tuple[tuple[int, ...], str, str, str]] = {}
        stack = self.stack
        budget = BATCH
        while budget:
            if not stack:
                if not q:
                    break
                budget -= 1
                self._enter(q.pop())
                continue
            node = stack[-1]
            todo = node[1]
            if not todo:
                stack.pop()
                continue
            budget -= 1
            self._child(node, todo.pop(), out, new_found)
        blobs: list[bytes | None] = [None] * self.n
        for k, items in enumerate(out):
            if items:
                # footprints as plain tuples: a third faster to pickle than the objects;
                # the memo shares siblings' common sub-tuples
                wire = [
                    (
                        key,
                        snap,
                        path,
                        tuple((u, f.acc, f.w, f.rcu_all, f.rcu_w, f.glob, f.local) for u, f in sl.items()),
                        mask,
                    )
                    for key, snap, path, sl, mask in items
                ]
                blobs[k] = b = pickle.dumps(wire, 5)
                self.counts["sent"] += len(items)
                self.counts["bytes"] += len(b)
        self.cpu += time.process_time() - t0
        queued = len(q) + sum(len(node[1]) for node in stack)
        return blobs, {**self.counts, "queued": queued, "found": new_found, "cpu": self.cpu}

    def _enter(self, item: Item) -> None:
        """A state that arrived (from another worker or from this one's own
        step): store it, and push it to be expanded unless nothing is new there.

        Each worker runs a depth-first search over the states it owns (a
        state's children are stepped one at a time, the search going down
        into each it owns), so the machine mostly holds the state it steps
        from; the states visited are those of explorer._exhaustive whatever
        the order (Partition's docstring)."""
        key, snap, path, sleep, mask = item
        c = self.counts
        visited = self.visited
        old = visited.get(key)
        if old is None:
            c["states"] += 1
            if len(path) > c["max_depth"]:
                c["max_depth"] = len(path)
            visited[key] = mask
            run = [u for u in m_runnable(snap) if not (mask >> u) & 1]
        elif old & ~mask == 0:
            c["schedules"] += 1  # explored before with no more asleep: nothing new here
            return
        else:  # Godefroid: explore what was asleep then but is awake now
            visited[key] = old & mask
            run = [u for u in m_runnable(snap) if (old >> u) & 1 and not (mask >> u) & 1]
        if not run:
            c["schedules"] += 1
            return
        # [snapshot, threads left to try (reversed), sleep set (grows with the siblings tried), choices]
        self.stack.append([snap, run[::-1], dict(sleep), path])

    def _child(self, node: list[Any], t: int, out: list[list[Item]], new_found: dict[str, Any]) -> None:
        """Step thread t from `node`'s state; the child goes down here or to its owner."""
        snap, todo, sleep, path = node
        child, cpath, fp = self._step(
            snap, path, t, self.local or (self.reduce and (bool(sleep) or bool(todo))), new_found
        )
        child_sleep: dict[int, Footprint] = {}
        cmask = 0
        if fp is not None:
            for u, f in sleep.items():
                if not f.conflicts(fp):
                    child_sleep[u] = f
                    cmask |= 1 << u
            if todo and self.reduce:
                sleep[t] = fp
        fpr = self.fingerprint
        ckey = fpr(child)
        k = fpr.part_hash % self.n if self.by_thread else owner(ckey, self.n)
        if k == self.me:
            self._enter((ckey, child, cpath, child_sleep, cmask))
        else:
            out[k].append((ckey, child, cpath, child_sleep, cmask))

    def _step(
        self, snap: tuple[Any, ...], path: bytes, t: int, track: bool, new_found: dict[str, Any]
    ) -> tuple[Any, ...]:
        """Run thread t from `snap`, or replay it (stepcache.py): (child snapshot, its path, footprint or None)."""
        cache = self.step_cache if track else None
        hit = cache.replay(snap, t) if cache is not None else None
        if hit is not None:
            self.counts["transitions"] += hit[2]
            self.counts["merged"] += hit[2] - 1
            return hit[0], path + bytes((t,)) * hit[2], hit[1]
        m = self.m
        if self.cur is not snap:
            restore_changed(m, self.cur, snap)
        nrep = len(m.reported)
        fp: Footprint | None = None
        if track:
            events, child, fp = self.tracker.step(snap, t)
        else:
            events = m.step(t)
            child = m.snapshot()
        self.counts["transitions"] += 1
        cpath = path + bytes((t,))
        self._note(m, nrep, events, cpath, new_found)
        steps = 1
        while self.local and fp is not None and fp.local:  # explorer.merge_local: the same transitions
            nrep = len(m.reported)
            events, child, fp = self.tracker.step(child, t)
            cpath += bytes((t,))
            self.counts["transitions"] += 1
            self.counts["merged"] += 1
            self._note(m, nrep, events, cpath, new_found)
            steps += 1
            if steps > MAX_LOCAL_RUN:
                raise RuntimeError(f"thread {t} took {MAX_LOCAL_RUN} thread-local steps in a row")
        if cache is not None:
            cache.learn(snap, t, child, fp, steps)
        self.cur = child
        return child, cpath, fp

    def _note(self, m: Any, nrep: int, events: list[Any], cpath: bytes, new_found: dict[str, Any]) -> None:
        if len(m.reported) != nrep:
            for e in events:
                if isinstance(e, Violation) and e.oracle not in self.found:
                    self.found[e.oracle] = new_found[e.oracle] = (tuple(cpath), e.thread, e.detail, m.last_label)

    SAVED = ("visited", "queue", "stack", "counts", "found", "cpu")  # what a checkpoint keeps of it

    def state(self) -> dict[str, Any]:
        """Everything this partition knows, between two rounds (a checkpoint's part: resume.py)."""
        return {name: getattr(self, name) for name in self.SAVED}

    def load(self, state: dict[str, Any]) -> None:
        """Go on from `state` (a `state()` of the same partition of the same search)."""
        for name in self.SAVED:
            setattr(self, name, state[name])

    def figures(self) -> dict[str, Any]:
        """The store's size, for bytes per state."""
        import sys

        v = self.visited
        if isinstance(v, CompactStore):
            size = v.nbytes()
        else:
            size = sys.getsizeof(v) + sum(sys.getsizeof(k) for k in v)
        cache = self.step_cache.figures() if self.step_cache is not None else None
        return {"stored": len(v), "store_bytes": size, "step_cache": cache}


# ------------------------------------------------------------- worker side
_PART: list[Partition | None] = [None]
_CONFIG: list[dict[str, Any] | None] = [None]


def _setup(config: dict[str, Any]) -> None:
    _CONFIG[0] = config


def serve(payload: tuple[Any, ...]) -> Any:
    """A worker's task: ("start", k), ("round", inbox), ("state",), ("load", state) or ("figures",)."""
    what = payload[0]
    if what == "start":
        config = _CONFIG[0]
        assert config is not None
        _PART[0] = Partition(config, payload[1])
        return os.getpid()
    part = _PART[0]
    assert part is not None, "a round before start"
    if what == "round":
        return part.round(payload[1])
    if what == "state":
        return part.state()
    if what == "load":
        return part.load(payload[1])
    return part.figures()


class Backend(Protocol):
    """Where the partitions run: `call` gives worker k payloads[k] and returns their answers in order."""

    name: str
    size: int  # workers

    def call(self, payloads: list[Any]) -> list[Any]: ...

    def settle(self) -> None:
        """After a `call` cut by Ctrl-C: take (and drop) the answers still owed, so the next call is answered."""

    def close(self) -> None: ...


class Processes:
    """N supervised worker processes (workers._Worker), alive for the whole search."""

    name = "processes"

    def __init__(self, config: dict[str, Any], n: int) -> None:
        import multiprocessing
        import threading

        # fork costs ~10 ms a worker, spawn ~0.15 s of imports; fork is safe only while
        # this process has one thread (not under the TUI's worker threads)
        single = threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if single else "spawn")
        self.workers: list[_Worker] = []
        self.size = n
        self.owed: set[int] = set()  # the workers whose answer to the last call is not in yet
        try:
            for _ in range(n):
                self.workers.append(_Worker(ctx, serve, _setup, config))
            self.call([("start", k) for k in range(n)])
        except BaseException:
            self.close()
            raise

    def call(self, payloads: list[Any]) -> list[Any]:
        from multiprocessing.connection import wait

        for k, (w, p) in enumerate(zip(self.workers, payloads, strict=True)):
            self.owed.add(k)
            w.give(k, p)
        answers: dict[int, Any] = {}
        while len(answers) < len(self.workers):
            waiting = [w for k, w in enumerate(self.workers) if k not in answers]
            ready = wait([w.conn for w in waiting] + [w.proc.sentinel for w in waiting], POLL)
            for w in waiting:
                k = self.workers.index(w)
                if w.conn in ready or w.proc.sentinel in ready:
                    try:
                        if w.conn.poll():
                            status, _, value = w.conn.recv()
                            self.owed.discard(k)
                            if status == "error":
                                raise value
                            answers[k] = value
                            continue
                    except (EOFError, OSError):
                        pass
                    if w.proc.sentinel in ready or not w.proc.is_alive():
                        raise WorkerLost(
                            f"worker process {w.proc.pid} {w.how_it_ended()} while expanding partition {k + 1} of "
                            f"{len(self.workers)}; the states it owned are lost, so the search stops"
                        )
        return [answers[k] for k in range(len(self.workers))]

    def settle(self) -> None:
        """The workers ignore SIGINT and finish their round (a bounded batch): wait for those answers."""
        from multiprocessing.connection import wait

        while self.owed:
            owing = sorted(self.owed)
            ws = [self.workers[k] for k in owing]
            ready = wait([w.conn for w in ws] + [w.proc.sentinel for w in ws], POLL)
            for k, w in zip(owing, ws, strict=True):
                if w.conn in ready or w.proc.sentinel in ready:
                    try:
                        if w.conn.poll():
                            w.conn.recv()
                            self.owed.discard(k)
                            continue
                    except (EOFError, OSError):
                        pass
                    if not w.proc.is_alive():
                        raise WorkerLost(f"worker process {w.proc.pid} {w.how_it_ended()}")

    def close(self) -> None:
        for w in self.workers:
            try:
                w.conn.send(None)  # the worker's loop returns: a clean exit
            except OSError:
                pass
        end = time.monotonic() + 2.0
        for w in self.workers:
            w.proc.join(max(0.0, end - time.monotonic()))
            if w.proc.is_alive():
                os.kill(w.proc.pid, signal.SIGKILL)
            w.kill()  # joins
        self.workers = []


# ------------------------------------------------------------- the driver
def partitioned(
    s: Search,
    stats: Stats,
    first: bool = False,
    *,
    jobs: int = 2,
    ray: str | None = None,
    stop: type[Exception],
    partition: str | None = None,
) -> None:
    """The exhaustive search of `s` split across `jobs` processes, or over Ray
    (`ray`: an address or "local"); fills `stats` and `s.found` like
    `explorer.exhaustive` and raises `stop` (explorer.Stop) at a limit."""
    config = {
        "scenario": s.sc,
        "workers": jobs,
        "reduction": s.reduction,
        "local": s.local,
        "compact": s.compact,
        "symmetry": s.symmetry,
        "incremental": s.tracker.incremental,
        "cache": s.step_cache is not None,
        "partition": partition or PARTITION,
    }
    backend: Backend
    if ray is not None:
        from .ray_backend import RayBackend

        backend = RayBackend(Partition, config, jobs, ray)
        jobs = backend.size
    else:
        backend = Processes(config, jobs)
    by_thread = config["partition"] == "thread"
    s.fingerprint.part = active_thread if by_thread else None
    key0 = s.fingerprint(s.snap0)
    s.fingerprint.part = None
    inbox: list[list[bytes]] = [[] for _ in range(jobs)]
    inbox[s.fingerprint.part_hash % jobs if by_thread else owner(key0, jobs)].append(
        pickle.dumps([(key0, s.snap0, b"", (), 0)], 5)
    )
    rounds = 0
    sent = 0
    reports: list[dict[str, Any]] = []
    cpu = [0.0] * jobs
    critical = 0.0  # the sum over rounds of the busiest worker's CPU: the wall time on idle cores
    try:
        r = s.resumed
        if r is not None:  # a checkpoint of this search split as many ways (explorer.explore checked)
            s.resumed = None
            backend.call([("load", part) for part in r["partitions"]])
            inbox, rounds, critical = r["inbox"], r["rounds"], r["critical"]
            cpu = [part["cpu"] for part in r["partitions"]]

        def saver() -> dict[str, Any]:
            """The whole search between two rounds: each partition, and the batches in flight."""
            return {
                "partitions": backend.call([("state",)] * jobs), "inbox": inbox, "rounds": rounds,
                "critical": critical, "found": s.found, "found_seconds": s.found_seconds,
            }  # fmt: skip

        s.saver = saver
        stopped: BaseException | None = None  # the Stop (or Ctrl-C) to raise once the workers' figures are in
        try:
            while True:
                answers = backend.call([("round", box) for box in inbox])
                rounds += 1
                inbox = [[] for _ in range(jobs)]
                for blobs, _ in answers:
                    for k, b in enumerate(blobs):
                        if b is not None:
                            inbox[k].append(b)
                reports = [r for _, r in answers]
                critical += max(r["cpu"] - c for r, c in zip(reports, cpu, strict=True))
                cpu = [r["cpu"] for r in reports]
                stats.states = sum(r["states"] for r in reports)
                stats.transitions = sum(r["transitions"] for r in reports)
                stats.schedules = sum(r["schedules"] for r in reports)
                stats.max_depth = max(r["max_depth"] for r in reports)
                stats.merged = sum(r["merged"] for r in reports)
                sent = sum(r["sent"] for r in reports)
                for r in reports:
                    for kind, (choices, thread, detail, label) in r["found"].items():
                        if kind not in s.found:
                            s.found[kind] = (choices, None, thread, detail, label)
                            s.found_seconds[kind] = s.elapsed()
                            if s.on_found is not None:
                                s.on_found(kind, s.phase, s.found_seconds[kind])
                if first and s.found:
                    stopped = stop("found")
                    break
                queued = sum(r["queued"] for r in reports)
                if not queued and not any(inbox):
                    break
                if stats.states >= s.max_states:
                    s.save()
                    stopped = stop("max-states")
                    break
                try:
                    s.check(stats, stats.max_depth, queued + sum(len(b) for b in inbox))
                except stop as e:  # a timeout or a cancel
                    stopped = e
                    break
        except KeyboardInterrupt as e:  # (the workers ignore SIGINT: the figures are still to be had, as at a timeout)
            stopped = e
            backend.settle()
        figures = backend.call([("figures",)] * jobs)
        s.visited = _Figures(figures)
        caches = [f["step_cache"] for f in figures if f.get("step_cache") is not None]
        if caches:  # (the workers' caches: the driver's own is not used)
            s.extra["step_cache"] = {k: sum(c[k] for c in caches) for k in caches[0]}
        nbytes = sum(r["bytes"] for r in reports)
        s.notes.append(
            f"one search split across {jobs} {'Ray workers' if ray is not None else 'processes'}: {rounds} rounds, "
            f"{sent:,} states sent between workers ({nbytes / max(sent, 1):,.0f} bytes each)"
        )
        if stopped is not None:
            raise stopped
    finally:
        s.saver = None
        backend.close()
        s.extra["parallel"] = {
            "backend": backend.name,
            "workers": jobs,
            "rounds": rounds,
            "states_sent": sent,
            "bytes_sent": sum(r["bytes"] for r in reports),
            "states_per_worker": [r["states"] for r in reports],
            "cpu_per_worker": [round(c, 3) for c in cpu],
            "critical_path_cpu": round(critical, 3),
        }


class _Figures:
    """The workers' stores seen as one, for explorer.store_figures."""

    def __init__(self, figures: list[dict[str, Any]]) -> None:
        self._n = sum(f["stored"] for f in figures)
        self._bytes = sum(f["store_bytes"] for f in figures)

    def __len__(self) -> int:
        return int(self._n)

    def nbytes(self) -> int:
        return int(self._bytes)
