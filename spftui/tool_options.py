"""Small pieces the commands share: option types (argparse reports their errors, exit 2) and prose that fits the terminal."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import textwrap
from collections.abc import Callable, Iterator
from typing import Any


def count(text: str) -> int:
    """A positive integer option (argparse reports the error and exits 2)."""
    return _at_least(text, 1, "a positive integer")


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the system has one)."""
    import os

    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def max_jobs() -> int:
    """The most worker processes `--jobs` starts here: 4 per usable CPU, at least 8. More only
    share the same CPUs (each process also holds its own copy of the engine and its states:
    1,000 took about 5 GB and minutes to start)."""
    return max(8, 4 * usable_cpus())


def jobs_problem(n: int) -> str | None:
    """Why `--jobs n` is refused here (None: it is not)."""
    most = max_jobs()
    if n <= most:
        return None
    cpus = usable_cpus()
    return (
        f"expected at most {most} worker processes (4 per CPU this process may use, at least 8; "
        f"{cpus} CPU{'s' if cpus != 1 else ''} here), found {n}: more would only share the same CPUs and memory"
    )


def jobs(text: str) -> int:
    """A --jobs option: a positive integer, at most `max_jobs()` (argparse reports the error, exit 2)."""
    n = count(text)
    why = jobs_problem(n)
    if why is not None:
        raise argparse.ArgumentTypeError(why)
    return n


JOBS_HELP = "at most 4 per usable CPU (at least 8): more is refused"


def step_number(text: str) -> int:
    """A step of a run: 0 (the start) or more."""
    return _at_least(text, 0, "a step number (0: the start)")


def seed(text: str) -> int:
    """A seed of random schedules or scenarios: 0 or more (as explore takes them)."""
    return _at_least(text, 0, "a seed (0 or more)")


def _at_least(text: str, least: int, what: str) -> int:
    try:
        n = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, found {text!r}") from None
    if n < least:
        raise argparse.ArgumentTypeError(f"expected {what}, found {n}")
    return n


def seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, found {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, found {text}")
    return value


def wrapped(text: str, indent: str = "", hang: str = "  ") -> None:
    """Print prose wrapped to a terminal's width (COLUMNS, else the terminal's), and whole
    lines into a pipe or file (as check and trace print): a reader that greps should find
    a sentence on one line. `indent` starts the first line, `hang` the ones it wraps onto.
    File paths are printed whole, on their own lines, by the callers."""
    if not sys.stdout.isatty():
        print(indent + text)
        return
    width = max(40, shutil.get_terminal_size().columns)
    print(textwrap.fill(text, width, initial_indent=indent, subsequent_indent=hang, break_on_hyphens=False))


@contextlib.contextmanager
def soft_interrupt(enabled: bool = True) -> Iterator[Callable[[], bool]]:
    """The first Ctrl-C asks the run to stop at its next safe point (the callable
    it yields says whether it was asked), so what it has is whole; a second one
    interrupts at once. Off (never asked) when not `enabled` or not on the main
    thread, where Ctrl-C is not ours to catch."""
    asked = [False]

    def on_sigint(signum: int, frame: Any) -> None:
        if asked[0]:
            raise KeyboardInterrupt
        asked[0] = True

    try:
        old = signal.signal(signal.SIGINT, on_sigint) if enabled else None
    except ValueError:
        old = None
    if old is None:
        yield lambda: False
        return
    try:
        yield lambda: asked[0]
    finally:
        signal.signal(signal.SIGINT, old)


@contextlib.contextmanager
def held_interrupts() -> Iterator[Callable[[], bool]]:
    """Ctrl-C (and SIGTERM) wait until the block ends, so that a file being written is
    written whole and kept; the callable it yields says whether one came (the caller then
    stops as it would have). Nothing is held off the main thread, where signals are not ours."""
    came = [False]

    def hold(signum: int, frame: Any) -> None:
        came[0] = True

    try:
        old = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:
        yield lambda: False
        return
    try:
        yield lambda: came[0]
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
