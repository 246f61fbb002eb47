"""The headless engine: scheduling strategies, the Session (trace, rewind,
branches), breakpoints and their expression language, and the explorer."""

from ..kernel import all_labels
from .breakpoints import Breakpoint, BreakpointSet
from .schedule import Fixed, Replay, RoundRobin, SeededRandom, Strategy
from .session import Session, SessionError, Status, StepInfo, StopReason
from .timeline import Branch, Cursor, Mark, StepRecord, Timeline


def __getattr__(name: str) -> object:
    """The explorer's API, imported on first use (it is not needed to debug)."""
    if name == "explore":
        from .explorer import explore

        return explore
    if name in ("Result", "Counterexample"):
        from . import narrate

        return getattr(narrate, name)
    raise AttributeError(name)


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
