"""Small pieces the commands share: option types (argparse reports their errors, exit 2) and 80-column prose."""

from __future__ import annotations

import argparse
import contextlib
import signal
import textwrap
from collections.abc import Callable, Iterator
from typing import Any


def count(text: str) -> int:
    """A positive integer option (argparse reports the error and exits 2)."""
    return _at_least(text, 1, "a positive integer")


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


def wrapped(text: str) -> None:
    """Print prose at 80 columns (file paths are printed whole, on their own lines)."""
    print(textwrap.fill(text, 80, subsequent_indent="  ", break_on_hyphens=False))


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
