"""Small pieces the diff / coverage / shrink / fuzz commands share: option types and 80-column prose."""

from __future__ import annotations

import argparse
import textwrap


def count(text: str) -> int:
    """A positive integer option (argparse reports the error and exits 2)."""
    try:
        n = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {n}")
    return n


def step_number(text: str) -> int:
    """A step of a run: 0 (the start) or more."""
    try:
        n = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a step number, found {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a step number (0: the start), found {n}")
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
