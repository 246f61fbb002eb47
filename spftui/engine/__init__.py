"""The headless engine: scheduling strategies, the Session (trace, rewind,
branches), breakpoints and their expression language, and the explorer."""

from .breakpoints import Breakpoint, BreakpointSet
from .schedule import Fixed, Replay, RoundRobin, SeededRandom, Strategy
from .session import Branch, Mark, Session, SessionError, StepInfo, StopReason

__all__ = [
    "Branch",
    "Breakpoint",
    "BreakpointSet",
    "Fixed",
    "Mark",
    "Replay",
    "RoundRobin",
    "SeededRandom",
    "Session",
    "SessionError",
    "StepInfo",
    "StopReason",
    "Strategy",
]
