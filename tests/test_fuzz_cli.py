"""`spftui fuzz`: random scenarios rediscover the lost write under spf-refetch-vma, and nothing under sound policies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import spftui

# Seed 20 draws a lost-write scenario as its 25th: a short, machine-independent run (--scenarios).
QUICK = ("--seed", "20", "--scenarios", "28", "--time", "120")


def test_fuzz_finds_shrinks_and_saves_a_lost_write_under_refetch_vma(tmp_path: Path) -> None:
    out = tmp_path / "found"
    r = spftui("fuzz", "--policy", "spf-refetch-vma", *QUICK, "--out", str(out), "--json")
    assert r.returncode == 1, r.stderr  # 1: something was found
    data = json.loads(r.stdout)
    assert data["scenarios"] == 28
    (f,) = data["found"]
    assert f["oracle"] == "lost_write" and not f["possible_model_bug"]
    assert f["after"]["ops"] <= f["before"]["ops"] and "lost_write:" in f["description"]
    assert "\n" not in f["description"]
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(f[k]).name for k in ("scenario", "schedule"))
    check = spftui("check", f["scenario"], "--schedule", f["schedule"], "--json")
    assert check.returncode == 0, check.stdout  # its [expect] says lost_write "sometimes" and the replay shows it
    assert [v["kind"] for v in json.loads(check.stdout)["violations"]] == ["lost_write"]


@pytest.mark.slow
def test_fuzz_with_two_jobs_finds_what_one_finds(tmp_path: Path) -> None:
    one, two = (
        spftui("fuzz", "--policy", "spf-refetch-vma", *QUICK, "--jobs", n, "--out", str(tmp_path / n), "--json")
        for n in ("1", "2")
    )
    found = [[(g["index"], g["description"]) for g in json.loads(r.stdout)["found"]] for r in (one, two)]
    assert found[0] == found[1] and len(found[0]) == 1


@pytest.mark.parametrize("policy", ["spf-mm-seq", "classic", "vma-lock"])
def test_fuzz_finds_nothing_under_a_sound_policy_and_writes_nothing(tmp_path: Path, policy: str) -> None:
    out = tmp_path / "found"
    r = spftui("fuzz", "--policy", policy, *QUICK, "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "28 scenarios" in r.stdout and "no violation" in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    assert not out.exists()


def test_fuzz_bad_options_exit_2(tmp_path: Path) -> None:
    for bad in (["--time", "0"], ["--jobs", "0"], ["--time", "soon"]):
        r = spftui("fuzz", "--policy", "classic", *bad, "--out", str(tmp_path))
        assert r.returncode == 2 and "Traceback" not in r.stderr


@pytest.mark.slow
def test_fuzz_rediscovers_a_lost_write_within_the_default_time(tmp_path: Path) -> None:
    r = spftui("fuzz", "--policy", "spf-refetch-vma", "--out", str(tmp_path / "found"), "--json")
    data = json.loads(r.stdout)
    assert any(f["oracle"] == "lost_write" for f in data["found"]), data


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["spf-mm-seq", "classic", "vma-lock"])
def test_fuzz_finds_nothing_under_a_sound_policy_in_the_default_time(tmp_path: Path, policy: str) -> None:
    r = spftui("fuzz", "--policy", policy, "--out", str(tmp_path / "found"), "--json")
    data = json.loads(r.stdout)
    assert data["found"] == [], data  # a finding here is a model bug: the file is in the assertion message


def test_fuzz_refuses_an_out_it_could_never_write_before_it_fuzzes(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = spftui("fuzz", "--policy", "spf-refetch-vma", *QUICK, "--out", str(blocker / "sub"))
    assert r.returncode == 2 and "cannot make the directory" in r.stderr and "is not a directory" in r.stderr
    assert r.stdout == ""  # not a scenario was run


def test_fuzz_that_cannot_save_says_so_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The --out that passed the check at the start fails at the first find (a full disk)."""
    from spftui import cli
    from spftui.engine import shrink
    from spftui.engine.files import WriteError

    def full_disk(sh: object, out_dir: str, stem: str, description: str, number: bool) -> tuple[str, str]:
        raise WriteError(f"{out_dir}/{stem}.toml", "cannot write the scenario: no space left on the device")

    def not_shrunk(*args: object, **kw: object) -> None:  # (the find is saved as found: no 5 s of shrinking here)
        raise shrink.ShrinkError("not this time")

    monkeypatch.setattr(shrink, "save", full_disk)
    monkeypatch.setattr(shrink, "shrink", not_shrunk)
    assert cli.main(["fuzz", "--policy", "spf-refetch-vma", *QUICK, "--out", str(tmp_path / "out")]) == 2
    out = capsys.readouterr()
    assert "no space left" in out.err and "1 found but not saved" in out.out and "no violation" not in out.out
    assert not (tmp_path / "out").exists()


