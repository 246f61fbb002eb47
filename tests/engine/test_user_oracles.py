"""A scenario's own oracles (`[[oracle]]`), through what users touch: the loader's located
errors (`spftui check` exit 2), `check`'s violations and [expect] results, `explore`'s
verdicts and counterexamples that replay, every reduction and the split search."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import spftui

from spftui.engine.explorer import explore
from spftui.scenario import ScenarioError, load_scenario, parse_scenario

HERE = Path(__file__).resolve().parent / "scenarios"
COW = HERE / "cow_lost_write_oracles.toml"  # cow_lost_write with oracles: A2's 42 lost only under spf-refetch-vma
DONTNEED = HERE / "dontneed_oracles.toml"  # small (under 2,000 states): for the reductions and --jobs
SEED = (Path(__file__).resolve().parents[2] / "scenarios" / "dontneed_race.toml").read_text()
SEED_LINES = SEED.count("\n")


def with_oracle(body: str, tail: str = "") -> str:
    return SEED + "\n[[oracle]]\n" + body + "\n" + tail


BAD = [
    ('name = "x"\nwhen = "A1.state == \'done\'"\nwho = "me"', "oracle[0].who", "unknown key 'who'"),
    ("when = \"A1.state == 'done'\"", "oracle[0].name", "missing required key 'name'"),
    ('name = "x"', "oracle[0].when", "missing required key 'when'"),
    ('name = "lost_write"\nwhen = "true"', "oracle[0].name", "'lost_write' is a built-in oracle"),
    ('name = "two words"\nwhen = "true"', "oracle[0].name", "expected an oracle name"),
    ('name = 3\nwhen = "true"', "oracle[0].name", "expected a string, found an integer"),
    ('name = "x"\nwhen = 3', "oracle[0].when", "expected a string, found an integer"),
    ('name = "x"\nwhen = "  "', "oracle[0].when", "expected an expression, found an empty string"),
]


@pytest.mark.parametrize(("body", "key", "message"), BAD)
def test_a_bad_oracle_table_is_an_error_at_its_file_line_and_key(body: str, key: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(with_oracle(body), "s.toml")
    err = info.value
    assert (err.path, err.key) == ("s.toml", key)
    assert SEED_LINES + 2 <= err.line <= SEED_LINES + 5
    assert message in err.message


def test_two_oracles_of_one_name_and_an_expect_line_for_an_unknown_one_are_errors() -> None:
    twice = with_oracle('name = "x"\nwhen = "true"', '[[oracle]]\nname = "x"\nwhen = "false"\n')
    with pytest.raises(ScenarioError, match="an oracle named 'x' is declared already") as info:
        parse_scenario(twice, "s.toml")
    assert info.value.key == "oracle[1].name"
    unknown = parse_scenario(with_oracle('name = "mine"\nwhen = "true"'), "s.toml")  # ([expect] knows it)
    assert unknown.oracle_kinds[-1] == "mine"
    text = SEED.replace("[expect]\n", '[expect]\nnot_mine = "never"\n', 1)
    with pytest.raises(ScenarioError, match="unknown oracle 'not_mine'"):
        parse_scenario(text, "s.toml")


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("A9.result == 'x'", "'A9'"),
        ("A1.sate == 'done'", "thread A1 has no field 'sate'"),
        ("A.pte[0x10000", "expected ']'"),
        ("step > 3", "'step' is not part of it"),
    ],
)
def test_an_oracle_expression_the_engine_cannot_take_is_exit_2_at_its_line(
    tmp_path: Path, when: str, message: str
) -> None:
    path = tmp_path / "s.toml"
    path.write_text(with_oracle(f'name = "mine"\nwhen = "{when}"'))
    r = spftui("check", str(path))
    line = SEED_LINES + 4  # `when = ...`
    assert r.returncode == 2, r.stdout
    assert r.stderr.startswith(f"spftui: error: {path}:{line}: oracle[0].when: "), r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ('A.mmap_seq > \\"a\\"', "'>' orders two ints or two strs, got int 0 and str \"a\" — at the start of the run"),
        ("1 / 0 == 1", "division by zero"),
        ("A.mmap_seq", "expected a condition (true or false), found int 0"),
        ("3", "expected a condition (true or false), found int 3"),
        ("A1.name", "expected a condition (true or false), found str"),
        ("A.mmap_seq == 0", "true at the start of the run, before any step"),  # (reported at step 1, wrongly)
    ],
)
@pytest.mark.parametrize("command", ["check", "explore"])
def test_an_oracle_that_is_no_condition_is_refused_at_load_not_proved_never(
    tmp_path: Path, when: str, message: str, command: str
) -> None:
    """A `when` with a type error is false in every state (explore "proved" it Never), and one
    that is an int is no condition: both are refused as a `[[breakpoint]]`'s `when` is."""
    path = tmp_path / "s.toml"
    path.write_text(with_oracle(f'name = "mine"\nwhen = "{when}"'))
    r = spftui(command, str(path))
    assert r.returncode == 2, r.stdout
    assert r.stderr.startswith(f"spftui: error: {path}:{SEED_LINES + 4}: oracle[0].when: "), r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert "Never" not in r.stdout


