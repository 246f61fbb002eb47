"""The colours the panes share: one place, so the panes agree.

Tuned for Textual's dark themes. Thread colours are stable per thread index,
so A1 is the same colour in the threads pane, the source gutter and the
timeline.
"""

from __future__ import annotations

from rich.style import Style

THREAD_COLOURS = (
    "#5fd7ff",
    "#afd75f",
    "#d7afff",
    "#ffd75f",
    "#ff87af",
    "#5fffd7",
    "#ffaf5f",
    "#87afff",
    "#d7d787",
)

DIM = Style(color="grey50")
FAINT = Style(color="grey35")
LABEL = Style(color="grey62")
VALUE = Style(color="#e4e4e4")
ADDR = Style(color="#87d7ff")
FUNC = Style(color="#d7af87", bold=True)
POINT = Style(color="#e4e4e4")
DOC = Style(color="grey58", italic=True)

CHANGED = Style(color="#ffff87", bgcolor="#3a3a00", bold=True)
"""A value the last step changed."""
WAS = Style(color="#af8700")
"""The value before the last step."""
RAN = Style(color="black", bgcolor="#ffd75f", bold=True)
"""The thread that ran the last step."""

RUNNABLE = Style(color="#87d787")
BLOCKED = Style(color="#ff875f", bold=True)
DONE = Style(color="grey50")

ABORT = Style(color="#ffaf00", bold=True)
PASSED = Style(color="#87d787")
"""A validation that passed."""
FAILED = Style(color="#ffaf00")
"""A validation that failed (the fault aborts or retries)."""
ABA = Style(color="black", bgcolor="#ff87d7", bold=True)
"""A validation that passed by ABA: it compared an object that changed and changed back."""
ABA_TEXT = Style(color="#ff87d7", bold=True)
HIT = Style(color="black", bgcolor="#d7d75f")
"""A search hit."""
VIOLATION = Style(color="#ff5f5f", bold=True)
BRANCH = Style(color="#d7afff", bold=True)
BREAKPOINT = Style(color="#ff5f5f", bold=True)
BREAKPOINT_OFF = Style(color="grey50")
SAME = Style(color="#87d787")
STALE = Style(color="#ff5f5f", bold=True)
ODD = Style(color="#ffaf00", bold=True)
"""A sequence count that is odd: a writer is inside."""
FUTURE = Style(color="grey46", italic=True)
"""A recorded step that lies ahead of the current position."""
HERE = Style(color="black", bgcolor="#5fafff", bold=True)
"""The current position in the timeline."""


def thread_style(index: int) -> Style:
    """The colour of thread `index`."""
    return Style(color=THREAD_COLOURS[index % len(THREAD_COLOURS)], bold=True)
