"""The scenario picker: the bundled scenarios with their descriptions, or any file.

A file may be a scenario, a schedule file (opened as `spftui SCHEDULE` opens
it: its scenario, replayed to its stop_at) or a session file (opened as
`--session FILE` opens it, on the scenario it names). A bad file is reported
in an error dialog naming `file:line: key: message`; the picker stays open
and the current session is untouched.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import attrs
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DirectoryTree, Input, Label, OptionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from ...engine import all_labels
from ...engine.opening import Opening, file_kind, open_scenario
from ...engine.scenario_breakpoints import check_breakpoints
from ...engine.schedule_file import scenario_hash
from ...engine.session import Session
from ...engine.session_file import load_session, open_session
from ...engine.user_oracles import check_oracles
from ...scenario import Scenario, ScenarioError, list_bundled, load_scenario
from ...scenario.files import resolve_scenario
from ..format import reflow
from ..places import served_write_dir, typed_path, unreadable_when_served
from .dialog import Dialog
from .error import ErrorDialog

NARROW_WIDTH = 100
"""Below this many columns (as the debugger's narrow layout) the picker gives the list more
room and each title one line."""


def load(path: str | Path) -> Scenario:
    """Load and validate a scenario file (labels and breakpoint expressions included); raises ScenarioError."""
    sc = load_scenario(path, known_labels=all_labels())
    check_breakpoints(sc)
    check_oracles(sc)
    return sc


@attrs.frozen
class Picked:
    """What the picker opens: a scenario (with a schedule file's replay), or a saved session."""

    opening: Opening
    session: Session | None = None  # a session file's session, as it was saved
    session_file: str | None = None  # that file: `q` saves to it, as with --session
    warning: str | None = None


def pick(path: str, current: str | None = None) -> Picked:
    """Open `path` as the command line would (ScenarioError if it cannot be); `current` is
    the scenario file open now, the first place a session file's scenario is looked for."""
    if file_kind(path) != "session":  # a scenario, or a schedule: its scenario, replayed to its stop_at
        opening = open_scenario(path, force_hint="open it from the command line with --force to replay it anyway")
        return Picked(opening, warning=opening.warning)
    saved = load_session(path)
    # The file names its scenario only by name and content hash: try the one open now,
    # one of that name beside the file, and a bundled one of that name.
    beside = os.path.join(os.path.dirname(path), f"{saved.scenario_name}.toml")
    for candidate in (current, beside, resolve_scenario(saved.scenario_name)):
        if not candidate or not os.path.isfile(candidate):
            continue
        try:
            sc = load(candidate)
        except ScenarioError:
            continue
        if scenario_hash(sc) == saved.scenario_hash:
            session, warning = open_session(saved, sc)
            return Picked(Opening(session.scenario), session, path, warning)
    raise ScenarioError(
        f"a session file, saved on '{saved.scenario_name}', which is not open nor found beside it or bundled: "
        f"open it with spftui SCENARIO --session {path}",
        path,
    )


def summary(path: Path) -> tuple[Path, str, Text]:
    """(path, title, description) for the list; cached while the file is unchanged."""
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = 0
    return _summary(path, stamp)


@lru_cache(maxsize=256)
def _summary(path: Path, stamp: int) -> tuple[Path, str, Text]:
    try:
        sc = load(path)
    except ScenarioError as err:
        return path, f"{path.name} (cannot load)", Text(str(err), "bold red")
    return path, sc.title, describe(sc)


def describe(sc: Scenario) -> Text:
    """What the picker shows about a scenario: rules, threads, what to expect, the story."""
    out = Text()
    out.append(f"policy {sc.policy} · reuse {sc.reuse}", "bold #87d7ff")
    if sc.kernel:
        out.append(f" (kernel {sc.kernel})", "#87d7ff")
    out.append("\n")
    for t in sc.threads:
        out.append(f"  {t.name}", "bold")
        out.append(f" [{t.process}] ", "grey50")
        out.append(", ".join(op.text for op in t.ops))
        if t.repeat > 1:
            out.append(f" ×{t.repeat}", "grey50")
        out.append("\n")
    expect = sc.expectations()
    if expect:
        out.append("expect: " + ", ".join(f"{k} {v}" for k, v in expect.items()) + "\n", "grey62")
    if sc.description:
        out.append("\n" + reflow(sc.description))
    return out


class TomlTree(DirectoryTree):
    """Folders and .toml files, no hidden entries."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [p for p in paths if not p.name.startswith(".") and (p.is_dir() or p.suffix == ".toml")]


class ScenarioList(OptionList):
    """The bundled scenarios: each its title over its name (what `spftui NAME` takes), a rule
    between two. In a narrow terminal (80 columns) a title takes one line, cut with an
    ellipsis (the description beside it has it whole): wrapped, one entry ran over four to
    eight lines, with nothing between two, and the names were cut."""

    def __init__(self, entries: list[tuple[Path, str]], *, id: str | None = None) -> None:
        self.entries = entries
        self.shown_width: int | None = None  # the width the titles were cut to (None: wrapped)
        super().__init__(*self._prompts(None), id=id)

    def _prompts(self, width: int | None) -> list[Option | None]:
        options: list[Option | None] = []
        for k, (path, title) in enumerate(self.entries):
            head, name = Text(title, "bold"), Text(path.stem, "grey50")
            if width is not None:
                head.truncate(width, overflow="ellipsis")
                name.truncate(width, overflow="ellipsis")
            if k:
                options.append(None)  # a rule under the one before
            options.append(Option(Text.assemble(head, "\n", name), id=str(path)))
        return options

    def on_resize(self) -> None:
        padding = self.get_component_styles("option-list--option").padding
        # The width beside a scrollbar, whether one is shown yet or not (one comes with the options).
        bare = self.scrollable_content_region.width + self.scrollbar_size_vertical
        text = bare - self.styles.scrollbar_size_vertical - self._get_left_gutter_width() - padding.width
        width = text if self.app.size.width < NARROW_WIDTH and text > 0 else None
        if width == self.shown_width:
            return
        self.shown_width = width
        highlighted = self.highlighted
        with self.prevent(OptionList.OptionHighlighted):  # (the same option stays highlighted)
            self.set_options(self._prompts(width))
            self.highlighted = highlighted


class PickerScreen(Dialog[Picked | None]):
    """Choose a scenario, schedule or session file. Returns what was opened, or None if cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        first_run: bool = False,
        start_dir: str | None = None,
        bundled: list[Path] | None = None,
        current: str | None = None,
    ) -> None:
        super().__init__()
        self.first_run = first_run
        self.current = current
        self.start_dir = served_write_dir() or start_dir or str(Path.cwd())  # (served: its folder only)
        paths = bundled if bundled is not None else [p for p, _ in list_bundled()]
        self.bundled: list[tuple[Path, str, Text]] = [summary(path) for path in paths]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog picker-dialog"):
            yield Label("Open a scenario", classes="dialog-title")
            with TabbedContent(id="picker-tabs"):
                with TabPane("Bundled", id="tab-bundled"):
                    with Horizontal():
                        yield ScenarioList([(path, title) for path, title, _ in self.bundled], id="bundled")
                        yield Static("", id="bundled-desc", markup=False)
                with TabPane("Browse files", id="tab-browse"):
                    yield TomlTree(self.start_dir, id="tree")
            yield Input(
                placeholder="…or type a path to a .toml file and press Enter",
                id="picker-path",
                compact=True,
                select_on_focus=False,  # (on_key focuses it mid-word: selecting would replace the first letter)
            )
            note = "Enter opens · Tab moves · Esc " + ("quits" if self.first_run else "cancels")
            yield Label(note, classes="dialog-note")

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < NARROW_WIDTH, "-narrow")

    def on_mount(self) -> None:
        self.set_class(self.app.size.width < NARROW_WIDTH, "-narrow")
        ol = self.query_one("#bundled", OptionList)
        ol.focus()
        if self.bundled:
            ol.highlighted = 0
            self._describe(0)

    def on_key(self, event: events.Key) -> None:
        """A character typed on the list or the tree starts a path (the dialog says "type a
        path"): without this it was dropped, and Enter then opened the highlighted scenario.
        (The path field stops the characters typed in it, so every one that reaches here came
        from elsewhere: even those a quick typist sent before the focus moved.) A space is
        left to the tree, where it opens and closes a folder."""
        if event.is_printable and event.character not in (None, " "):
            event.stop()
            event.prevent_default()
            field = self.query_one("#picker-path", Input)
            field.insert_text_at_cursor(event.character)
            field.focus()

    def _describe(self, index: int | None) -> None:
        desc = self.query_one("#bundled-desc", Static)
        if index is None or not 0 <= index < len(self.bundled):
            desc.update("")
            return
        path, title, text = self.bundled[index]
        desc.update(Text.assemble((title, "bold"), "\n", (path.name, "grey50"), "\n\n", text))

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        self._describe(event.option_index)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.open(event.option.id)

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        self.open(str(event.path))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.open(event.value.strip())

    def open(self, path: str) -> None:
        """Open `path`; close with it, or show why it cannot be opened."""
        path = typed_path(path)  # (relative to the current folder, or to the served one)
        refused = unreadable_when_served(path)
        if refused is not None:
            self.app.push_screen(ErrorDialog("Cannot open this file", f"{path}: {refused}"))
            return
        try:
            picked = pick(path, self.current)
        except ScenarioError as err:
            self.app.push_screen(ErrorDialog("Cannot load this scenario", str(err)))
            return
        self.close(picked)

    def action_cancel(self) -> None:
        self.close(None)