def test_an_oracle_false_at_the_start_for_the_state_s_reason_is_taken(tmp_path: Path) -> None:
    """`A1.vmf.orig_pte` before A1 faults cannot be evaluated: that is the state's, not refused."""
    path = tmp_path / "s.toml"
    path.write_text(with_oracle('name = "mine"\nwhen = "A1.vmf.orig_pte == 5"'))
    r = spftui("check", str(path))
    assert r.returncode in (0, 1), r.stderr


def test_check_reports_the_scenarios_own_oracle_and_judges_its_expectation() -> None:
    r = spftui("check", str(COW), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    text = json.dumps(report)
    assert "a2_store_lost" in text and "A1 and A2 are done and A reads something other than" in text
    plain = spftui("check", str(COW))
    assert "✓ a2_store_lost: expected sometimes, observed sometimes" in plain.stdout
    assert "A2 STORE LOST at step 54 (A1, user:store)" in plain.stdout
    safe = spftui("check", str(COW), "--policy", "spf-mm-seq")
    assert safe.returncode == 0 and "✓ a2_store_lost: expected never, observed never" in safe.stdout
    wrong = COW.read_text().replace('a2_store_lost = "sometimes"', 'a2_store_lost = "never"', 1)
    assert wrong != COW.read_text()
    path = COW.parent / "tmp_wrong_expect.toml"
    try:
        path.write_text(wrong)
        bad = spftui("check", str(path))
        assert bad.returncode == 1 and "a2_store_lost: expected never, observed sometimes" in bad.stdout
    finally:
        path.unlink()


def test_break_violation_names_the_scenarios_own_oracle() -> None:
    r = spftui("check", str(COW), "--break", "violation:a2_store_lost", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["break"]["step"] == 54
    r = spftui("check", str(COW), "--break", "violation:not_an_oracle")
    assert r.returncode == 2 and "unknown oracle 'not_an_oracle'" in r.stderr


def test_explore_finds_the_lost_store_under_refetch_vma_and_its_counterexample_replays(tmp_path: Path) -> None:
    r = spftui(
        "explore", str(COW), "--policy", "spf-refetch-vma", "--mode", "bounded", "--bound", "1",
        "--save", str(tmp_path), "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout)["policies"]["spf-refetch-vma"]
    assert found["verdicts"]["a2_store_lost"] == "sometimes"
    saved = sorted(tmp_path.glob("*a2_store_lost*"))
    assert saved, sorted(p.name for p in tmp_path.iterdir())
    replay = spftui("check", str(COW), "--schedule", str(saved[0]))
    assert "A2 STORE LOST at step" in replay.stdout, replay.stdout


@pytest.mark.slow  # (37,625 states, symmetry and the step cache off: ~6 s; the small scenario's Never is in the suite)
def test_explore_proves_the_lost_store_never_happens_under_mm_seq() -> None:
    proof = explore(load_scenario(COW), "spf-mm-seq", mode="exhaustive", narrate=False)
    assert proof.complete and proof.verdicts["a2_store_lost"] == "never"
    assert proof.verdicts["b_unmapped_first"] == "sometimes" and not proof.contradictions()


def test_two_workers_give_the_verdicts_and_states_of_one() -> None:
    sc = load_scenario(DONTNEED)
    one = explore(sc, mode="exhaustive", narrate=False)
    two = explore(sc, mode="exhaustive", jobs=2, narrate=False)
    assert one.complete and two.complete
    assert (two.verdicts, two.states) == (one.verdicts, one.states)
    assert one.verdicts["a2_reads_zero"] == "sometimes" and one.verdicts["a2_reads_old"] == "never"
    sampled = explore(sc, mode="random", runs=20, narrate=False)
    assert sampled.verdicts["a2_reads_zero"] == "sometimes"
    assert set(sampled.verdicts) == set(one.verdicts)


def test_the_readme_example_loads() -> None:
    import re

    readme = (Path(__file__).resolve().parents[2] / "scenarios" / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```toml\n(.*?)```", readme, re.DOTALL) if "[[oracle]]" in b]
    tables = block.split("[expect]")[0]  # (the seed has an [expect] table of its own)
    sc = parse_scenario(SEED + "\n" + tables, "s.toml")
    (oracle,) = sc.oracles
    assert (oracle.name, oracle.when) == ("a2_reads_old", "A2.result == 'read 0x10400: read 2'")
    r = explore(sc, "spf-mm-seq", mode="exhaustive", narrate=False)
    assert r.complete and r.verdicts["a2_reads_old"] == "never"


def test_shrink_keeps_the_scenarios_own_oracle_it_shrinks_for(tmp_path: Path) -> None:
    r = spftui("shrink", str(DONTNEED), "--oracle", "a_unmapped", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    small = load_scenario(tmp_path / "dontneed_oracles.min.toml")
    assert "a_unmapped" in {o.name for o in small.oracles}
    assert "b_writable" not in {o.name for o in small.oracles}  # (it names B, shrunk away)
    replay = spftui(
        "check",
        str(tmp_path / "dontneed_oracles.min.toml"),
        "--schedule",
        str(tmp_path / "dontneed_oracles.min.schedule.toml"),
    )
    # (not the scenario with no page mapped, whose oracle holds before any step: that one is refused)
    assert small.processes[0].data  # the page is there before the MADV_DONTNEED
    assert replay.returncode == 0 and "A UNMAPPED at step 3 (A2, zap_pte_range:zap)" in replay.stdout
    bad = spftui("shrink", str(DONTNEED), "--oracle", "nope", "--out", str(tmp_path))
    assert bad.returncode == 2 and "unknown oracle 'nope'" in bad.stderr


def test_a_checkpoint_of_the_search_without_the_oracles_does_not_resume_with_them(tmp_path: Path) -> None:
    """The oracles are not in the scenario's hash: a search without them would have left the
    states it explored unchecked, and the resumed one would call them Never."""
    plain, ck = tmp_path / "plain.toml", tmp_path / "c.ckpt"
    plain.write_text(SEED)
    made = spftui("explore", str(plain), "--mode", "exhaustive", "--max-states", "300", "--checkpoint", str(ck))
    assert made.returncode in (0, 1) and ck.exists(), made.stderr
    mine = tmp_path / "mine.toml"
    mine.write_text(with_oracle('name = "a_seq"\nwhen = "process.A.mmap_seq > 1"'))  # (names no thread: merging stays)
    r = spftui("explore", str(mine), "--mode", "exhaustive", "--resume", str(ck))
    assert r.returncode == 2 and "the checkpoint is of another search: oracles none there" in r.stderr, r.stderr


def test_explore_narrates_a_counterexample_for_every_sometimes() -> None:
    """Two oracles Sometimes: the text narrated only the first (the README says each gets one)."""
    r = spftui("explore", str(DONTNEED), "--policy", "spf-refetch-vma")
    assert r.returncode in (0, 1), r.stderr
    sometimes = [line.split(":")[0].strip() for line in r.stdout.splitlines() if "Sometimes" in line]
    assert len(sometimes) >= 2, r.stdout
    told = [line.split(":")[0].strip() for line in r.stdout.splitlines() if " — " in line and "(steps 1–" in line]
    assert sorted(told) == sorted(sometimes), r.stdout


def test_matrix_marks_a_column_of_another_scenarios_oracle_apart_from_undecided() -> None:
    """A scenario without an oracle another one has showed `?` in its column, which the legend
    reads as "undecided, the search was cut" on searches that completed."""
    r = spftui("matrix", str(DONTNEED), "dontneed_race", "--policies", "classic", "--runs", "2")
    assert r.returncode in (0, 1), r.stderr
    rows = {line.split("|")[1].strip(): line for line in r.stdout.splitlines() if line.startswith("| dontneed")}
    assert "?" not in rows["dontneed_race"] and " – |" in rows["dontneed_race"]
    assert " – |" not in rows["dontneed_oracles"]
    assert "–: the scenario has no such oracle" in " ".join(r.stdout.split())
    data = json.loads(
        spftui("matrix", str(COW), "--policies", "spf-refetch-vma", "--runs", "2", "--json").stdout
    )  # (the cells are not narrated: no empty `narration`)
    cx = data["rows"][0]["counterexample"]
    assert cx is not None and "narration" not in cx
