"""What the command line says to a user who typed something a little wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import ROOT, spftui

SEED = ROOT / "scenarios" / "cow_lost_write.toml"


def test_a_misspelt_command_is_named_with_the_one_meant() -> None:
    r = spftui("chek", "cow_lost_write")
    assert r.returncode == 2 and r.stderr.startswith("spftui: error: unknown command 'chek'; did you mean check?")


@pytest.mark.parametrize(("word", "meant"), [("explroe", "explore"), ("chek", "check"), ("fixs", "fixes")])
def test_a_misspelt_command_alone_is_named_with_the_one_meant(word: str, meant: str) -> None:
    """`spftui explroe` said "cannot read the file" where `spftui chek x` named check."""
    r = spftui(word)
    assert r.returncode == 2 and r.stderr.startswith(f"spftui: error: unknown command '{word}'; did you mean {meant}?")


@pytest.mark.parametrize(
    ("argv", "meant"),
    [(["fix"], "fixes"), (["cov", "cow_lost_write"], "coverage"), (["kern"], "kernel-check"), (["expl"], "explore")],
)
def test_the_start_of_one_command_is_named_with_it(argv: list[str], meant: str) -> None:
    """`spftui fix` (two slips from `fixes`, but its start) said only "no such file, nor a bundled scenario"."""
    r = spftui(*argv)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"spftui: error: unknown command '{argv[0]}'; did you mean {meant}?"), r.stderr


def test_help_as_a_command_names_the_help_option() -> None:
    r = spftui("help")
    assert r.returncode == 2 and r.stderr.startswith("spftui: error: unknown command 'help'; did you mean --help?")
    r = spftui("help", "check")
    assert r.returncode == 2 and "did you mean spftui check --help?" in r.stderr, r.stderr


def test_a_word_alone_that_is_no_command_is_still_read_as_a_scenario() -> None:
    r = spftui("cow_lost_wrte")  # (near a bundled scenario: that one is named)
    assert r.returncode == 2 and "did you mean cow_lost_write?" in r.stderr
    r = spftui("nothing_like_it")
    assert r.returncode == 2 and r.stderr == (
        "spftui: error: nothing_like_it: no such file, nor a bundled scenario of that name "
        "(`spftui scenarios` lists them)\n"
    )


@pytest.mark.parametrize("argv", [["my_race"], ["my_race", "--policy", "classic"], ["dontneed_rac"]])
def test_a_scenario_name_near_a_command_is_read_as_a_scenario_not_as_that_command(argv: list[str]) -> None:
    """`spftui my_race` said "unknown command 'my_race'; did you mean trace?"."""
    r = spftui(*argv)
    assert r.returncode == 2 and "unknown command" not in r.stderr
    assert r.stderr.startswith(f"spftui: error: {argv[0]}: no such file, nor a bundled scenario of that name")


@pytest.mark.parametrize(
    ("word", "meant"),
    [("matirx", "matrix"), ("kernelcheck", "kernel-check"), ("scenario", "scenarios"), ("Tarce", "trace")],
)
def test_a_command_one_or_two_slips_away_is_named_with_the_one_meant(word: str, meant: str) -> None:
    r = spftui(word, "cow_lost_write")
    assert r.returncode == 2 and r.stderr.startswith(f"spftui: error: unknown command '{word}'; did you mean {meant}?")


def test_counts_of_one_read_as_one(tmp_path: Path) -> None:
    """ "finished after 1 steps", "(1 entries, ...)", "stopped after 1 steps"."""
    path = tmp_path / "one.toml"
    path.write_text(
        'title = "t"\n[[process]]\nname = "A"\n  [[process.mapping]]\n  start = 0x10000\n  pages = 1\n'
        '  populate = true\n[[thread]]\nname = "A1"\nprocess = "A"\nops = ["write 0x10000 1"]\n'
        '[schedule]\nsteps = ["A1"]\n'
    )  # (a populated page: the store is one step)
    r = spftui("check", str(path))
    assert r.returncode == 0, r.stderr
    assert "Result: all threads finished after 1 step\n" in r.stdout and "fixed schedule (1 entry, then" in r.stdout
    cut = spftui("check", "cow_lost_write", "--max-steps", "1")
    assert "not judged: the run stopped after 1 step, before its end" in cut.stdout


def test_an_unknown_madvise_advice_is_named_first(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        'title = "t"\n[[process]]\nname = "A"\n  [[process.mapping]]\n  start = 0x10000\n  pages = 1\n'
        '[[thread]]\nname = "A1"\nprocess = "A"\nops = ["madvise 0x10000 1p cold"]\n'
    )
    r = spftui("check", str(path))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.rstrip().endswith(
        "thread[0].ops[0]: unknown madvise advice 'cold' ('dontneed' and 'free' are modelled)"
    ), r.stderr


def test_a_misspelt_bundled_scenario_is_named_with_the_one_meant() -> None:
    r = spftui("check", "cow_lost_writ")
    assert r.returncode == 2
    assert r.stderr == "spftui: error: cow_lost_writ: no such file, nor a bundled scenario of that name; " \
        "did you mean cow_lost_write?\n"  # fmt: skip


def test_a_schedule_with_a_misspelt_key_is_read_as_a_schedule(tmp_path: Path) -> None:
    saved = tmp_path / "s.toml"
    assert spftui("check", str(SEED), "--save-schedule", str(saved)).returncode == 0
    saved.write_text(saved.read_text().replace("\nsteps =", "\nstepz ="))
    r = spftui("check", str(saved))
    assert r.returncode == 2 and "stepz: unknown key 'stepz'; did you mean 'steps'?" in r.stderr


def test_a_scenario_given_as_the_schedule_is_named_a_scenario() -> None:
    r = spftui("check", str(SEED), "--schedule", str(ROOT / "scenarios" / "dontneed_race.toml"))
    assert r.returncode == 2
    assert "dontneed_race.toml:1: title: this is a scenario file, not a schedule" in r.stderr


@pytest.mark.parametrize(
    ("key", "value", "char"), [('title = "', "a\\nb", "000A"), ('description = """', "x\\u001b[31m", "001B")]
)
def test_control_characters_in_the_title_or_description_are_refused(
    tmp_path: Path, key: str, value: str, char: str
) -> None:
    text = SEED.read_text().replace(key, key + value, 1)
    key = key.split()[0]
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    r = spftui("check", str(bad))
    assert r.returncode == 2 and f"{key}: expected" in r.stderr and f"control character U+{char}" in r.stderr


