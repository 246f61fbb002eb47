"""`spftui shrink`: a padded seed race shrinks back to the seed's size, through the CLI."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from cli_run import spftui
from test_jobs import cpu_seconds, start, stop_with, wait_for

from spftui.engine.opening import open_scenario
from spftui.engine.recording import record_choices
from spftui.engine.shrink import find, size_of

SEED = Path(__file__).resolve().parents[1] / "spftui" / "scenarios" / "cow_lost_write.toml"


# What the user set: one kept, two that name thread C (which the shrink drops).
BREAKPOINTS = """
[[breakpoint]]
watch = "A.pte[0x10000]"

[[breakpoint]]
kind = "abort"
thread = "C"

[[breakpoint]]
when = 'C.state == "done"'
enabled = false
"""


def padded(tmp_path: Path) -> Path:
    """The seed plus an extra thread, extra ops and an extra 4-page mapping."""
    text = SEED.read_text()
    text = text[: text.index("[schedule]")]
    text = text.replace(
        '  prot = "rw"\n', '  prot = "rw"\n\n  [[process.mapping]]\n  start = 0x40000\n  pages = 4\n', 1
    )
    text = text.replace('ops = ["write 0x10000 11"]', 'ops = ["read 0x40000", "write 0x10000 11"]')
    text += '[[thread]]\nname = "C"\nprocess = "A"\nops = ["write 0x41000 5", "read 0x10000"]\n'
    text += BREAKPOINTS
    path = tmp_path / "padded.toml"
    path.write_text(text)
    return path


def test_a_padded_seed_shrinks_back_to_the_seeds_size_and_the_files_replay_the_lost_write(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = spftui("shrink", str(padded(tmp_path)), "--policy", "spf-refetch-vma", "--oracle", "lost_write",
               "--out", str(out), "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    seed = open_scenario(str(SEED)).scenario
    _, choices, _, _ = find(seed, "lost_write", 20_000) or ("", (), "", 0)
    want = size_of(seed, record_choices(seed, choices), len(choices)).as_dict()
    before, after = data["before"], data["after"]
    assert (before["threads"], before["ops"], before["mappings"], before["pages"]) == (4, 8, 2, 5)
    for key in ("threads", "ops", "processes", "mappings", "pages", "data"):
        assert after[key] == want[key], key
    assert after["preemptions"] <= before["preemptions"]
    assert sorted(p.name for p in out.iterdir()) == ["padded.min.schedule.toml", "padded.min.toml"]
    assert data["breakpoints"] == [3, 1]
    kept = open_scenario(data["files"][0]).scenario.breakpoints
    assert [(b.kind, b.expr, b.enabled) for b in kept] == [("watch", "A.pte[0x10000]", True)]
    check = spftui("check", data["files"][0], "--schedule", data["files"][1], "--json", "--no-break")
    assert check.returncode == 0, check.stdout + check.stderr
    assert [v["kind"] for v in json.loads(check.stdout)["violations"]] == ["lost_write"]


def test_a_gup_scenario_shrinks_and_its_file_says_every_op(tmp_path: Path) -> None:
    """gup, mremap, uffd-wp and unpin ops are written as the loader reads them (they
    were once written as `fork `, so no candidate parsed and nothing shrank)."""
    out = tmp_path / "out"
    r = spftui(
        "shrink", "history_gup_after_fork", "--reuse", "mapcount", "--fix", "gup_force_cow=off", "--out", str(out)
    )
    assert r.returncode == 0, r.stderr
    assert "ops 4 → 3" in r.stdout
    written = open_scenario(str(out / "history_gup_after_fork.min.toml")).scenario
    assert [op.text for t in written.threads for op in t.ops] == ["gup 0x10000", "munmap 0x10000 1p", "write 0x10000 2"]
    check = spftui("check", str(out / "history_gup_after_fork.min.toml"), "--schedule",
                   str(out / "history_gup_after_fork.min.schedule.toml"))  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert "COW ISOLATION" in check.stdout


def test_a_violation_that_needs_a_fix_off_shrinks_to_a_file_that_says_so(tmp_path: Path) -> None:
    """Dirty COW with --fix foll_cow=off: the shrunk file keeps the fix off ([fixes]), the
    file the mapping reads ([[file]], `file =`), and replays the violation without options."""
    out = tmp_path / "out"
    r = spftui("shrink", "history_dirty_cow", "--fix", "foll_cow=off", "--out", str(out))
    assert r.returncode == 0, r.stderr
    path = out / "history_dirty_cow.min.toml"
    written = open_scenario(str(path)).scenario
    assert "foll_cow" in written.fixes_off
    assert [f.name for f in written.files] == ["F"] and written.processes[0].mappings[0].file == "F"
    check = spftui("check", str(path), "--schedule", str(out / "history_dirty_cow.min.schedule.toml"))
    assert check.returncode == 0 and "FILE INTEGRITY" in check.stdout, check.stdout + check.stderr


def test_shrink_refuses_to_overwrite_and_prints_whole_lines(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = spftui("shrink", "cow_lost_write", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "threads 3 → 3, ops 5 → 5" in r.stdout and "preemptions" in r.stdout
    # one line, as check prints it (it was cut at 80 columns before "there")
    assert "lost_write: A:0x10400 reads 0 after installing pfn 2 W A D, but 42 was written there" in r.stdout
    written = (out / "cow_lost_write.min.toml").read_text()
    assert 'kernel = "5.8"' in written and "[fixes]" not in written  # (the source turns no fix: nor does this)
    replay = spftui("check", str(out / "cow_lost_write.min.toml"))
    assert replay.returncode == 0 and "✓ lost_write: expected sometimes, observed sometimes" in replay.stdout
    before = {p.name: p.read_text() for p in out.iterdir()}
    again = spftui("shrink", "cow_lost_write", "--out", str(out))
    assert again.returncode == 2 and "already exists" in again.stderr
    assert again.stdout == ""  # refused before it searched, not after
    assert {p.name: p.read_text() for p in out.iterdir()} == before
    blocked = spftui("shrink", "cow_lost_write", "--out", str(out / "cow_lost_write.min.toml" / "sub"))
    assert blocked.returncode == 2 and "is not a directory" in blocked.stderr and blocked.stdout == ""


def test_shrink_without_a_violation_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = spftui("shrink", "swap_cache_hit", "--out", str(out))  # (a search of 82 states at most)
    assert r.returncode == 1 and "nothing to shrink" in r.stderr
    assert not out.exists()


def test_shrink_says_no_violation_exists_when_its_search_was_complete(tmp_path: Path) -> None:
    """ "within N states" is for a cut search; a complete one found that there is none."""
    r = spftui("shrink", "cow_lost_write", "--policy", "spf-mm-seq", "--out", str(tmp_path / "o"))
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip() == "spftui: no violation exists (complete search: 24,225 states): nothing to shrink"
    cut = spftui("shrink", "cow_lost_write", "--policy", "spf-mm-seq", "--max-states", "500", "--out", str(tmp_path))
    assert (
        cut.returncode == 1 and cut.stderr.strip() == "spftui: no violation found within 500 states: nothing to shrink"
    )


def test_shrink_bad_scenario_names_file_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('title = "x"\n[[thread]]\nname = "T"\nprocess = "A"\nops = ["jump 0x1000"]\n')
    r = spftui("shrink", str(bad), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "bad.toml:5: thread[0].ops[0]:" in r.stderr, r.stderr


def test_ctrl_c_during_the_first_search_says_interrupted_not_nothing_to_shrink(tmp_path: Path) -> None:
    """The explorer takes the Ctrl-C and returns what it has; shrink must not read that as
    "no violation" (this first search runs ~10 CPU s before it gives up at 50,000 states)."""
    out = tmp_path / "out"
    p = start("shrink", "fork_cow_isolation", "--policy", "spf-refetch-vma", "--out", str(out), "--max-states", "50000")
    _, stdout, stderr, _ = stop_with(p, signal.SIGINT, lambda: wait_for(lambda: cpu_seconds(p.pid) >= 1.5, 30))
    assert (p.returncode, stdout, stderr) == (130, "", "spftui: interrupted\n")
    assert not out.exists()


def test_shrink_never_returns_more_steps_than_it_found_and_the_file_replays_on_its_own(tmp_path: Path) -> None:
    """The pinned-page fork race: dropping its data word is a smaller scenario whose violation
    takes more steps (the GUP must fault the page in): 29 → 36 steps before. The kept edits
    now never lengthen the schedule, and the .min.toml carries it as its `[schedule]`."""
    out = tmp_path / "out"
    r = spftui("shrink", "history_fork_pinned", "--fix", "fork_copy_pinned=off", "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["after"]["steps"] <= data["before"]["steps"], data
    assert data["after"]["ops"] < data["before"]["ops"]
    path = Path(data["files"][0])
    written = open_scenario(str(path)).scenario
    assert written.title.endswith(" (minimised by spftui shrink)") and written.title.startswith("History: fork")
    assert [e.text for e in written.schedule or ()] == data["schedule"]
    check = spftui("check", str(path))  # no --schedule: the file's own [schedule]
    assert check.returncode == 0, check.stdout + check.stderr
    assert "PIN COHERENCE" in check.stdout and "expectations hold" in check.stdout
    again = spftui("shrink", str(path), "--out", str(tmp_path / "again"), "--json")  # the title is not said twice
    assert again.returncode == 0, again.stderr
    twice = open_scenario(json.loads(again.stdout)["files"][0]).scenario
    assert twice.title == written.title


def _ctrl_c_at_search(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """A Ctrl-C in the n-th search of a candidate (as if typed then: where it lands in a real
    run depends on the machine's speed)."""
    from spftui.engine import shrink

    real, calls = shrink.find, [0]

    def find_then_ctrl_c(*args: object, **kw: object) -> object:
        calls[0] += 1
        if calls[0] == n:
            raise KeyboardInterrupt
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(shrink, "find", find_then_ctrl_c)


def test_ctrl_c_after_the_find_saves_the_smallest_so_far_and_says_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It printed only `spftui: interrupted`, wrote nothing, and --json printed no object."""
    _ctrl_c_at_search(monkeypatch, 4)
    out = tmp_path / "out"
    r = spftui("shrink", str(SEED), "--policy", "spf-refetch-vma", "--out", str(out))
    assert r.returncode == 130, r.stderr
    written = out / "cow_lost_write.min.toml"
    assert f"wrote {written}" in r.stdout and written.exists()
    assert "Interrupted: the shrinking stopped after 5 searches; the smallest scenario reached so far is saved" in (
        " ".join(r.stdout.split())
    )
    assert open_scenario(str(written)).scenario.title.endswith("(partly minimised by spftui shrink: interrupted)")
    check = spftui("check", str(written))  # it shows the violation on its own
    assert check.returncode == 0 and "LOST WRITE" in check.stdout, check.stdout
    again = spftui("shrink", str(written), "--out", str(tmp_path / "again"), "--json")  # going on from it
    assert again.returncode == 0 and not json.loads(again.stdout)["interrupted"]


def test_ctrl_c_after_the_find_with_json_prints_the_object(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _ctrl_c_at_search(monkeypatch, 2)
    out = tmp_path / "out"
    r = spftui("shrink", str(SEED), "--policy", "spf-refetch-vma", "--out", str(out), "--json")
    assert r.returncode == 130, r.stderr
    data = json.loads(r.stdout)
    assert data["interrupted"] is True and data["oracle"] == "lost_write"
    assert data["after"]["threads"] <= data["before"]["threads"]
    assert all(Path(f).exists() for f in data["files"])


@pytest.mark.parametrize("as_json", [False, True])
def test_shrink_on_a_full_disk_prints_the_result_and_leaves_no_half_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_json: bool
) -> None:
    """It printed only `spftui: error: ...: No space left on device`: the whole result was lost."""
    from spftui.engine import schedule_file
    from spftui.engine.files import WriteError

    def full_disk(path: str, *args: object, **kw: object) -> str:
        raise WriteError(path, "cannot write the schedule: No space left on device")

    monkeypatch.setattr(schedule_file, "write_schedule", full_disk)
    out = tmp_path / "out"
    r = spftui("shrink", "cow_lost_write", "--out", str(out), *(["--json"] if as_json else []))
    assert r.returncode == 2
    schedule = out / "cow_lost_write.min.schedule.toml"
    assert r.stderr == f"spftui: error: {schedule}: cannot write the schedule: No space left on device\n"
    assert not list(out.iterdir())  # (the scenario written before it is removed again: both or neither)
    if as_json:
        data = json.loads(r.stdout)
        assert data["files"] == [] and "No space left" in data["error"] and data["oracle"] == "lost_write"
        text = data["scenario_text"]
    else:
        assert "threads 3 → 3, ops 5 → 5" in r.stdout and "lost_write: A:0x10400 reads 0" in r.stdout
        assert "Not saved (see the error below)" in r.stdout and "wrote " not in r.stdout
        text = r.stdout[r.stdout.index("title = ") :]
    kept = tmp_path / "by_hand.toml"
    kept.write_text(text)  # what was printed is the scenario, whole: it replays the violation
    check = spftui("check", str(kept))
    assert check.returncode == 0 and "LOST WRITE" in check.stdout, check.stdout


def test_shrink_out_empty_names_the_option() -> None:
    r = spftui("shrink", "cow_lost_write", "--out", "")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == "spftui: error: --out: expected a directory name, found an empty one\n"
