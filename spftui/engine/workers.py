"""Supervised worker processes for `--jobs`: nothing hangs, nothing is orphaned.

`run_tasks` runs fn(payload) for every payload in `jobs` spawned processes
that it watches itself (one pipe and one process sentinel per worker):

- a worker that dies (kill -9, the OOM killer) is reported through `notice`
  and its task runs once more in a fresh worker; if that one dies too,
  `WorkerLost` ends the run with a clear message. Never a hang.
- Ctrl-C (KeyboardInterrupt in the parent, which SIGTERM also raises under
  the CLI) or `cancelled()` stops the run: busy workers get SIGTERM, which
  they turn into `stop_requested()` — the explorer polls that and returns
  what it decided so far — and have GRACE seconds to send that partial
  result; then every worker is killed. The results finished so far are
  returned either way.
- Workers ignore SIGINT (the parent decides) and exit by themselves when the
  parent is gone (a watchdog thread), so a killed parent leaves no orphans.

Standard library only.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

GRACE = 2.0  # seconds a stopped worker has to send its partial result
POLL = 0.1

_STOP = [False]


class WorkerLost(Exception):
    """A worker died twice on the same task."""


def stop_requested() -> bool:
    """True in a worker the parent asked to stop (pass it as `cancelled`)."""
    return _STOP[0]


def _on_term(signum: int, frame: Any) -> None:
    _STOP[0] = True


def _watch_parent(ppid: int) -> None:
    while True:
        time.sleep(0.2)
        if os.getppid() != ppid:
            os._exit(1)  # the parent is gone: nobody will read what this worker finds


def _serve(conn: Any, fn: Callable[[Any], Any], init: Callable[[Any], None] | None, shared: Any, ppid: int) -> None:
    """A worker's main loop: (index, payload) in, (status, index, value) out."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_term)
    threading.Thread(target=_watch_parent, args=(ppid,), daemon=True).start()
    if init is not None:
        init(shared)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        i, payload = msg
        _STOP[0] = False  # a stop request applies to the task it interrupted
        try:
            out: tuple[str, int, Any] = ("ok", i, fn(payload))
        except BaseException as e:  # sent to the parent, which re-raises it
            out = ("error", i, e)
        try:
            conn.send(out)
        except (EOFError, OSError):
            return
        except Exception as e:  # an unpicklable result or exception
            conn.send(("error", i, RuntimeError(f"{type(e).__name__}: {e}")))


class _Worker:
    def __init__(self, ctx: Any, fn: Callable[[Any], Any], init: Callable[[Any], None] | None, shared: Any) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, fn, init, shared, os.getpid()), daemon=True)
        self.proc.start()
        child.close()
        self.task: int | None = None
        self.stopping = False

    def give(self, i: int, payload: Any) -> None:
        self.task = i  # first: if the worker is dead, its sentinel brings the task back
        try:
            self.conn.send((i, payload))
        except OSError:
            pass

    def how_it_ended(self) -> str:
        self.proc.join(1)
        code = self.proc.exitcode
        if code is None:
            return "stopped answering"
        if code < 0:
            try:
                return f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"was killed by signal {-code}"
        return f"exited with status {code}"

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()


def _default_notice(text: str) -> None:
    import sys

    print(f"spftui: warning: {text}", file=sys.stderr, flush=True)


