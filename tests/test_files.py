"""Nothing lost: schedule files are written atomically, never over an existing
file by accident, a failed write still prints the report, and a schedule
carries the identity of the scenario it was made on."""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import pytest
from cli_run import spftui

from spftui import cli
from spftui.engine import files
from spftui.engine.files import NUMBER, REFUSE, REPLACE, WriteError, write_file

ROOT = Path(__file__).resolve().parents[1]
SEED = str(ROOT / "scenarios" / "cow_lost_write.toml")


def full_disk(monkeypatch: pytest.MonkeyPatch, after: int = 10) -> None:
    """os.write takes `after` bytes, then fails with ENOSPC, as on a full disk."""
    real = os.write
    left = [after]

    def write(fd: int, data: bytes | memoryview) -> int:
        if left[0] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = real(fd, bytes(data[: left[0]]))
        left[0] -= n
        return n

    monkeypatch.setattr(files.os, "write", write)


# ------------------------------------------------------------ the writer
def test_write_file_refuses_replaces_or_numbers_an_existing_name(tmp_path: Path) -> None:
    p = str(tmp_path / "a.schedule.toml")
    assert write_file(p, "one\n") == p
    with pytest.raises(WriteError, match="already exists"):
        write_file(p, "two\n", exists=REFUSE)
    assert Path(p).read_text() == "one\n"
    assert write_file(p, "two\n", exists=NUMBER) == str(tmp_path / "a.2.schedule.toml")
    assert write_file(p, "three\n", exists=NUMBER) == str(tmp_path / "a.3.schedule.toml")
    assert write_file(p, "four\n", exists=REPLACE) == p and Path(p).read_text() == "four\n"
    assert sorted(os.listdir(tmp_path)) == ["a.2.schedule.toml", "a.3.schedule.toml", "a.schedule.toml"]


def test_a_new_file_gets_the_usual_mode_not_mkstemps_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_file(str(tmp_path / "x.toml"), "x\n")
    finally:
        os.umask(old)
    assert (tmp_path / "x.toml").stat().st_mode & 0o777 == 0o644


def test_a_full_disk_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = tmp_path / "s.toml"
    p.write_text("the old schedule\n")
    full_disk(monkeypatch)
    with pytest.raises(WriteError, match="No space left on device"):
        write_file(str(p), "x" * 10_000, exists=REPLACE)
    assert p.read_text() == "the old schedule\n"
    assert os.listdir(tmp_path) == ["s.toml"]


