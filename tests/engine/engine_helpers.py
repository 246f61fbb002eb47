"""Helpers shared by the engine's tests."""

from __future__ import annotations

from collections.abc import Callable


def stop_after(polls: int) -> Callable[[], bool]:
    """A `cancelled` callable that says stop from its (polls + 1)-th call on: a search
    interrupted after a fixed amount of work, whatever the machine's speed."""
    n = [0]

    def cancelled() -> bool:
        n[0] += 1
        return n[0] > polls

    return cancelled