def run_tasks(
    fn: Callable[[Any], Any],
    payloads: list[Any],
    jobs: int,
    *,
    on_result: Callable[[int, Any], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    init: Callable[[Any], None] | None = None,
    shared: Any = None,
    describe: Callable[[Any], str] | None = None,
    notice: Callable[[str], None] = _default_notice,
) -> tuple[dict[int, Any], bool]:
    """fn over payloads in `jobs` supervised processes (module docstring);
    `init(shared)` runs once in each worker. `fn` and `init` must be
    module-level functions (they are pickled); `describe` names a payload in messages. Returns ({index: result} for what
    finished, whether the run was stopped early)."""
    import multiprocessing
    from multiprocessing.connection import wait

    ctx = multiprocessing.get_context("spawn")  # safe from threaded callers (the TUI)
    todo = deque(range(len(payloads)))
    retried: set[int] = set()
    done: dict[int, Any] = {}
    workers: list[_Worker] = []
    stopped = False

    def what(i: int) -> str:
        return describe(payloads[i]) if describe is not None else f"task {i + 1} of {len(payloads)}"

    def settle(w: _Worker, msg: tuple[str, int, Any]) -> None:
        status, i, value = msg
        w.task = None
        if status == "error":
            raise value
        done[i] = value
        if on_result is not None:
            on_result(i, value)

    def read(w: _Worker) -> bool:
        """Take a message from w if there is one; False when w is gone."""
        try:
            if w.conn.poll():
                settle(w, w.conn.recv())
            return True
        except (EOFError, OSError):
            return False

    try:
        try:
            for _ in range(min(jobs, len(payloads))):  # (starting takes time: a deadline may pass meanwhile)
                if cancelled is not None and cancelled():
                    stopped = True
                    break
                workers.append(_Worker(ctx, fn, init, shared))
            while not stopped and (todo or any(w.task is not None for w in workers)):
                for w in workers:
                    if w.task is None and todo:
                        i = todo.popleft()
                        w.give(i, payloads[i])
                ready = wait([w.conn for w in workers] + [w.proc.sentinel for w in workers], POLL)
                for k, w in enumerate(workers):
                    alive = read(w) if w.conn in ready else True
                    if alive and w.proc.sentinel not in ready:
                        continue
                    alive = alive and read(w)  # a result sent just before the end
                    lost, how = w.task, w.how_it_ended()
                    w.kill()
                    if lost is not None:
                        if lost in retried:
                            raise WorkerLost(
                                f"a worker process {how} while running {what(lost)}, twice; stopping the run"
                            )
                        retried.add(lost)
                        todo.appendleft(lost)
                        notice(f"worker process {w.proc.pid} {how} while running {what(lost)}; running it again")
                    workers[k] = _Worker(ctx, fn, init, shared) if todo else w
                workers = [w for w in workers if w.proc.exitcode is None]
                if cancelled is not None and cancelled():
                    stopped = True
                    break
        except KeyboardInterrupt:
            stopped = True
        if stopped:
            _wind_down(workers, read)
    finally:
        for w in workers:
            w.kill()
    return done, stopped


def _wind_down(workers: list[_Worker], read: Callable[[_Worker], bool]) -> None:
    """Ask busy workers to stop and collect their partial results for up to GRACE seconds."""
    from multiprocessing.connection import wait

    busy = [w for w in workers if w.task is not None and w.proc.exitcode is None]
    for w in busy:
        try:
            os.kill(w.proc.pid, signal.SIGTERM)
        except OSError:
            pass
    end = time.monotonic() + GRACE
    try:
        while busy and time.monotonic() < end:
            wait([w.conn for w in busy], max(0.0, end - time.monotonic()))
            busy = [w for w in busy if read(w) and w.task is not None]
    except KeyboardInterrupt:  # a second Ctrl-C: no more waiting
        pass


# ------------------------------------------------------------- one call for every search
SHARED: list[Any] = [None]  # what every task of the current search shares (set once per process)


def _set_shared(shared: Any) -> None:
    SHARED[0] = shared


def pool_map(
    fn: Callable[[Any], Any],
    payloads: list[Any],
    jobs: int,
    on_result: Callable[[int, Any], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    shared: Any = None,
    describe: Callable[[Any], str] | None = None,
) -> dict[int, Any]:
    """fn over payloads, in this process (`jobs` ≤ 1) or in `jobs` supervised ones
    (`run_tasks`); `shared` is sent once per process (as `SHARED[0]`), not with
    every payload.

    Returns {payload index: result} for what finished, partial results of the
    searches that were running included; stops early on Ctrl-C or when
    `cancelled()` turns true. Raises WorkerLost when a task's worker died twice.
    """
    done: dict[int, Any] = {}
    if jobs <= 1 or len(payloads) <= 1:
        SHARED[0] = shared
        for i, p in enumerate(payloads):
            if cancelled is not None and cancelled():
                break
            try:
                done[i] = fn(p)
            except KeyboardInterrupt:
                break
            if on_result is not None:
                on_result(i, done[i])
        return done
    done, _ = run_tasks(
        fn, payloads, jobs, on_result=on_result, cancelled=cancelled, init=_set_shared, shared=shared,
        describe=describe,
    )  # fmt: skip
    return done
