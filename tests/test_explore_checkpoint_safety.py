"""`spftui explore --checkpoint/--resume`: a checkpoint is data only (a crafted file runs
no code), only a regular file is read or written, and a search cut short says truthfully
what its checkpoint file holds (the last save written, or the one before, or nothing usable)."""

from __future__ import annotations

import base64
import json
import os
import pickle
import signal
import zlib
from pathlib import Path
from typing import Any

import pytest
from cli_run import spftui

from spftui.engine import resume
from spftui.engine.files import WriteError

SEARCH = ["explore", "cow_three_writers_munmap", "--policy", "spf-mm-seq"]


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def _crafted(path: Path, header: str, payload: object) -> None:
    data = base64.b64encode(zlib.compress(pickle.dumps(payload, protocol=5))).decode("ascii")
    path.write_text(f"{header}\n{data}\n")


def _checkpoint(tmp_path: Path, name: str, *options: str) -> Path:
    ck = tmp_path / name
    r = spftui(*SEARCH, "--max-states", "2000", "--checkpoint", str(ck), *options)
    assert r.returncode == 1 and ck.exists(), r.stderr
    return ck


@pytest.mark.parametrize("same_search", [True, False])
def test_a_crafted_checkpoint_runs_no_code_and_is_refused_at_its_line(tmp_path: Path, same_search: bool) -> None:
    """It was unpickled before it was compared with the search: `os.system` ran, then
    "the checkpoint is of another search"."""
    header = _checkpoint(tmp_path, "real.ckpt").read_text().split("\n", 1)[0]
    if not same_search:
        header = f"{resume.MAGIC} {'0' * 32}:{'1' * 16}"
    marker, ck = tmp_path / "pwned", tmp_path / "evil.ckpt"
    _crafted(ck, header, {"stack": [_Exploit(marker)], "about": {}})
    r = spftui(*SEARCH, "--resume", str(ck))
    assert not marker.exists()
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr == (
        f"spftui: error: {ck}:2: refused: the checkpoint's data names posix.system, which no checkpoint holds "
        "(a checkpoint is data only: this file was not written by spftui explore, or was changed since)\n"
    )


def test_a_crafted_batch_in_flight_of_a_split_checkpoint_is_refused_too(tmp_path: Path) -> None:
    """A --jobs checkpoint keeps the batches between workers as pickled bytes, which a worker unpickles."""
    ck = _checkpoint(tmp_path, "split.ckpt", "--jobs", "2")
    header, data = ck.read_text().split("\n", 1)
    payload = resume.loads(zlib.decompress(base64.b64decode(data.strip())))
    marker = tmp_path / "pwned"
    payload["inbox"] = [[pickle.dumps(_Exploit(marker))], []]
    _crafted(ck, header, payload)
    r = spftui(*SEARCH, "--jobs", "2", "--resume", str(ck))
    assert not marker.exists()
    assert r.returncode == 2 and f"{ck}:2: refused: the checkpoint's data names posix.system" in r.stderr


@pytest.mark.parametrize("options", [[], ["--compact"], ["--jobs", "2"], ["--jobs", "2", "--compact"]])
def test_real_checkpoints_still_resume(tmp_path: Path, options: list[str]) -> None:
    ck = _checkpoint(tmp_path, "c.ckpt", *options)
    r = spftui(*SEARCH, *options, "--max-states", "3000", "--resume", str(ck), "--json")
    assert r.returncode == 1, r.stderr
    data = json.loads(r.stdout)["policies"]["spf-mm-seq"]
    assert data["states"] >= 3000 and data["checkpoint"]["written"] is True
    assert data["checkpoint"]["holds"] == "this search" and data["checkpoint"]["states"] == data["states"]


def test_a_truncated_checkpoint_is_damaged_at_its_header_line(tmp_path: Path) -> None:
    """30 bytes of a checkpoint said `:2: ... does not decompress`: the file has no line 2."""
    ck = _checkpoint(tmp_path, "c.ckpt")
    ck.write_text(ck.read_text()[:30])
    r = spftui(*SEARCH, "--resume", str(ck))
    assert r.returncode == 2 and r.stderr == (
        f"spftui: error: {ck}:1: the checkpoint is damaged: it ends in its header line "
        "(truncated or changed since it was written)\n"
    )
    ck.write_text(ck.read_text().split("\n")[0] + "\n" if "\n" in ck.read_text() else "")
    header = _checkpoint(tmp_path, "d.ckpt").read_text().split("\n", 1)[0]
    ck.write_text(header + "\n")
    r = spftui(*SEARCH, "--resume", str(ck))
    assert r.returncode == 2 and "1: the checkpoint is damaged: nothing follows its header line" in r.stderr


