"""The registry of named steps.

A step label is `function:point` (e.g. `wp_page_copy:copy`). Each path
module registers its steps with `@step(label)`; the docstring becomes the
step's description in the source pane. `PATHS` lists each function's steps
in source order, for the source pane and for label validation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .machine import Machine
    from .state import Thread

StepFn = Callable[["Machine", "Thread"], None]

STEPS: dict[str, StepFn] = {}
DOCS: dict[str, str] = {}
PATHS: dict[str, list[str]] = {}


def step(label: str) -> Callable[[StepFn], StepFn]:
    def register(fn: StepFn) -> StepFn:
        if label in STEPS:
            raise ValueError(f"duplicate step label {label}")
        STEPS[label] = fn
        DOCS[label] = (fn.__doc__ or "").strip()
        PATHS.setdefault(label.split(":", 1)[0], []).append(label)
        return fn

    return register
