"""The headless engine: scheduling strategies, the Session (trace, rewind,
branches), breakpoints and their expression language, and the explorer."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# What the package offers, and the module each name lives in: imported on
# first use, so `spftui explore` does not load the debugger's modules (and
# the debugger not the explorer's).
_WHERE = {
    "all_labels": "..kernel",
    "Breakpoint": ".breakpoints",
    "BreakpointSet": ".breakpoints",
    "Fixed": ".schedule",
    "Replay": ".schedule",
    "RoundRobin": ".schedule",
    "SeededRandom": ".schedule",
    "Strategy": ".schedule",
    "Session": ".session",
    "SessionError": ".session",
    "Status": ".session",
    "StepInfo": ".session",
    "StopReason": ".session",
    "Branch": ".timeline",
    "Cursor": ".timeline",
    "Mark": ".timeline",
    "StepRecord": ".timeline",
    "Timeline": ".timeline",
    "explore": ".explorer",
    "Result": ".narrate",
    "Counterexample": ".narrate",
}

if TYPE_CHECKING:
    from ..kernel import all_labels
    from .breakpoints import Breakpoint, BreakpointSet
    from .explorer import explore
    from .narrate import Counterexample, Result
    from .schedule import Fixed, Replay, RoundRobin, SeededRandom, Strategy
    from .session import Session, SessionError, Status, StepInfo, StopReason
    from .timeline import Branch, Cursor, Mark, StepRecord, Timeline


def __getattr__(name: str) -> object:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "Branch",
    "Breakpoint",
    "BreakpointSet",
    "Counterexample",
    "Cursor",
    "Fixed",
    "Mark",
    "Replay",
    "Result",
    "RoundRobin",
    "SeededRandom",
    "Session",
    "SessionError",
    "Status",
    "StepInfo",
    "StepRecord",
    "StopReason",
    "Strategy",
    "Timeline",
    "all_labels",
    "explore",
]