def test_resume_of_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    """It hung for ever (opening a FIFO waits for a writer); the checkpoint refusal suggested it."""
    fifo = tmp_path / "fifo.ckpt"
    os.mkfifo(fifo)
    r = spftui(*SEARCH, "--resume", str(fifo))
    assert r.returncode == 2 and r.stderr == (
        f"spftui: error: --resume: '{fifo}' is not a regular file (a FIFO, device or socket); give a checkpoint file\n"
    )
    with pytest.raises(resume.ResumeError, match="not a regular file"):  # (the engine, called directly)
        resume.load(str(fifo), "x")
    r = spftui(*SEARCH, "--checkpoint", str(fifo))
    assert r.returncode == 2 and "--resume" not in r.stderr and "not a regular file" in r.stderr


@pytest.mark.parametrize("target", ["fifo", "/dev/null"])
def test_a_checkpoint_on_a_fifo_or_a_device_is_refused_before_the_search_with_force_too(
    tmp_path: Path, target: str
) -> None:
    """The whole search ran, then "No checkpoint was written (the search stopped before its first one)"."""
    path = str(tmp_path / "fifo.ckpt") if target == "fifo" else target
    if target == "fifo":
        os.mkfifo(path)
    elif not os.path.exists(path):
        pytest.skip("no /dev/null")
    r = spftui(*SEARCH, "--checkpoint", path, "--force")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == (
        f"spftui: error: --checkpoint: {path}: cannot write the checkpoint: it is not a regular file "
        "(a device, FIFO or socket)\n"
    )


# ------------------------------------------------- what a search cut short left on disk
def _saves(monkeypatch: pytest.MonkeyPatch, each: Any) -> list[int]:
    """Replace CheckpointFile.save by `each(ck, n, real)` (n: 1 for the first save)."""
    real = resume.CheckpointFile.save
    calls: list[int] = []

    def save(ck: resume.CheckpointFile, ident: str, payload: dict[str, Any]) -> None:
        calls.append(len(calls) + 1)
        each(ck, len(calls), lambda: real(ck, ident, payload))

    monkeypatch.setattr(resume.CheckpointFile, "save", save)
    return calls


def _states_in(path: Path) -> int | None:
    data = path.read_text().split("\n")[1]
    return resume.states_in(resume.loads(zlib.decompress(base64.b64decode(data))))


def test_a_second_ctrl_c_during_the_last_save_waits_until_it_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second Ctrl-C aborted the last save: the file held the first save, and the result said
    "Checkpoint written"."""

    def each(ck: resume.CheckpointFile, n: int, real: Any) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # 1: the first Ctrl-C (stop), 2: the second, during the last save
        real()

    calls = _saves(monkeypatch, each)
    ck = tmp_path / "c.ckpt"
    r = spftui(*SEARCH, "--checkpoint", str(ck), "--json")
    assert r.returncode == 130, r.stderr
    assert calls == [1, 2]
    data = json.loads(r.stdout)["policies"]["spf-mm-seq"]
    assert data["stop"] == "interrupted"
    assert data["checkpoint"]["written"] is True and data["checkpoint"]["holds"] == "this search"
    assert _states_in(ck) == data["checkpoint"]["states"] == data["states"]  # the last save, whole


def test_a_failed_last_save_says_what_the_file_holds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk at the last save: "note: checkpoint not written ... No space left", then
    "Checkpoint written to FILE" (and `"written": true`)."""

    def each(ck: resume.CheckpointFile, n: int, real: Any) -> None:
        if n > 1:
            raise WriteError(ck.path, "cannot write the checkpoint: No space left on device")
        real()

    calls = _saves(monkeypatch, each)
    ck = tmp_path / "c.ckpt"
    r = spftui(*SEARCH, "--max-states", "3000", "--checkpoint", str(ck))
    assert r.returncode == 1, r.stderr
    first = _states_in(ck)
    assert first is not None and first < 3000
    text = " ".join(r.stdout.split())
    assert "Checkpoint written" not in text
    assert (
        "The last checkpoint was not written (the last save failed: "
        f"{ck}: cannot write the checkpoint: No space left on device); {ck} holds this search's previous one "
        f"({first:,} states, saved " in text
    )
    assert (
        f"continue from there with `spftui explore cow_three_writers_munmap --policy spf-mm-seq --resume {ck}`" in text
    )
    calls.clear()
    r = spftui(*SEARCH, "--max-states", "3000", "--checkpoint", str(tmp_path / "d.ckpt"), "--json")
    cp = json.loads(r.stdout)["policies"]["spf-mm-seq"]["checkpoint"]
    assert cp["written"] is False and cp["holds"] == "this search" and "No space left" in cp["error"]


