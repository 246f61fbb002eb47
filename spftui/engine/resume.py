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
after a header line. A header digest of the scenario's initial state, its
programs, the policy and the search options must match, so a checkpoint
cannot continue another search. A checkpoint is data only: it is read by a
restricted unpickler (`_Unpickler`) that builds the few classes a checkpoint
holds and refuses any other name (a crafted file that names `os.system`, or
any callable, is an error at its line, not code run), and only a regular
file is read (a FIFO would block forever).

Standard library only (DESIGN.md contract 1).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import pickle
import re
import signal
import stat
import time
import zlib
from collections.abc import Iterator
from typing import Any

from .files import REFUSE, REPLACE, WriteError, write_file

MAGIC = "spftui-explore-checkpoint 2"  # 2: DFS nodes hold the threads they try; the estimate's lengths


class ResumeError(ValueError):
    """A checkpoint that cannot be read, or one of another search."""


# Every class a checkpoint holds (the rest is dicts, lists, tuples, sets, bytes, numbers and
# strings, which pickle writes without naming a class): the DFS's footprints and estimate,
# --compact's store and its arrays. Anything else is refused before it is looked up.
ALLOWED_CLASSES = frozenset(
    {
        ("spftui.engine.footprint", "Footprint"),
        ("spftui.engine.estimate", "Estimate"),
        ("spftui.engine.store", "CompactStore"),
        ("array", "array"),
        ("array", "_array_reconstructor"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
    }
)

_IDENT = re.compile(r"[0-9a-f]{32}(:[0-9a-f]{16})?")


class _Refused(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _Unpickler(pickle.Unpickler):
    """Builds only ALLOWED_CLASSES: a checkpoint is data, never code."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_CLASSES:
            raise _Refused(f"{module}.{name}")
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("a persistent id")


def loads(raw: bytes) -> Any:
    """Unpickle a checkpoint's (or a batch's) bytes, building only ALLOWED_CLASSES."""
    return _Unpickler(io.BytesIO(raw)).load()


@contextlib.contextmanager
def held_signals() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block ends (a checkpoint being saved is saved
    whole), then reach the handlers they were meant for, in order: a second Ctrl-C still
    interrupts, once the file is written. Nothing is held off the main thread, where
    signals are not ours, nor a signal that was ignored."""
    came: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        came.append(signum)

    old: dict[int, Any] = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            was = signal.getsignal(sig)
            if was is not signal.SIG_IGN and was is not None:
                old[sig] = signal.signal(sig, hold)
    except ValueError:  # (not the main thread)
        for num, handler in old.items():
            signal.signal(num, handler)
        yield
        return
    try:
        yield
    finally:
        for num, handler in old.items():
            signal.signal(num, handler)
        for num in came:
            signal.raise_signal(num)  # (the handler runs now; an exception it raises is the caller's)


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

    def on_disk(self) -> str:
        """What the file holds now, as far as this search knows: "mine" (what this search
        wrote last, or found there at its start), "changed" (another program wrote it since),
        or "none" (no file)."""
        now = _identity(self.path)
        if now is None:
            return "none"
        return "mine" if now == self._expected else "changed"

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
    ResumeError that names what differs from `about` (this search's options).
    The header is checked before the data is unpickled, and the data is unpickled
    by `_Unpickler` (data only)."""
    header, data, complete = _read(path)
    magic, _, theirs = header.rpartition(" ")
    if magic != MAGIC and magic.startswith(MAGIC.rpartition(" ")[0] + " "):
        raise ResumeError(
            f"{path}:1: the checkpoint was written by another version of spftui ({magic!r}, this one reads"
            f" {MAGIC!r}); start the search again"
        )
    if magic != MAGIC:
        raise ResumeError(f"{path}:1: not an explorer checkpoint (it starts with {header[:40]!r})")
    if not complete or not _IDENT.fullmatch(theirs):
        raise ResumeError(
            f"{path}:1: the checkpoint is damaged: it ends in its header line (truncated or changed since it was"
            " written)"
        )
    if not data.strip():
        raise ResumeError(
            f"{path}:1: the checkpoint is damaged: nothing follows its header line (truncated since it was written)"
        )
    search, _, scenario = theirs.partition(":")
    if search != ident.partition(":")[0]:
        other = scenario != ident.partition(":")[2] if scenario else None  # (None: an older file does not say)
        payload = _decode(path, data)  # (what it was made with: data only, as ever)
        raise ResumeError(f"{path}:1: the checkpoint is of another search: {_differences(payload, about or {}, other)}")
    return _decode(path, data)


def _read(path: str) -> tuple[str, str, bool]:
    """The header line, the data line and whether the header line ended (a newline after it).
    Only a regular file is read: a FIFO or a device is refused at once (it would block, or
    never end)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # (a FIFO opens at once; it is refused below)
    except OSError as e:
        raise ResumeError(f"{path}: cannot read the checkpoint: {e.strerror or e}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            what = "a directory" if stat.S_ISDIR(mode) else "a FIFO, device or socket"
            raise ResumeError(f"{path}: not a checkpoint: it is not a regular file ({what})")
        with os.fdopen(fd, encoding="ascii", closefd=True) as f:
            fd = -1
            header = f.readline()
            data = f.readline()
    except UnicodeDecodeError:
        raise ResumeError(f"{path}:1: not an explorer checkpoint (binary data; a checkpoint is text)") from None
    except OSError as e:
        raise ResumeError(f"{path}: cannot read the checkpoint: {e.strerror or e}") from None
    finally:
        if fd >= 0:
            os.close(fd)
    return header.rstrip("\n"), data, header.endswith("\n")


def header_of(path: str) -> str | None:
    """The first line of `path` if it is a regular file that starts as a checkpoint, else None
    (to say what a file left on disk holds without reading its data)."""
    try:
        header, _, _ = _read(path)
    except ResumeError:
        return None
    return header if header.startswith(MAGIC + " ") else None


def states_in(payload: dict[str, Any]) -> int | None:
    """How many states a checkpoint's search had stored (None: it does not say)."""
    try:
        if "partitions" in payload:
            return sum(int(p["counts"]["states"]) for p in payload["partitions"])
        return int(payload["stats"]["states"])
    except (KeyError, TypeError, ValueError):
        return None


def age_of(path: str) -> float | None:
    """Seconds since `path` was last written (None: it is not there)."""
    try:
        return max(0.0, time.time() - os.stat(path).st_mtime)
    except OSError:
        return None


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
    shown = {"jobs": 1}  # (a search not split has no `jobs`: it ran in one process)
    said += [f"{k} {_shown(saved.get(k, shown.get(k)))} there, {_shown(about.get(k, shown.get(k)))} here" for k in keys]
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
        payload = loads(raw)
        for batches in payload.get("inbox", ()) if isinstance(payload, dict) else ():
            for blob in batches:  # (the states in flight, which a worker unpickles: data only too)
                loads(blob)
    except _Refused as e:
        raise ResumeError(
            f"{path}:2: refused: the checkpoint's data names {e.name}, which no checkpoint holds (a checkpoint"
            " is data only: this file was not written by spftui explore, or was changed since)"
        ) from None
    except Exception:  # a damaged file: say so, never a traceback
        raise ResumeError(
            f"{path}:2: the checkpoint is damaged: {step} (truncated or changed since it was written)"
        ) from None
    if not isinstance(payload, dict) or ("stack" not in payload and "partitions" not in payload):
        raise ResumeError(f"{path}:2: the checkpoint is damaged (no search state)")
    return payload