def test_fuzz_refuses_an_out_on_a_file_system_that_takes_no_file_before_it_fuzzes() -> None:
    """sysfs refuses every new file, even to root (for whom permission bits never do)."""
    r = spftui("fuzz", "--policy", "spf-refetch-vma", *QUICK, "--out", "/sys/spftui-fuzz/found")
    assert r.returncode == 2, r.stderr
    (line,) = r.stderr.splitlines()  # the reason: EACCES, or EROFS where /sys is mounted read-only
    assert line.startswith("spftui: error: /sys/spftui-fuzz/found: cannot make the directory in /sys: "), line
    assert r.stdout == ""  # not a scenario was run


def test_fuzz_saves_a_finding_whose_name_is_taken_under_the_next_free_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rerun of a seed into the same --out: NAME.2.toml and NAME.2.schedule.toml, as `explore --save`
    names its files; nothing there is replaced. (Not shrunk here: the names are the point.)"""
    from spftui.engine import shrink

    def no_shrink(*args: object, **kwargs: object) -> None:
        raise shrink.ShrinkError("not shrunk in this test")

    monkeypatch.setattr(shrink, "shrink", no_shrink)
    out = tmp_path / "found"
    out.mkdir()
    (out / "fuzz-20-24-lost_write.schedule.toml").write_text("# an earlier run's\n")
    r = spftui("fuzz", "--policy", "spf-refetch-vma", "--seed", "20", "--scenarios", "25", "--out", str(out), "--json")
    assert r.returncode == 1, r.stderr
    (f,) = json.loads(r.stdout)["found"]
    assert (f["scenario"], f["schedule"]) == (
        str(out / "fuzz-20-24-lost_write.2.toml"), str(out / "fuzz-20-24-lost_write.2.schedule.toml")
    )  # fmt: skip
    assert (out / "fuzz-20-24-lost_write.schedule.toml").read_text() == "# an earlier run's\n"
    check = spftui("check", f["scenario"], "--schedule", f["schedule"], "--json")
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("n", [2, 5])
def test_fuzz_scenarios_n_tries_exactly_n_scenarios(tmp_path: Path, n: int) -> None:
    seed = str(2**64 - 1)  # (a long line: piped, it stays one line)
    r = spftui(
        "fuzz", "--policy", "spf-mm-seq", "--scenarios", str(n), "--seed", seed, "--out", str(tmp_path / "found")
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{n} scenarios under spf-mm-seq in ")
    assert r.stdout.splitlines()[0].endswith(f"(seed {seed}): no violation"), r.stdout


def test_fuzz_that_cannot_save_prints_the_find_and_leaves_no_half_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk after the scenario file: the .toml stayed without its .schedule.toml, the summary said
    "0 saved" and the violation was lost."""
    from spftui.engine import schedule_file, shrink
    from spftui.engine.files import WriteError

    def full_disk(path: str, *args: object, **kw: object) -> str:
        raise WriteError(path, "cannot write the schedule: No space left on device")

    def not_shrunk(*args: object, **kw: object) -> None:
        raise shrink.ShrinkError("not this time")

    monkeypatch.setattr(schedule_file, "write_schedule", full_disk)
    monkeypatch.setattr(shrink, "shrink", not_shrunk)
    out = tmp_path / "out"
    r = spftui("fuzz", "--policy", "spf-refetch-vma", *QUICK, "--out", str(out))
    assert r.returncode == 2
    assert not list(out.iterdir())
    assert "NOT SAVED (fuzz-20-24-lost_write.toml: see the error below)" in r.stdout
    assert "— lost_write: " in r.stdout and 'title = "fuzz 20/24: lost_write under spf-refetch-vma"' in r.stdout
    assert "0 violation(s) saved, 1 found but not saved (lost_write: printed above); stopped" in r.stdout
    assert "cannot write the schedule: No space left on device" in r.stderr
    j = spftui("fuzz", "--policy", "spf-refetch-vma", *QUICK, "--out", str(out), "--json")
    data = json.loads(j.stdout)
    assert j.returncode == 2 and data["found"] == [] and data["unsaved"][0]["oracle"] == "lost_write"
    assert "[schedule]" in data["unsaved"][0]["scenario_text"]


def test_fuzz_out_empty_is_refused_before_it_fuzzes() -> None:
    r = spftui("fuzz", "--policy", "spf-refetch-vma", *QUICK, "--out", "")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == "spftui: error: --out: expected a directory name, found an empty one\n"