@pytest.mark.parametrize("command", [["check", "cow_lost_write"], ["coverage", "cow_lost_write"]])
def test_a_negative_seed_is_refused_as_explore_refuses_it(command: list[str]) -> None:
    r = spftui(*command, "--seed", "-1")
    assert r.returncode == 2 and "expected a seed (0 or more), found -1" in r.stderr


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda data: data[: len(data) // 8 * 4] + "\n", "its data does not decompress"),
        (lambda data: "%" + data[1:], "its data is not base64"),
    ],
)
def test_a_damaged_checkpoint_says_what_is_wrong(tmp_path: Path, damage: object, said: str) -> None:
    ck = tmp_path / "c.ckpt"
    r = spftui("explore", str(SEED), "--policy", "spf-mm-seq", "--max-states", "300", "--checkpoint", str(ck))
    assert r.returncode in (0, 1) and ck.exists(), r.stderr
    header, data = ck.read_text().split("\n", 1)
    ck.write_text(header + "\n" + damage(data))  # type: ignore[operator]
    r = spftui("explore", str(SEED), "--policy", "spf-mm-seq", "--resume", str(ck))
    assert r.returncode == 2 and f"{ck}:2: the checkpoint is damaged: {said}" in r.stderr


def test_a_checkpoint_of_another_scenario_says_so_first_then_what_else_differs(tmp_path: Path) -> None:
    """It named only the policy: `policy spf-mm-seq there, spf-refetch-vma here`."""
    ck = tmp_path / "c.ckpt"
    made = ["explore", "cow_three_writers_munmap", "--policy", "spf-mm-seq", "--max-states", "300"]
    assert spftui(*made, "--checkpoint", str(ck)).returncode in (0, 1) and ck.exists()
    r = spftui("explore", "cow_lost_write", "--policy", "spf-refetch-vma", "--resume", str(ck))
    assert r.returncode == 2 and r.stderr == (
        f"spftui: error: {ck}:1: the checkpoint is of another search: the scenario differs: "
        "cow_three_writers_munmap there, cow_lost_write here; policy spf-mm-seq there, spf-refetch-vma here\n"
    )
    header, data = ck.read_text().split("\n", 1)
    ck.write_text(header.rpartition(":")[0] + "\n" + data)  # as older versions wrote it: without the scenario's digest
    assert spftui(*made, "--max-states", "400", "--resume", str(ck)).returncode in (0, 1)