def test_a_failing_fsync_does_not_replace_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "s.toml"
    p.write_text("old\n")

    def fsync(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(files.os, "fsync", fsync)
    with pytest.raises(WriteError, match="Input/output error"):
        write_file(str(p), "new\n", exists=REPLACE)
    assert p.read_text() == "old\n" and os.listdir(tmp_path) == ["s.toml"]


# ----------------------------------------------------- through the CLI
def test_check_save_schedule_never_overwrites_without_force(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text("# mine\n")
    r = spftui("check", SEED, "--save-schedule", str(p))
    assert r.returncode == 2
    assert r.stderr == f"spftui: error: {p}: the schedule already exists (use --force to replace it)\n"
    assert r.stdout == ""  # refused before the run, not after it
    assert p.read_text() == "# mine\n"
    r = spftui("check", SEED, "--save-schedule", str(p), "--force")
    assert r.returncode == 0, r.stderr
    assert "steps = [" in p.read_text()


def test_check_on_a_full_disk_prints_the_report_and_keeps_the_old_schedule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    p = tmp_path / "s.toml"
    assert cli.main(["check", SEED, "--policy", "spf-refetch-vma", "--save-schedule", str(p)]) == 0
    old = p.read_text()
    capsys.readouterr()
    full_disk(monkeypatch)
    status = cli.main(["check", SEED, "--json", "--save-schedule", str(p), "--force"])
    out, err = capsys.readouterr()
    assert status == 2
    assert json.loads(out)["expect_ok"] is True
    assert err == f"spftui: error: {p}: cannot write the schedule: No space left on device\n"
    assert p.read_text() == old and os.listdir(tmp_path) == ["s.toml"]
    monkeypatch.undo()
    assert cli.main(["check", SEED, "--schedule", str(p), "--json"]) == 0  # still loads


def test_check_into_a_missing_directory_says_so(tmp_path: Path) -> None:
    r = spftui("check", SEED, "--save-schedule", str(tmp_path / "no" / "s.toml"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"cannot write the schedule: no such directory: {tmp_path / 'no'}" in r.stderr
    assert r.stdout == ""  # (said before the run, not after it)


def test_explore_numbers_its_files_instead_of_overwriting(tmp_path: Path) -> None:
    mine = tmp_path / "cow_lost_write.spf-refetch-vma.schedule.toml"
    mine.write_text("# mine\n")
    args = ("explore", SEED, "--policy", "spf-refetch-vma", "--first", "--save", str(tmp_path))
    r = spftui(*args)
    assert r.returncode == 0, r.stderr
    second = tmp_path / "cow_lost_write.spf-refetch-vma.2.schedule.toml"
    assert f"saved to {second}" in r.stdout and mine.read_text() == "# mine\n"
    r = spftui(*args, "--force")
    assert r.returncode == 0 and f"saved to {mine}" in r.stdout and "steps = [" in mine.read_text()


def test_explore_save_makes_a_missing_folder_as_shrink_out_does(tmp_path: Path) -> None:
    """It refused a DIR that did not exist yet ("no such directory"), where shrink --out makes it."""
    out = tmp_path / "new" / "deeper"
    r = spftui("explore", "history_dirty_cow", "--fix", "foll_cow=off", "--save", str(out))
    assert r.returncode == 0, r.stderr
    (saved,) = out.iterdir()
    assert saved.name == "history_dirty_cow.classic.schedule.toml" and f"saved to {saved}" in r.stdout
    nothing = tmp_path / "nothing"
    assert spftui("explore", "history_dirty_cow", "--save", str(nothing)).returncode == 0
    assert not nothing.exists()  # no counterexample: no empty folder
    (tmp_path / "file").write_text("")
    blocked = spftui("explore", "history_dirty_cow", "--save", str(tmp_path / "file" / "sub"))
    assert blocked.returncode == 2 and blocked.stdout == ""  # refused before the search
    assert "--save: " in blocked.stderr and "is not a directory" in blocked.stderr


def test_explore_on_a_full_disk_prints_the_verdicts_and_leaves_no_empty_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    full_disk(monkeypatch, after=0)
    status = cli.main(["explore", SEED, "--policy", "spf-refetch-vma", "--first", "--save", str(tmp_path)])
    out, err = capsys.readouterr()
    assert status == 2
    assert "lost_write:     Sometimes  ✓ expected" in out and "saved to" not in out
    assert "cannot write the schedule: No space left on device" in err
    assert os.listdir(tmp_path) == []


# -------------------------------------------------------------- identity
def test_a_schedule_refuses_to_replay_on_another_scenario_unless_forced(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    assert spftui("check", SEED, "--policy", "spf-refetch-vma", "--save-schedule", str(p)).returncode == 0
    assert 'scenario_name = "cow_lost_write"' in p.read_text()
    other = str(ROOT / "scenarios" / "cow_lost_write_page_count.toml")
    r = spftui("check", other, "--schedule", str(p))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    line = next(i for i, t in enumerate(p.read_text().splitlines(), 1) if t.startswith("scenario_hash"))
    assert r.stderr.startswith(f"spftui: error: {p}:{line}: scenario_hash: recorded on 'cow_lost_write' (sha256:")
    assert "not on 'cow_lost_write_page_count'" in r.stderr and "use --force" in r.stderr
    r = spftui("check", other, "--schedule", str(p), "--force", "--json")
    assert r.returncode in (0, 1) and json.loads(r.stdout)["policy"] == "spf-refetch-vma"
    assert "replaying it anyway (--force)" in r.stderr
    r = spftui(other, "--schedule", str(p))  # the debugger checks before its screen opens
    assert r.returncode == 2 and "scenario_hash: recorded on 'cow_lost_write'" in r.stderr


def test_the_identity_ignores_comments_title_and_expect_but_not_the_ops(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    assert spftui("check", SEED, "--save-schedule", str(p)).returncode == 0
    text = Path(SEED).read_text()
    edited = tmp_path / "cow_lost_write.toml"
    edited.write_text("# a new comment\n\n" + text.replace("COW lost write", "Renamed", 1))
    r = spftui("check", str(edited), "--schedule", str(p))
    assert r.returncode in (0, 1) and r.stderr == ""
    changed = tmp_path / "changed.toml"
    assert "42" in text
    changed.write_text(text.replace("42", "43"))
    r = spftui("check", str(changed), "--schedule", str(p))
    assert r.returncode == 2 and "scenario_hash" in r.stderr


def test_an_old_schedule_without_identity_still_replays_with_a_warning(tmp_path: Path) -> None:
    p = tmp_path / "old.toml"
    p.write_text('policy = "spf-refetch-vma"\nsteps = ["A1 17", "B 9", "A2 until done", "A1 until done"]\n')
    r = spftui("check", SEED, "--schedule", str(p), "--json")
    assert [v["kind"] for v in json.loads(r.stdout)["violations"]] == ["lost_write"]
    assert (
        r.stderr == f"spftui: warning: {p}: no scenario identity recorded; replaying it on 'cow_lost_write' unchecked\n"
    )


def test_the_documented_schedule_example_carries_the_bundled_scenarios_identity(tmp_path: Path) -> None:
    readme = (ROOT / "scenarios" / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```toml\n(.*?)```", readme, re.DOTALL) if "scenario_hash" in b]
    p = tmp_path / "example.toml"
    p.write_text(block)
    r = spftui("check", "cow_lost_write", "--schedule", str(p), "--json")
    assert r.stderr == ""  # the hash in the docs is the bundled scenario's: no warning, no refusal
    assert [v["kind"] for v in json.loads(r.stdout)["violations"]] == ["lost_write"]


def test_cannot_write_in_says_why_a_directory_takes_no_new_file(tmp_path: Path) -> None:
    from spftui.engine.files import cannot_write_in

    (tmp_path / "f").write_text("")
    assert cannot_write_in(str(tmp_path)) is None and os.listdir(tmp_path) == ["f"]  # (the probe is gone)
    assert cannot_write_in(str(tmp_path / "f")) == "not a directory"
    assert cannot_write_in(str(tmp_path / "missing")) == "no such directory"
    assert cannot_write_in("/proc") is not None  # no file can be made there, even by root
