"""Checkpoints of the exhaustive search: `explore --checkpoint FILE` writes
one periodically and when the search stops at a limit or on Ctrl-C;
`--resume FILE` continues from it with the same final result as a run that
was never interrupted (states, transitions, verdicts).

A checkpoint holds the whole depth-first search: the visited store, the
stack (each node's snapshot, the threads left to try, its sleep set), the
path, the counters and what was found. A search split across workers
(`--jobs N`, `--ray`: parallel.py) is saved between two rounds, when no
batch is being expanded: each worker's partition (its visited store, queue,
stack and counters) and the batches on their way; it resumes split as many
ways, on processes or on Ray alike. It is written atomically
(`files.write_file`) as one text line of base64 over a compressed pickle,
after a header line. It is a pickle: resume only files you wrote. A header
digest of the scenario's initial state, its programs, the policy and the
search options must match, so a checkpoint cannot continue another search.

Standard library only (DESIGN.md contract 1).
"""

from __future__ import annotations

import base64
import hashlib
import os
import pickle
import zlib
from typing import Any

from .files import REFUSE, REPLACE, WriteError, write_file

MAGIC = "spftui-explore-checkpoint 2"  # 2: DFS nodes hold the threads they try; the estimate's lengths


class ResumeError(ValueError):
    """A checkpoint that cannot be read, or one of another search."""


def identity(snap0_key: Any, ops: Any, policy: str, reuse: str, options: dict[str, Any]) -> str:
    """What a checkpoint must match: the search it came from, then `:` and a digest of
    its scenario alone (to say first when that is what differs; older files lack it)."""
    text = repr((snap0_key, ops, policy, reuse, sorted(options.items())))
    scenario = hashlib.blake2b(repr((snap0_key, ops)).encode(), digest_size=8).hexdigest()
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest() + ":" + scenario


class CheckpointFile:
    """The file one search saves itself to. Each save replaces the file this search found
    there or wrote last, and nothing else: if another program (a second search given the
    same --checkpoint) wrote it meanwhile, the save is refused (WriteError) rather than
    silently throw that one's work away. A name that was free is taken atomically."""

    def __init__(self, path: str, about: dict[str, Any] | None = None) -> None:
        self.path = path
        self.about = about or {}  # the search's policy, reuse and options, to name what a resume changed
        self._expected = _identity(path)  # what is there now (None: nothing)

    def save(self, ident: str, payload: dict[str, Any]) -> None:
        payload = {**payload, "about": self.about}
        data = base64.b64encode(zlib.compress(pickle.dumps(payload, protocol=5), 1)).decode("ascii")
        if _identity(self.path) != self._expected:
            raise WriteError(
                self.path,
                "not saving the checkpoint: another program wrote this file since this search "
                + ("began" if self._expected is None else "saved it")
                + " (another search with the same --checkpoint?)",
            )
        exists = REFUSE if self._expected is None else REPLACE  # (REFUSE: a link that fails if taken)
        write_file(self.path, f"{MAGIC} {ident}\n{data}\n", exists=exists, what="the checkpoint")
        self._expected = _identity(self.path)


def _identity(path: str) -> tuple[int, ...] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def load(path: str, ident: str, about: dict[str, Any] | None = None) -> dict[str, Any]:
    """The search state saved in `path`, if it is this search's (`ident`); else a
    ResumeError that names what differs from `about` (this search's options)."""
    try:
        with open(path, encoding="ascii") as f:
            header = f.readline().rstrip("\n")
            data = f.readline()
    except UnicodeDecodeError:
        raise ResumeError(f"{path}:1: not an explorer checkpoint (binary data; a checkpoint is text)") from None
    except OSError as e:
        raise ResumeError(f"{path}: cannot read the checkpoint: {e.strerror or e}") from None
    magic, _, theirs = header.rpartition(" ")
    if magic != MAGIC and magic.startswith(MAGIC.rpartition(" ")[0] + " "):
        raise ResumeError(
            f"{path}:1: the checkpoint was written by another version of spftui ({magic!r}, this one reads"
            f" {MAGIC!r}); start the search again"
        )
    if magic != MAGIC:
        raise ResumeError(f"{path}:1: not an explorer checkpoint (it starts with {header[:40]!r})")
    payload = _decode(path, data)
    search, _, scenario = theirs.partition(":")
    if search != ident.partition(":")[0]:
        other = scenario != ident.partition(":")[2] if scenario else None  # (None: an older file does not say)
        raise ResumeError(f"{path}:1: the checkpoint is of another search: {_differences(payload, about or {}, other)}")
    return payload


def _differences(payload: dict[str, Any], about: dict[str, Any], other_scenario: bool | None) -> str:
    """What differs, the scenario first (`other_scenario` None: unknown, said only when nothing else differs)."""
    saved = dict(payload.get("about") or {})
    about = dict(about)
    theirs, mine = saved.pop("scenario", None), about.pop("scenario", None)  # (names: said with the scenario)
    keys = [k for k in sorted(set(saved) | set(about)) if saved.get(k) != about.get(k)]
    how = f": {theirs} there, {mine} here" if theirs and mine and theirs != mine else ""
    how = how or " (its initial state or its threads' programs)"
    # (--compact changes how the initial state is fingerprinted, so the scenario's digest too)
    said = [f"the scenario differs{how}"] if other_scenario and "compact" not in keys else []
    said += [f"{k} {_shown(saved.get(k))} there, {_shown(about.get(k))} here" for k in keys]
    if not said:
        return "the scenario differs (its initial state or its threads' programs)"
    return "; ".join(said) + (
        " (a search split with --jobs N resumes with the same --jobs N)" if "jobs" in keys else ""
    )


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "none"
    return "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _decode(path: str, data: str) -> dict[str, Any]:
    step = "its data is not base64"
    try:
        packed = base64.b64decode(data.strip(), validate=True)
        step = "its data does not decompress"
        raw = zlib.decompress(packed)
        step = "its data does not unpickle"
        payload = pickle.loads(raw)
    except Exception:  # a damaged file: say so, never a traceback
        raise ResumeError(
            f"{path}:2: the checkpoint is damaged: {step} (truncated or changed since it was written)"
        ) from None
    if not isinstance(payload, dict) or ("stack" not in payload and "partitions" not in payload):
        raise ResumeError(f"{path}:2: the checkpoint is damaged (no search state)")
    return payload