def test_a_file_another_search_wrote_is_no_checkpoint_of_this_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two searches on one file (--force): the other's data was on disk, and this one said "Checkpoint written"."""
    ck = tmp_path / "c.ckpt"

    def each(cf: resume.CheckpointFile, n: int, real: Any) -> None:
        real()
        if n == 1:
            ck.write_text(f"{resume.MAGIC} another search's\n")  # (as a second search saves over it)

    _saves(monkeypatch, each)
    r = spftui(*SEARCH, "--max-states", "3000", "--checkpoint", str(ck))
    assert r.returncode == 1, r.stderr
    text = " ".join(r.stdout.split())
    assert "Checkpoint written" not in text and "--resume" not in text
    assert f"No usable checkpoint: {ck} was written by another program while this search ran" in text


def test_a_resumed_search_whose_saves_fail_says_the_file_still_holds_what_it_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It said "No checkpoint was written to FILE (the search stopped before its first one)"."""
    ck = _checkpoint(tmp_path, "c.ckpt")
    before = ck.read_bytes()

    def each(cf: resume.CheckpointFile, n: int, real: Any) -> None:
        raise WriteError(cf.path, "cannot write the checkpoint: No space left on device")

    _saves(monkeypatch, each)
    r = spftui(*SEARCH, "--max-states", "3000", "--resume", str(ck))
    assert r.returncode == 1, r.stderr
    text = " ".join(r.stdout.split())
    assert ck.read_bytes() == before
    assert f"{ck} still holds the checkpoint it resumed from (2,0" in text
    assert f"`spftui explore cow_three_writers_munmap --policy spf-mm-seq --resume {ck}` continues from there" in text


def test_a_lost_worker_names_the_checkpoint_that_resumes_the_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A killed worker ended the run with no word of the checkpoint it left."""
    from spftui import explore_cli
    from spftui.engine.workers import WorkerLost

    ck = tmp_path / "c.ckpt"
    real = explore_cli._run_policies

    def dies(*args: Any, **kw: Any) -> Any:
        real(*args, **{**kw, "cancelled": lambda: True})  # (a search that saved itself, then lost a worker)
        raise WorkerLost("worker process 4242 was killed by SIGKILL")

    monkeypatch.setattr(explore_cli, "_run_policies", dies)
    r = spftui(*SEARCH, "--mode", "exhaustive", "--jobs", "2", "--checkpoint", str(ck))
    assert r.returncode == 2 and ck.exists(), r.stderr
    (line,) = r.stderr.splitlines()
    assert line.startswith(
        f"spftui: error: worker process 4242 was killed by SIGKILL; the search is saved up to its last checkpoint ({ck}, "
    )
    assert line.endswith(
        f"`spftui explore cow_three_writers_munmap --policy spf-mm-seq --jobs 2 --resume {ck}` continues it from there"
    )


def test_a_split_checkpoint_resumed_without_jobs_names_one_process(tmp_path: Path) -> None:
    """It said "jobs 2 there, none here"."""
    ck = _checkpoint(tmp_path, "c.ckpt", "--jobs", "2")
    r = spftui(*SEARCH, "--resume", str(ck))
    assert r.returncode == 2 and "the checkpoint is of another search: jobs 2 there, 1 here" in r.stderr


def test_the_first_progress_line_says_no_negative_checkpoint_age(tmp_path: Path) -> None:
    r = spftui(*SEARCH, "--max-states", "3000", "--checkpoint", str(tmp_path / "c.ckpt"), "--json")
    ages = [json.loads(line).get("checkpoint_age") for line in r.stderr.splitlines()]
    assert ages and all(a is None or (a >= 0 and str(a) != "-0.0") for a in ages)
    assert all(not str(a).startswith("-") for a in ages)


@pytest.mark.parametrize("mode", ["auto", "exhaustive", "bounded"])
def test_max_states_1_reports_one_state(mode: str) -> None:
    r = spftui("explore", "cow_lost_write", "--max-states", "1", "--mode", mode, "--json")
    (p,) = json.loads(r.stdout)["policies"].values()
    assert p["states"] == 1 and p["stop"] == "max-states"
