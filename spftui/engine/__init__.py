"""The headless engine: scheduling strategies, the Session (trace, rewind,
branches), breakpoints and their expression language, and the explorer."""

from ..kernel import all_labels
from .breakpoints import Breakpoint, BreakpointSet
from .schedule import Fixed, Replay, RoundRobin, SeededRandom, Strategy
from .session import Branch, Mark, Session, SessionError, StepInfo, StopReason


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
    "Fixed",
    "Mark",
    "Replay",
    "Result",
    "RoundRobin",
    "SeededRandom",
    "Session",
    "SessionError",
    "StepInfo",
    "StopReason",
    "Strategy",
    "all_labels",
    "explore",
]
