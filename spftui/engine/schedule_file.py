"""Schedule files: the one writer, and the scenario identity they carry.

A schedule file records the scenario it was made on as `scenario_name` (the
file's stem) and `scenario_hash`: a SHA-256 over the parts of the scenario
that decide a replay — the kernel, the words per page, the processes with
their mappings and data, the threads with their ops and repeat counts. The
title, description, comments, line numbers, how an op was spelt, `[expect]`,
the scenario's own `[schedule]`, its policy and reuse rule (the schedule
records its own) and its seed are left out, so editing those keeps the
identity. `check_identity` refuses a schedule recorded on another scenario
unless forced; a file without an identity (older spftui, or written by hand)
is replayed with a warning.

Headless: standard library and attrs only.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from .files import NUMBER, REFUSE, REPLACE, write_file

if TYPE_CHECKING:
    from ..scenario.model import Scenario, ScheduleEntry, ScheduleFile

_NOT_CONTENT = ("line", "text")  # where an op or key sits in the file, and how it was spelt
# Fields added after identities were first recorded: left out while they hold
# their default, so every scenario without them keeps its recorded identity.
_NEWER = ("foll", "new_length", "new_addr", "dontunmap", "file")


def scenario_name(sc: Scenario) -> str:
    return os.path.splitext(os.path.basename(sc.path))[0] or sc.title


def scenario_hash(sc: Scenario) -> str:
    """`sha256:<hex>` of the scenario's canonical content (module docstring)."""

    def plain(objs: Iterable[Any]) -> list[Any]:
        def keep(a: attrs.Attribute[Any], v: Any) -> bool:
            return a.name not in _NOT_CONTENT and not (a.name in _NEWER and v == a.default)

        return [attrs.asdict(o, filter=keep) for o in objs]

    content = {
        "kernel": sc.kernel,
        "words_per_page": sc.words_per_page,
        "processes": plain(sc.processes),
        "threads": plain(sc.threads),
    }
    if sc.files:
        content["files"] = plain(sc.files)
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def identity(sc: Scenario) -> tuple[str, str]:
    return scenario_name(sc), scenario_hash(sc)


def check_identity(sc: Scenario, sf: ScheduleFile, path: str, force: bool = False) -> str | None:
    """None when `sf` was recorded on `sc`; a warning when it records no identity
    (or differs and `force`); raises ScenarioError when it differs."""
    from ..scenario import ScenarioError

    if not sf.scenario_hash:
        return f"{path}: no scenario identity recorded; replaying it on '{scenario_name(sc)}' unchecked"
    mine = scenario_hash(sc)
    if sf.scenario_hash == mine:
        return None
    theirs = f"'{sf.scenario_name}'" if sf.scenario_name else "another scenario"
    message = (
        f"recorded on {theirs} ({sf.scenario_hash[:19]}), not on '{scenario_name(sc)}' ({mine[:19]}): "
        "its processes, mappings or threads differ"
    )
    if force:
        return f"{path}: {message}; replaying it anyway (--force)"
    raise ScenarioError(message + " (use --force to replay it anyway)", path, sf.scenario_hash_line, "scenario_hash")


def write_schedule(
    path: str,
    sc: Scenario,
    entries: Iterable[ScheduleEntry],
    comment: str,
    *,
    policy: str,
    reuse: str,
    stop_at: int | None,
    exists: str = REFUSE,
) -> str:
    """Write a schedule file for `sc` atomically (engine/files.py); returns the path
    written (another one with `exists=NUMBER` when the name is taken). Raises WriteError."""
    from ..scenario import dump_schedule

    text = dump_schedule(
        entries, sc.path or None, comment, policy=policy, reuse=reuse, stop_at=stop_at, identity=identity(sc)
    )
    return write_file(path, text, exists=exists, what="the schedule")


__all__ = ["NUMBER", "REFUSE", "REPLACE", "check_identity", "identity", "scenario_hash", "write_schedule"]
