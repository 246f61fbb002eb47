"""`spftui explore --resume FILE`: the resumed search goes on saving to FILE, and a search
cut short says where its checkpoint is and the command that continues it."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from cli_run import spftui
from test_jobs import cpu_seconds, start, stop_with, wait_for

SEARCH = ["explore", "cow_three_writers_munmap", "--policy", "spf-mm-seq"]


def test_resume_without_checkpoint_saves_back_to_the_file_it_resumed(tmp_path: Path) -> None:
    """It saved nothing: a Ctrl-C (or --timeout, --max-states) lost all the resumed work."""
    ck = tmp_path / "c.ckpt"
    first = spftui(*SEARCH, "--max-states", "2000", "--checkpoint", str(ck))
    assert first.returncode == 1 and ck.exists(), first.stderr
    continue_with = f"`spftui explore cow_three_writers_munmap --policy spf-mm-seq --resume {ck}`"
    assert f"Checkpoint written to {ck}: continue with {continue_with}" in " ".join(first.stdout.split())
    before = ck.read_bytes()
    r = spftui(*SEARCH, "--max-states", "6000", "--resume", str(ck), "--json")
    assert r.returncode == 1, r.stderr
    data = json.loads(r.stdout)["policies"]["spf-mm-seq"]
    assert data["checkpoint"]["file"] == str(ck) and data["checkpoint"]["written"] is True
    assert ck.read_bytes() != before and ck.stat().st_size > len(before)  # the search as it went on
    assert not list(tmp_path.glob("*.tmp*"))  # (replaced atomically: no temporary left)


def test_checkpoint_elsewhere_leaves_the_resumed_file_alone(tmp_path: Path) -> None:
    ck, other = tmp_path / "c.ckpt", tmp_path / "d.ckpt"
    assert spftui(*SEARCH, "--max-states", "2000", "--checkpoint", str(ck)).returncode == 1
    before = ck.read_bytes()
    r = spftui(*SEARCH, "--max-states", "4000", "--resume", str(ck), "--checkpoint", str(other))
    assert r.returncode == 1, r.stderr
    assert ck.read_bytes() == before and other.exists()
    assert f"Checkpoint written to {other}: continue with" in r.stdout


def test_resume_from_a_directory_it_cannot_write_says_so_and_still_runs(tmp_path: Path) -> None:
    ck = tmp_path / "ro" / "c.ckpt"
    ck.parent.mkdir()
    assert spftui(*SEARCH, "--max-states", "2000", "--checkpoint", str(ck)).returncode == 1
    ck.parent.chmod(0o555)
    try:
        if _writable(ck.parent):
            return  # (root writes anywhere: nothing to see)
        r = spftui(*SEARCH, "--max-states", "4000", "--resume", str(ck))
    finally:
        ck.parent.chmod(0o755)
    assert r.returncode == 1 and f"--resume {ck}: its progress will not be saved" in r.stderr


def _writable(folder: Path) -> bool:
    try:
        (folder / "probe").write_text("")
    except OSError:
        return False
    (folder / "probe").unlink()
    return True


def test_ctrl_c_in_a_resumed_search_keeps_its_progress_and_says_how_to_go_on(tmp_path: Path) -> None:
    """The probe's run: `--resume ck` alone, Ctrl-C after seconds of work left ck as it was."""
    ck = tmp_path / "c.ckpt"
    assert spftui(*SEARCH, "--max-states", "2000", "--checkpoint", str(ck)).returncode == 1
    before = ck.stat().st_size
    p = start(*SEARCH, "--resume", str(ck))
    _, stdout, stderr, _ = stop_with(p, signal.SIGINT, lambda: wait_for(lambda: cpu_seconds(p.pid) >= 3.0, 60))
    assert p.returncode == 130, stderr
    assert "not complete (interrupted)" in stdout and "Interrupted:" in stdout
    assert f"Checkpoint written to {ck}: continue with" in " ".join(stdout.split())
    assert ck.stat().st_size > before


def test_a_checkpoint_with_other_fixes_is_refused_by_name(tmp_path: Path) -> None:
    """Fixes were not part of a checkpoint's identity: resumed with a fix switched, the search mixed
    two models (lost_write "Never, complete" where a fresh search finds it, or a traceback)."""
    on, off = tmp_path / "on.ckpt", tmp_path / "off.ckpt"
    fix = ["--fix", "madv_free_refcount_check=off"]
    assert spftui("explore", "history_madv_free_dio", "--max-states", "100", "--checkpoint", str(on)).returncode == 1
    assert spftui("explore", "history_madv_free_dio", *fix, "--max-states", "100", "--checkpoint", str(off)).returncode
    r = spftui("explore", "history_madv_free_dio", *fix, "--resume", str(on))
    assert (
        r.returncode == 2
        and "the checkpoint is of another search: fixes_off none there, madv_free_refcount_check here" in r.stderr
    )
    r = spftui("explore", "history_madv_free_dio", "--resume", str(off))
    assert r.returncode == 2 and "fixes_off madv_free_refcount_check there, none here" in r.stderr, r.stderr
    r = spftui("explore", "history_madv_free_dio", *fix, "--resume", str(off), "--json")
    assert r.returncode == 0, r.stderr  # (its own fixes: it resumes, to the fresh search's verdict)
    assert json.loads(r.stdout)["policies"]["classic"]["verdicts"]["lost_write"] == "sometimes"


def test_resume_through_a_symbolic_link_saves_the_file_it_names(tmp_path: Path) -> None:
    ck, link = tmp_path / "c.ckpt", tmp_path / "link.ckpt"
    assert spftui(*SEARCH, "--max-states", "2000", "--checkpoint", str(ck)).returncode == 1
    link.symlink_to(ck.name)
    before = ck.read_bytes()
    assert spftui(*SEARCH, "--max-states", "4000", "--resume", str(link)).returncode == 1
    assert link.is_symlink() and ck.read_bytes() != before  # (the link was replaced by a file)
