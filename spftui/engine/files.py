"""The one way spftui writes a file: atomically, and never over one by accident.

`write_file` writes the text to a temporary file in the target's directory,
fsyncs it, and only then puts it in place (`os.replace` with `force`, else a
hard link that fails if the name is taken). A reader therefore sees the old
file or the new one, never a truncated one: on a full disk the old file stays
as it was and no 0-byte file is left behind. Every failure is a `WriteError`
whose text names the file and the reason.

Standard library only (the engine never imports Textual or Rich).
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile

# what to do when the name is taken
REFUSE = "refuse"  # WriteError (the user named the file: --force replaces it)
REPLACE = "replace"  # --force
NUMBER = "number"  # a name spftui picked: NAME.2.EXT, NAME.3.EXT, ... (the first free one)

MAX_NUMBER = 10_000


class WriteError(Exception):
    """A file could not be written; `str()` is `PATH: cannot write WHAT: REASON`."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def write_file(path: str, text: str, *, exists: str = REFUSE, what: str = "the file") -> str:
    """Write `text` (UTF-8) to `path` atomically; returns the path written.

    exists  REFUSE (default), REPLACE or NUMBER: see the constants above.
    what    names the file in error messages ("the schedule").
    """
    data = text.encode("utf-8")
    directory = os.path.dirname(path) or "."
    if exists != NUMBER:
        check_target(path, REPLACE, what)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".spftui-", suffix=".tmp", dir=directory)
    except OSError as e:  # (the directory takes no new file: say so of the file, not "no such directory")
        reason = (
            _reason(e, directory)
            if not os.path.isdir(directory)
            else _cannot_create_in(directory, e.strerror or str(e))
        )
        raise WriteError(path, f"cannot write {what}: {reason}") from None
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, _mode_for(path))
            os.fsync(fd)  # the data is on disk before the name points at it
        finally:
            os.close(fd)
        written = _put_in_place(tmp, path, exists, what)
        _sync_dir(directory)
        return written
    except OSError as e:
        raise WriteError(path, f"cannot write {what}: {_reason(e, directory)}") from None
    finally:
        try:
            os.unlink(tmp)  # gone already after a replace; a link leaves it to remove
        except OSError:
            pass


def cannot_create(path: str) -> str | None:
    """Why no new file `path` can be made, naming its folder (None: one can): "no such
    directory: D", "not a directory: D", or what the system says when a file cannot be
    created in a folder that is there (`/proc/x.json`: "cannot create it in /proc (the
    system says: No such file or directory)": the folder is not what is missing)."""
    directory = os.path.dirname(path) or "."
    why = cannot_write_in(directory)
    if why is None or not os.path.isdir(directory):
        return None if why is None else f"{why}: {directory}"
    return _cannot_create_in(directory, why)


def _cannot_create_in(directory: str, strerror: str) -> str:
    return f"cannot create it in {directory} (the system says: {strerror})"


def cannot_write_in(directory: str) -> str | None:
    """Why a new file cannot be made in `directory`, or None: found by making one and
    removing it, which sees what permission bits do not (a read-only mount; root)."""
    if not os.path.isdir(directory):
        return "no such directory" if not os.path.lexists(directory) else "not a directory"
    try:
        fd, probe = tempfile.mkstemp(prefix=".spftui-", suffix=".tmp", dir=directory)
    except OSError as e:
        return e.strerror or str(e)
    os.close(fd)
    os.unlink(probe)
    return None


def numbered(path: str, n: int) -> str:
    """`dir/a.b.schedule.toml`, 2 → `dir/a.b.2.schedule.toml` (before the first suffix spftui adds)."""
    head, name = os.path.split(path)
    for tail in (".schedule.toml", ".session.toml", ".toml"):
        if name.endswith(tail) and len(name) > len(tail):
            return os.path.join(head, f"{name[: -len(tail)]}.{n}{tail}")
    stem, ext = os.path.splitext(name)
    return os.path.join(head, f"{stem}.{n}{ext}")


def _put_in_place(tmp: str, path: str, exists: str, what: str) -> str:
    if exists == REPLACE:
        os.replace(tmp, path)
        return path
    candidates = [path] if exists == REFUSE else [path, *(numbered(path, n) for n in range(2, MAX_NUMBER))]
    for target in candidates:
        try:
            os.link(tmp, target)  # atomic and fails if the name exists: no check-then-write race
            return target
        except FileExistsError:
            continue
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            # a file system without hard links: check, then replace (a small race, no data loss)
            if os.path.lexists(target):
                continue
            os.replace(tmp, target)
            return target
    if exists == REFUSE:
        raise WriteError(path, f"{what} already exists (use --force to replace it)")
    raise WriteError(path, f"cannot write {what}: {MAX_NUMBER} numbered names are taken")


def check_target(path: str, exists: str = REFUSE, what: str = "the file") -> None:
    """Raise WriteError now if writing `path` must fail (before the work that makes its text):
    an empty name, a name that is not a file (replacing it would turn a directory's
    name, a FIFO or a device node such as /dev/full into a regular file), or with
    REFUSE a file that is there."""
    if not path:
        raise WriteError('""', f"cannot write {what}: expected a file name, found an empty one")
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # nothing there (or nothing we can see): the write says what is wrong
    if stat.S_ISDIR(mode):
        raise WriteError(path, f"cannot write {what}: it is a directory (name a file in it)")
    if not stat.S_ISREG(mode):
        raise WriteError(path, f"cannot write {what}: it is not a regular file (a device, FIFO or socket)")
    if exists == REFUSE:
        raise WriteError(path, f"{what} already exists (use --force to replace it)")


def _mode_for(path: str) -> int:
    """An existing file's mode, else what `open(path, "w")` would give (mkstemp makes 0600)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # not thread-safe, hence only where /proc is missing
    os.umask(mask)
    return mask


def _sync_dir(directory: str) -> None:
    """Make the new name durable too (best effort: not every file system can)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _reason(e: OSError, directory: str) -> str:
    if e.errno in (errno.ENOENT, errno.ENOTDIR) and not os.path.isdir(directory):
        return f"{'no such directory' if not os.path.lexists(directory) else 'not a directory'}: {directory}"
    return e.strerror or str(e)