def test_a_binary_file_is_no_checkpoint(tmp_path: Path) -> None:
    ck = tmp_path / "c.ckpt"
    ck.write_bytes(bytes(range(128, 256)))
    r = spftui("explore", str(SEED), "--policy", "spf-mm-seq", "--resume", str(ck))
    assert r.returncode == 2 and f"{ck}:1: not an explorer checkpoint (binary data" in r.stderr


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ("violation:lost_wirte", "unknown oracle 'lost_wirte'; did you mean 'lost_write'?"),
        ("abort:seq1", "unknown abort reason 'seq1'; did you mean 'SEQ1'?"),
        ("abort:NOPE", "unknown abort reason 'NOPE' (one of: SEQ1,"),
        ("aba:REFETC", "unknown check 'REFETC'; did you mean 'REFETCH'?"),
        ("step:wp_page_copy:cpy", "no step label 'wp_page_copy:cpy'; did you mean wp_page_copy:copy?"),
    ],
)
def test_a_break_that_could_never_fire_is_refused_as_a_breakpoint_table_is(spec: str, said: str) -> None:
    r = spftui("check", "cow_lost_write", "--break", spec)
    assert r.returncode == 2 and said in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["check", "cow_lost_write", "--seed", "5", "--schedule", "SCHEDULE"], "--seed with a schedule: give one"),
        (["coverage", "cow_lost_write", "--max-states", "5"], "--max-states is for --exhaustive runs"),
        (["coverage", "cow_lost_write", "--depth", "2"], "--depth is for --pct runs"),
        (["coverage", "cow_lost_write", "--exhaustive", "--runs", "5"], "--runs is for random or --pct runs"),
        (["matrix", "cow_lost_write", "--policies", "all,classic"], "'all' stands alone"),
        (["explore", "cow_lost_write", "--depth", "2"], "--depth is for --mode pct, not --mode auto"),
        (["explore", "cow_lost_write", "--mode", "exhaustive", "--runs", "9"], "--runs is for --mode random or pct"),
        (["kernel-check", "--scenario", "cow_lost_write", "--seeds", "5"], "--seeds choose the random sequences"),
    ],
)
def test_an_option_the_run_would_ignore_is_refused(tmp_path: Path, args: list[str], said: str) -> None:
    schedule = tmp_path / "s.toml"
    assert spftui("check", str(SEED), "--save-schedule", str(schedule)).returncode == 0
    r = spftui(*(str(schedule) if a == "SCHEDULE" else a for a in args))
    assert r.returncode == 2 and said in r.stderr and r.stdout == ""


