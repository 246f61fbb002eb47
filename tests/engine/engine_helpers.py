"""Helpers shared by the engine's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any


def stop_after(polls: int) -> Callable[[], bool]:
    """A `cancelled` callable that says stop from its (polls + 1)-th call on: a search
    interrupted after a fixed amount of work, whatever the machine's speed."""
    n = [0]

    def cancelled() -> bool:
        n[0] += 1
        return n[0] > polls

    return cancelled


class HandMadeTimeline:
    """Recorded steps written by hand, (thread, label, events) each: what the history's
    readers (`derived_events`, `Derivation`, an `aba` breakpoint) take from a Timeline.
    `epoch` stands for the one a cut bumps."""

    def __init__(self, steps: list[tuple[str, str, list[Any]]], epoch: int = 0) -> None:
        self.steps, self.epoch = steps, epoch
        self.names = sorted({t for t, _, _ in steps})

    def __len__(self) -> int:
        return len(self.steps)

    def thread_at(self, pos: int) -> int:
        return self.names.index(self.steps[pos][0])

    def label_at(self, pos: int) -> str:
        return self.steps[pos][1]

    def replay(self, start: int, end: int) -> Iterator[tuple[int, None, tuple[Any, ...]]]:
        for pos in range(start, min(end, len(self.steps))):
            yield pos, None, tuple(self.steps[pos][2])
