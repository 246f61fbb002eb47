"""Checkpoints: an exhaustive search interrupted and resumed (even twice)
ends with the result of one that never stopped; a checkpoint of another
search, or a file that is none, is refused with a clear message."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import attrs
import pytest
from cli_run import spftui
from engine_helpers import stop_after

from spftui.engine import explorer
from spftui.engine.explorer import ExploreError, explore
from spftui.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "scenarios" / "cow_lost_write.toml"
DIRTY_COW = ROOT / "scenarios" / "history_dirty_cow.toml"
DONTNEED = ROOT / "scenarios" / "dontneed_race.toml"  # a search of 0.3 s: about eight looks at the clock


def figures(r):  # type: ignore[no-untyped-def]
    return (r.states, r.transitions, r.schedules, r.verdicts, r.complete)


def interrupted_and_resumed(tmp_path: Path, sc: Any, policy: str, kind: str, compact: bool) -> None:
    """Stopped twice and resumed twice, the search ends as one never stopped."""
    kw = {"mode": "exhaustive", "narrate": False, "compact": compact}
    ref = explore(sc, policy, **kw)  # type: ignore[arg-type]
    ck = str(tmp_path / "search.ckpt")
    first = explore(sc, policy, checkpoint=ck, cancelled=stop_after(15), **kw)  # type: ignore[arg-type]
    assert first.stop == "interrupted" and not first.complete and os.path.exists(ck)
    assert 0 < first.states < ref.states
    again = explore(sc, policy, checkpoint=ck, resume=ck, cancelled=stop_after(40), **kw)  # type: ignore[arg-type]
    assert again.stop == "interrupted" and first.states < again.states < ref.states
    done = explore(sc, policy, resume=ck, **kw)  # type: ignore[arg-type]
    assert figures(done) == figures(ref)
    assert done.verdicts[kind] == "sometimes"
    assert done.counterexamples[kind].preemptions == ref.counterexamples[kind].preemptions


@pytest.mark.parametrize("compact", [False, True], ids=["dict", "compact"])
def test_an_interrupted_search_resumes_to_the_same_result(
    tmp_path: Path, compact: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dirty COW with its fix off (292 states), the clock looked at every 4
    transitions so that the stops fall in the middle of the search."""
    monkeypatch.setattr(explorer, "CHECK_EVERY", 4)
    sc = load_scenario(DIRTY_COW).with_fixes({"foll_cow": False})
    interrupted_and_resumed(tmp_path, sc, "spf-refetch-vma", "file_integrity", compact)


@pytest.mark.slow
@pytest.mark.parametrize("compact", [False, True], ids=["dict", "compact"])
def test_an_interrupted_search_of_the_seed_resumes_to_the_same_result(tmp_path: Path, compact: bool) -> None:
    interrupted_and_resumed(tmp_path, load_scenario(SEED), "spf-refetch-vma", "lost_write", compact)


def test_a_checkpoint_of_another_search_is_refused(tmp_path: Path) -> None:
    sc = load_scenario(SEED)
    ck = str(tmp_path / "search.ckpt")
    explore(sc, "spf-mm-seq", mode="exhaustive", narrate=False, checkpoint=ck, cancelled=stop_after(2))
    with pytest.raises(ExploreError, match=r"another search: policy spf-mm-seq there, classic here$"):
        explore(sc, "classic", mode="exhaustive", narrate=False, resume=ck)
    with pytest.raises(ExploreError, match="another search: reduction true there, false here"):
        explore(sc, "spf-mm-seq", mode="exhaustive", narrate=False, resume=ck, reduction=False)
    other = load_scenario(SEED).with_fixes({"foll_cow": False})  # (changes nothing the search reads)
    other = attrs.evolve(other, words_per_page=8)
    with pytest.raises(ExploreError, match="another search: the scenario differs"):
        explore(other, "spf-mm-seq", mode="exhaustive", narrate=False, resume=ck)
    with pytest.raises(ExploreError, match="exhaustive search"):
        explore(sc, "spf-mm-seq", mode="bounded", narrate=False, resume=ck)


def test_a_checkpoint_of_an_older_format_is_refused_with_the_reason(tmp_path: Path) -> None:
    sc = load_scenario(SEED)
    ck = tmp_path / "search.ckpt"
    explore(sc, "spf-mm-seq", mode="exhaustive", narrate=False, checkpoint=str(ck), cancelled=stop_after(2))
    header, data = ck.read_text().split("\n", 1)
    ck.write_text(header.replace("checkpoint 2 ", "checkpoint 1 ") + "\n" + data)
    with pytest.raises(ExploreError, match="another version of spftui"):
        explore(sc, "spf-mm-seq", mode="exhaustive", narrate=False, resume=str(ck))