@pytest.mark.parametrize("argv", [[], ["cow_lost_write"], ["cow_lost_write", "--policy", "spf-mm-seq"]])
def test_the_debugger_still_opens_without_a_command(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> None:
    """The misspelt-command check must let the picker (no arguments) and a scenario through."""
    from spftui import cli

    opened: list[object] = []
    monkeypatch.setattr(cli, "open_tui", lambda args: opened.append(args.scenario) or 0)
    assert cli.main(argv) == 0 and opened == [argv[0] if argv else None]


@pytest.mark.parametrize("option", [["--policy", "classic"], ["--reuse", "page-count"], ["--fix", "foll_cow=off"]])
def test_session_refuses_what_it_would_replace(tmp_path: Path, option: list[str]) -> None:
    r = spftui("cow_lost_write", "--session", str(tmp_path / "s.toml"), *option)
    assert r.returncode == 2 and "--session replaces --schedule, --seed, --policy, --reuse and --fix" in r.stderr
    assert "needs a scenario" not in r.stderr  # (it was given one)


def test_session_without_a_scenario_says_how_to_give_one(tmp_path: Path) -> None:
    r = spftui("--session", str(tmp_path / "s.toml"))
    assert r.returncode == 2 and "--session needs a scenario: spftui SCENARIO --session FILE" in r.stderr


def test_first_does_not_say_the_search_goes_on() -> None:
    r = spftui("explore", "history_dirty_cow", "--fix", "foll_cow=off", "--first", "--no-save")
    assert "file_integrity sometimes (found in" in r.stderr and "the search goes on" not in r.stderr
    assert "the search goes on" in spftui("explore", "history_dirty_cow", "--fix", "foll_cow=off", "--no-save").stderr


def test_why_force_says_only_what_why_does() -> None:
    r = spftui("why", "--help")
    assert "replay a schedule recorded on another scenario" in r.stdout and "--save-schedule" not in r.stdout


def test_session_schedule_and_scenario_files_given_in_each_others_place_are_named(tmp_path: Path) -> None:
    from spftui.engine.session import Session
    from spftui.engine.session_file import save_session
    from spftui.scenario import load_scenario

    session = save_session(Session(load_scenario(SEED)), str(tmp_path / "s.session.toml"))
    schedule = tmp_path / "s.schedule.toml"
    assert spftui("check", str(SEED), "--save-schedule", str(schedule)).returncode == 0
    for args, said in (
        (["check", session], "this is a session file, not a scenario: open it with spftui SCENARIO --session"),
        (["check", str(SEED), "--schedule", session], "this is a session file, not a schedule"),
        (["cow_lost_write", "--session", str(schedule)], "steps: this is a schedule file (give it as --schedule"),
        (["cow_lost_write", "--session", str(SEED)], ":1: title: this is a scenario file, not a session"),
    ):
        r = spftui(*args)
        assert r.returncode == 2 and said in r.stderr, (args, r.stderr)


def test_fixes_takes_names_and_names_the_one_meant() -> None:
    r = spftui("fixes", "foll_cow")
    assert r.returncode == 0 and r.stdout.startswith("foll_cow  (19be0eaffa3a)") and "gup_unshare" not in r.stdout
    r = spftui("fixes", "foll_cw")
    assert r.returncode == 2 and "no modelled fix 'foll_cw'; did you mean foll_cow?" in r.stderr


def test_check_and_trace_say_which_fixes_are_off() -> None:
    for command in ("check", "trace"):
        r = spftui(command, "history_dirty_cow", "--fix", "foll_cow=off")
        assert "· fixes off: foll_cow ·" in " ".join(r.stdout.splitlines()[:2]), command


def test_matrix_says_which_fixes_are_off_in_text_and_json() -> None:
    options = ["--fix", "foll_cow=off", "--policies", "classic", "--runs", "0"]
    r = spftui("matrix", "history_dirty_cow", *options)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Fixes off: foll_cow.\n\n| scenario |")
    rows = json.loads(spftui("matrix", "history_dirty_cow", *options, "--json").stdout)["rows"]
    assert [row["fixes_off"] for row in rows] == [["foll_cow"]]
    plain = spftui("matrix", "history_dirty_cow", "--policies", "classic", "--runs", "0")
    assert plain.stdout.startswith("| scenario |")  # every fix in: no line


def test_which_expect_table_judges_a_run_with_fixes_off_as_scenarios_readme_says() -> None:
    """scenarios/README.md, "Expectations": a run whose fixes differ from the file's own is
    judged only by an [expect.fixes_off.NAME] table of a fix it lacks, under the own policy."""

    def table(*options: str) -> str | None:
        r = spftui("check", "history_fork_vma_lock", *options, "--json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["expect_table"]  # type: ignore[no-any-return]

    assert table() == "[expect.anon-exclusive]"
    assert table("--fix", "fork_vma_write_lock=off") == "[expect.fixes_off.fork_vma_write_lock]"
    off_twice = ("--fix", "fork_vma_write_lock=off", "--fix", "foll_cow=off")
    assert table(*off_twice) == "[expect.fixes_off.fork_vma_write_lock]"
    assert table("--fix", "foll_cow=off") is None  # no table for that fix: not the plain one either
    assert table("--fix", "fork_vma_write_lock=off", "--policy", "classic") is None  # (another policy)
    assert table("--policy", "classic") == "[expect.anon-exclusive]"


def test_explore_says_when_no_expect_table_is_for_its_runs(tmp_path: Path) -> None:
    """The file's [expect] is for 6.4.0, which lacks fork_vma_write_lock; a run with it put
    back is another configuration, not judged by that table: explore said nothing at all."""
    path = tmp_path / "s.toml"
    path.write_text(
        'title = "t"\nkernel = "6.4.0"\n[[process]]\nname = "A"\n  [[process.mapping]]\n  start = 0x10000\n'
        '  pages = 1\n[[thread]]\nname = "A1"\nprocess = "A"\nops = ["write 0x10000 1"]\n'
        '[expect]\nlost_write = "never"\n'
    )
    r = spftui("explore", str(path), "--fix", "fork_vma_write_lock=on", "--no-save")
    assert r.returncode == 0, r.stderr
    want = "No [expect] table of the file is for these runs (policy vma-lock, reuse anon-exclusive, fixes off: none)"
    assert want in r.stdout
    assert "Expectations hold." in spftui("explore", str(path), "--no-save").stdout


def test_a_schedule_of_another_scenario_says_so_before_naming_its_threads(tmp_path: Path) -> None:
    """Its first entry names A3, which cow_lost_write lacks: "unknown thread 'A3'" hid that
    the file was recorded on another scenario, and that --force is the way to replay it."""
    saved = tmp_path / "fork.schedule.toml"
    assert spftui("check", "history_fork_vma_lock", "--save-schedule", str(saved)).returncode == 0
    r = spftui("check", "cow_lost_write", "--schedule", str(saved))
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert f"{saved}:" in r.stderr and ": scenario_hash: recorded on 'history_fork_vma_lock' (" in r.stderr
    assert "not on 'cow_lost_write'" in r.stderr and "(use --force to replay it anyway)" in r.stderr
    assert "unknown thread" not in r.stderr
    forced = spftui("check", "cow_lost_write", "--schedule", str(saved), "--force")  # (its threads do not exist here)
    assert forced.returncode == 2 and "steps[0]: unknown thread 'A3'" in forced.stderr


def another_version_schedule(tmp_path: Path) -> Path:
    """A schedule saved on cow_lost_write whose scenario_hash is another version's."""
    saved = tmp_path / "v.schedule.toml"
    assert spftui("check", "cow_lost_write", "--save-schedule", str(saved)).returncode == 0
    saved.write_text(saved.read_text().replace('scenario_hash = "sha256:aca8', 'scenario_hash = "sha256:0000'))
    return saved


def test_a_schedule_of_another_version_of_the_scenario_names_it_once(tmp_path: Path) -> None:
    """It said "recorded on 'cow_lost_write' (…), not on 'cow_lost_write' (…)"."""
    saved = another_version_schedule(tmp_path)
    r = spftui("check", str(saved))
    line = next(i for i, x in enumerate(saved.read_text().splitlines(), 1) if x.startswith("scenario_hash"))
    assert r.returncode == 2 and r.stderr == (
        f"spftui: error: {saved}:{line}: scenario_hash: recorded on another version of 'cow_lost_write' "
        "(sha256:00001a3e8f94), this one is (sha256:aca81a3e8f94): its processes, mappings or threads differ "
        "(use --force to replay it anyway)\n"
    )


def test_a_damaged_scenario_hash_is_named_as_such(tmp_path: Path) -> None:
    saved = tmp_path / "s.schedule.toml"
    assert spftui("check", "cow_lost_write", "--save-schedule", str(saved)).returncode in (0, 1)
    text = saved.read_text()
    digest = text.split('scenario_hash = "', 1)[1].split('"', 1)[0]
    saved.write_text(text.replace(digest, "md5:" + digest[7:]))
    r = spftui("check", "cow_lost_write", "--schedule", str(saved))
    assert r.returncode == 2 and "scenario_hash: expected sha256: and 64 hex digits" in r.stderr


@pytest.mark.parametrize("command", ["explore", "matrix"])
def test_timeout_says_it_counts_wall_clock_seconds(command: str) -> None:
    """The search's deadline is time.monotonic(): elapsed time, which a loaded machine spends on others too."""
    help_text = " ".join(spftui(command, "--help").stdout.split())
    assert "--timeout SECONDS cut " in help_text and "wall-clock seconds, not CPU time" in help_text


def test_explore_with_no_table_for_the_run_names_the_runs_reuse_rule_not_the_files() -> None:
    r = spftui("explore", "spf_abort_munmap", "--reuse", "anon-exclusive", "--max-states", "200")
    assert r.returncode == 0, r.stderr
    assert "reuse anon-exclusive, fixes off: none): nothing judged" in r.stdout


@pytest.mark.parametrize(
    ("args", "command", "hint"),
    [
        (["check", "cow_lost_write", "--bogus"], "check", ""),
        (["check", "cow_lost_write", "--jsn"], "check", "; did you mean --json?"),
        (["why", "cow_lost_write", "A1.vmf", "--step", "20"], "why", "; did you mean --at?"),  # (--at STEP)
    ],
)
def test_an_unknown_option_gets_the_commands_own_usage_and_a_hint(args: list[str], command: str, hint: str) -> None:
    r = spftui(*args)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith(f"usage: spftui {command} "), r.stderr
    unknown = " ".join(args[args.index(next(a for a in args if a.startswith("--"))) :])
    assert r.stderr.splitlines()[-1] == f"spftui {command}: error: unrecognized arguments: {unknown}{hint}"


def test_the_debuggers_launcher_names_the_option_meant_too() -> None:
    r = spftui("cow_lost_write", "--polcy", "classic")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines()[-1] == "spftui: error: unrecognized arguments: --polcy classic; did you mean --policy?"


@pytest.mark.parametrize(
    ("expr", "quoted"),
    [
        (
            " + ".join(["A.mmap_seq"] * 2_400),
            "(at column 10001 of '… A.mmap_seq + A.mmap_seq + A.mmap_seq + A.mmap_seq + A.mmap_…')",
        ),
        (
            "A.mmap_seq + " * 100 + "A.nope",
            "(at column 1303 of '…+ A.mmap_seq + A.mmap_seq + A.mmap_seq + A.mmap_seq + A.nope')",
        ),
    ],
    ids=["too long", "bad name far in"],
)
def test_a_long_breakpoint_expression_is_quoted_in_part_around_its_column(
    tmp_path: Path, expr: str, quoted: str
) -> None:
    """The error quoted all 26,000 characters of it."""
    path = tmp_path / "long.toml"
    path.write_text(SEED.read_text() + f'\n[[breakpoint]]\nwhen = "{expr}"\n')
    r = spftui("check", str(path))
    assert r.returncode == 2 and r.stderr.endswith(quoted + "\n") and len(r.stderr) < 400, r.stderr


@pytest.mark.parametrize(
    "command", ["check", "trace", "explore", "matrix", "kernel-check", "diff", "coverage", "shrink", "fuzz"]
)
def test_the_commands_that_run_something_say_what_they_do_and_their_exit_statuses(command: str) -> None:
    """`trace --help` had neither a description nor an exit-status line."""
    r = spftui(command, "--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    assert "Exit status" in text and "130" in text and " 2 " in text
    description = r.stdout.split("\n\n")[1]  # (after the usage)
    assert not description.lstrip().startswith(("positional", "options")), r.stdout
