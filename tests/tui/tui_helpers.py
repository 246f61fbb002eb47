"""Shared helpers for the TUI tests (imported by module name: no conftest clash).

`press` sends each key through the same path a terminal key takes (posted
to the app, which checks its bindings and forwards it to the focused widget)
and then waits for the app, the current screen and the focused widget to
handle it, and for any background run it started. It is ~10x faster than
`Pilot.press`, whose per-key idle detection sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from textual import events
from textual.app import App
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input
from textual.worker import Worker, WorkerError, WorkerState

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "scenarios" / "cow_lost_write.toml"

CHARS = {"space": " ", "enter": "\r", "tab": "\t", "question_mark": "?", "plus": "+", "minus": "-"}


def post_key(app: App[object], key: str) -> None:
    """Queue one key press as the terminal driver does (its `send_message` posts to the app)."""
    char = key if len(key) == 1 else CHARS.get(key)
    event = events.Key(key, char)
    event.set_sender(app)
    app.post_message(event)


def post_click(app: App[object], x: int, y: int, chain: int = 1) -> None:
    """Queue a click at screen cell (x, y) as the driver does: down and up; the app makes the Click."""
    for _ in range(chain):  # a double click: two presses at the same place, within the app's threshold
        for cls in (events.MouseDown, events.MouseUp):
            event = cls(None, x, y, 0, 0, 1, False, False, False, screen_x=x, screen_y=y)
            event.set_sender(app)
            app.post_message(event)


def run_workers(app: App[object]) -> list[Worker[object]]:
    """The debugger's background runs in flight (other widgets' workers, e.g. the picker's tree, live on)."""
    return [w for w in app.workers if w.group == "run" and w.state in (WorkerState.PENDING, WorkerState.RUNNING)]


async def drain(app: App[object], timeout: float = 1.0) -> None:
    """Let the app, its current screen and the focused widget handle what is queued."""
    for _ in range(2):
        for target in (app, app.screen, app.focused or app.screen, app):
            done = asyncio.Event()
            if not target.call_later(done.set):
                continue
            try:
                await asyncio.wait_for(done.wait(), timeout)
            except TimeoutError:
                pass  # that node went away with the callback queued


async def settle(pilot: Pilot) -> None:  # type: ignore[type-arg]
    """Let a background run (`c`, `C`) finish and every message be handled.

    Only the debugger's own run worker is waited for: some widgets (the
    picker's directory tree) keep a worker alive for as long as they exist.
    """
    app = pilot.app
    await drain(app)
    for _ in range(100):
        runs = run_workers(app)
        if not runs and not getattr(app.screen, "busy", None):
            break
        for worker in runs:
            try:
                await asyncio.wait_for(worker.wait(), 60)
            except WorkerError:
                pass  # failed or cancelled (the screen reports it), or still pending (drained below)
        await drain(app, 0.2)
    await drain(app)


async def press(pilot: Pilot, *keys: str) -> None:  # type: ignore[type-arg]
    """Press keys one at a time, waiting after each for everything it started."""
    for key in keys:
        post_key(pilot.app, key)
        await settle(pilot)


async def type_text(pilot: Pilot, text: str) -> None:  # type: ignore[type-arg]
    """Type `text` into the focused input as a terminal paste does (one edit, one render:
    key by key costs a render a key); key by key into anything else."""
    app = pilot.app
    if isinstance(app.focused, Input):
        event = events.Paste(text)
        event.set_sender(app)
        app.post_message(event)
        await settle(pilot)
    else:
        await press(pilot, *text)


def screen_text(pilot: Pilot) -> str:  # type: ignore[type-arg]
    """The current screen as plain text (what a user sees).

    Textual 8.2.8 has no public way to read the composed screen as text
    (`export_screenshot` gives SVG), so this reads the screen's compositor.
    """
    strips = pilot.app.screen._compositor.render_strips()  # type: ignore[attr-defined]
    return "\n".join(strip.text for strip in strips)


async def screen_once(pilot: Pilot, predicate: Callable[[str], bool], tries: int = 50) -> str:  # type: ignore[type-arg]
    """The screen's words (single-spaced) once `predicate` holds of them, or after `tries` refreshes.

    A layout change (zoom, a box re-measuring its text) takes a few refreshes
    under load: a test waits for what the user would see, not a fixed time.
    """
    text = ""
    for _ in range(tries):
        text = " ".join(screen_text(pilot).split())
        if predicate(text):
            break
        await pilot.pause(0.02)
    return text


async def steady(pilot: Pilot, tries: int = 50) -> str:  # type: ignore[type-arg]
    """The screen once two refreshes in a row draw the same (a pane's re-measure can lag a step)."""
    text = screen_text(pilot)
    for _ in range(tries):
        await pilot.pause(0.01)
        again = screen_text(pilot)
        if again == text:
            break
        text = again
    return text


def status_words(app: App[object]) -> str:
    """The debugger's status line, its words joined by single spaces (wrapping aside)."""
    from spftui.tui.widgets.status import StatusLine

    return " ".join(str(app.screen.query_one(StatusLine).content).split())


async def cursor_to(pilot: Pilot, app: App[object], label: str) -> None:  # type: ignore[type-arg]
    """Move the Source cursor to `label` with ↑ ↓, as a user does (the listing has the focus)."""
    from spftui.tui.widgets.source import SourceView

    listing = app.screen.query_one(SourceView)
    assert app.focused is listing
    key = "down" if listing.index[label] > listing.cursor else "up"
    for _ in range(len(listing.listing)):  # (↓ skips a function's name row)
        if listing.label_at(listing.cursor) == label:
            return
        await press(pilot, key)
    raise AssertionError(f"the cursor never reached {label}")


async def palette_hits(pilot: Pilot, app: App[object], text: str) -> CommandList:  # type: ignore[type-arg]
    """Ctrl+P, type `text`, and wait for the palette's hits (it searches in a worker)."""
    await press(pilot, "ctrl+p")
    assert isinstance(app.screen, CommandPalette)
    await type_text(pilot, text)
    commands = app.screen.query_one(CommandList)
    for _ in range(100):
        if commands.option_count:
            break
        await pilot.pause()
    return commands


async def palette(pilot: Pilot, app: App[object], text: str) -> None:  # type: ignore[type-arg]
    """Ctrl+P, type `text`, wait for the hits, Enter."""
    await palette_hits(pilot, app, text)
    await press(pilot, "enter")
    await pilot.pause()