def test_the_cli_refuses_a_file_that_is_no_checkpoint(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n")
    p = spftui("explore", str(SEED), "--policy", "spf-mm-seq", "--resume", str(bad))
    assert p.returncode == 2
    assert f"{bad}:1: not an explorer checkpoint" in p.stderr and "Traceback" not in p.stderr


def test_the_cli_never_replaces_a_file_with_a_checkpoint_and_names_a_bad_place_at_once(tmp_path: Path) -> None:
    mine = tmp_path / "notes.txt"
    mine.write_text("precious\n")
    explore_ = ["explore", str(SEED), "--policy", "spf-mm-seq", "--max-states", "500"]
    for args, said in (
        (["--checkpoint", str(mine)], f"'{mine}' exists; continue its search with --resume"),
        (["--checkpoint", str(tmp_path / "no" / "c.ckpt")], "--checkpoint: cannot write in"),
        (["--checkpoint", str(tmp_path)], "is a directory"),
    ):
        p = spftui(*explore_, *args)
        assert p.returncode == 2 and said in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert mine.read_text() == "precious\n"
    ck = tmp_path / "c.ckpt"  # resumed into a new file: the one read stays as it was
    explore(load_scenario(SEED), "spf-mm-seq", mode="exhaustive", narrate=False, checkpoint=str(ck),
            cancelled=stop_after(2))  # fmt: skip
    p = spftui(*explore_, "--resume", str(ck), "--checkpoint", str(tmp_path / "d.ckpt"))
    assert p.returncode in (0, 1) and (tmp_path / "d.ckpt").exists(), p.stderr
    p = spftui(*explore_, "--checkpoint", str(mine), "--force")
    assert p.returncode in (0, 1) and mine.read_text().startswith("spftui-explore-checkpoint")


def test_a_checkpoint_that_cannot_be_written_is_a_note_and_the_search_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from spftui.engine import resume
    from spftui.engine.files import WriteError

    def full_disk(ck: resume.CheckpointFile, ident: str, payload: object) -> None:
        raise WriteError(ck.path, "cannot write the checkpoint: no space left on the device")

    monkeypatch.setattr(resume.CheckpointFile, "save", full_disk)
    r = explore(load_scenario(DONTNEED), "spf-mm-seq", mode="exhaustive", narrate=False, checkpoint="x.ckpt")
    assert r.complete
    assert r.extra["notes"] == [
        "checkpoint not written: x.ckpt: cannot write the checkpoint: no space left on the device"
    ]


def test_the_cli_warns_at_once_when_a_checkpoint_cannot_be_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from spftui import cli
    from spftui.engine import resume
    from spftui.engine.files import WriteError

    def full_disk(ck: resume.CheckpointFile, ident: str, payload: object) -> None:
        raise WriteError(ck.path, "cannot write the checkpoint: no space left on the device")

    monkeypatch.setattr(resume.CheckpointFile, "save", full_disk)
    ck = str(tmp_path / "c.ckpt")
    args = ["explore", str(DONTNEED), "--policy", "spf-mm-seq", "--mode", "exhaustive", "--checkpoint", ck]
    assert cli.main([*args, "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    errors = [e for e in events if e["event"] == "checkpoint_error"]
    assert len(errors) == 1 and "no space left" in errors[0]["error"]
    assert events.index(errors[0]) < len(events) - 1  # while the search ran, not after it
    assert cli.main(args) == 0
    out = capsys.readouterr()
    assert out.err.count("spftui: warning: checkpoint not written") == 1
    assert "note: checkpoint not written" in out.out


def test_the_cli_checkpoints_one_policy_at_a_time(tmp_path: Path) -> None:
    p = spftui("explore", str(SEED), "--policy", "all", "--checkpoint", str(tmp_path / "c"))
    assert p.returncode == 2 and "one search at a time" in p.stderr


def test_checkpoints_keep_to_about_a_tenth_of_the_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """A large search's checkpoint takes seconds to write: the next one waits ten times as long."""
    import time

    from spftui.engine import resume

    writes: list[tuple[float, float]] = []  # (began, ended)

    def slow_save(ck: resume.CheckpointFile, ident: str, payload: object) -> None:
        began = time.monotonic()
        time.sleep(0.05)
        writes.append((began, time.monotonic()))

    monkeypatch.setattr(resume.CheckpointFile, "save", slow_save)
    s = explorer.Search(load_scenario(SEED), max_states=10**6, timeout=None, progress=None, cancelled=None)
    s.checkpoint, s.saver, s.checkpoint_every = resume.CheckpointFile("x.ckpt"), dict, 0.0
    checks = 0
    end = time.monotonic() + 20
    while len(writes) < 3 and time.monotonic() < end:
        s.check(explorer.Stats(), 0, 0)
        checks += 1
    assert len(writes) == 3 and checks > 100  # not one at every look at the clock
    for (began, ended), (next_began, _) in itertools.pairwise(writes):
        assert next_began - ended >= 10 * (ended - began)  # (however slow the machine is)
