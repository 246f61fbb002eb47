"""Where `check` and `trace` write: -o files, --save-schedule, a closed pipe, a full
device, a cut run's verdicts, and checkpoints two searches would share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_run import ROOT, spftui

SEED = str(ROOT / "scenarios" / "cow_lost_write.toml")


def test_trace_o_writes_the_text_or_json_trace_and_never_over_a_file_without_force(tmp_path: Path) -> None:
    text, lines = tmp_path / "t.txt", tmp_path / "t.jsonl"
    r = spftui("trace", SEED, "-o", str(text))
    assert r.returncode == 0 and r.stdout == f"wrote {text}: 54 steps\n"
    assert "wp_page_copy:pte_same" in text.read_text() and "all threads finished" in text.read_text()
    assert spftui("trace", SEED, "--json", "-o", str(lines)).returncode == 0
    assert len(lines.read_text().splitlines()) == 54
    text.write_text("mine\n")
    r = spftui("trace", SEED, "-o", str(text))
    assert r.returncode == 2 and "already exists (use --force" in r.stderr and r.stdout == ""
    assert text.read_text() == "mine\n"
    assert spftui("trace", SEED, "-o", str(text), "--force").returncode == 0
    assert text.read_text().startswith("COW lost write")


def test_perfetto_with_json_is_refused(tmp_path: Path) -> None:
    r = spftui("trace", SEED, "--format", "perfetto", "--json", "-o", str(tmp_path / "p.json"))
    assert r.returncode == 2 and "JSON already" in r.stderr and not (tmp_path / "p.json").exists()


@pytest.mark.parametrize("command", [["trace", SEED, "-o"], ["trace", SEED, "--format", "perfetto", "-o"]])
def test_force_never_turns_a_fifo_or_a_directory_into_a_file(tmp_path: Path, command: list[str]) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    r = spftui(*command, str(fifo), "--force")
    assert r.returncode == 2 and "not a regular file" in r.stderr
    assert fifo.is_fifo()
    r = spftui(*command, str(tmp_path), "--force")
    assert r.returncode == 2 and "is a directory" in r.stderr


@pytest.mark.parametrize("name", ["", "DIR"])
def test_save_schedule_is_checked_before_the_run(tmp_path: Path, name: str) -> None:
    r = spftui("check", SEED, "--save-schedule", str(tmp_path) if name == "DIR" else name)
    assert r.returncode == 2 and r.stdout == ""
    assert ("is a directory" if name else "expected a file name, found an empty one") in r.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["check", SEED, "--save-schedule"],
        ["check", SEED, "--break", "abort", "--save-schedule"],
        ["trace", SEED, "-o"],
        ["trace", SEED, "--format", "perfetto", "-o"],
    ],
)
def test_a_missing_directory_is_named_before_the_run(tmp_path: Path, command: list[str]) -> None:
    """It was refused only after the whole run and its report (up to 1M steps)."""
    target = tmp_path / "nodir" / "x.toml"
    r = spftui(*command, str(target))
    assert r.returncode == 2 and r.stdout == "", r.stdout
    assert f"{target}: cannot write the " in r.stderr and f"no such directory: {tmp_path / 'nodir'}" in r.stderr


def test_ctrl_c_while_the_schedule_is_written_waits_for_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C in the seconds a 1M-step schedule takes to write dropped the file, unsaid."""
    import signal

    from spftui.engine import schedule_file

    real = schedule_file.write_schedule

    def ctrl_c_then_write(*args: object, **kw: object) -> object:
        os.kill(os.getpid(), signal.SIGINT)  # (as if typed while it writes)
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(schedule_file, "write_schedule", ctrl_c_then_write)
    saved = tmp_path / "s.schedule.toml"
    r = spftui("check", SEED, "--save-schedule", str(saved))
    assert r.returncode == 130 and "Result:" in r.stdout
    assert r.stderr == f"spftui: interrupted (after writing {saved})\n"
    assert spftui("check", SEED, "--schedule", str(saved)).returncode == 0  # whole: it replays


def test_a_run_cut_by_max_steps_does_not_judge_sometimes() -> None:
    r = spftui("check", SEED, "--max-steps", "5")
    assert r.returncode == 0, r.stdout
    assert "not judged: the run stopped after 5 steps" in r.stdout and "do NOT hold" not in r.stdout


@pytest.mark.parametrize("stop", [["--max-steps", "13"], ["--break", "step:wp_page_copy:copy"]])
def test_a_run_cut_short_does_not_judge_never_either(stop: list[str]) -> None:
    """Under spf-mm-seq the seed's [expect] says lost_write never: 13 steps of it proved nothing
    ("holds" in --json, judged on a tenth of the run)."""
    r = spftui("check", SEED, "--policy", "spf-mm-seq", *stop, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["steps"] == 13 and out["expect_status"] == "not judged", out
    assert out["expect"]["lost_write"]["verdict"] == "not judged"
    assert out["expect"]["lost_write"]["note"] == "not judged: the run stopped after 13 steps, before its end"


def _process(args: list[str], stdout: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "spftui", *args], stdout=stdout, stderr=subprocess.PIPE, env=env)


@pytest.mark.parametrize("command", ["check", "trace"])
def test_a_reader_that_goes_away_is_not_a_failed_check(command: str) -> None:
    with _process([command, SEED], subprocess.PIPE) as p:
        assert p.stdout is not None and p.stderr is not None
        p.stdout.read(10)  # `| head -c 10`
        p.stdout.close()
        err = p.stderr.read()
        assert p.wait(60) == 0 and err == b""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_output_device_is_an_error_not_a_traceback() -> None:
    with open("/dev/full", "w") as full, _process(["check", SEED], full.fileno()) as p:
        assert p.stderr is not None
        err = p.stderr.read().decode()
        assert p.wait(60) == 2
    assert err == "spftui: error: cannot write the output: No space left on device\n"


def test_a_checkpoint_another_search_wrote_is_not_replaced(tmp_path: Path) -> None:
    from spftui.engine.files import WriteError
    from spftui.engine.resume import CheckpointFile

    path = str(tmp_path / "c.ckpt")
    mine, theirs = CheckpointFile(path), CheckpointFile(path)  # both began with the name free
    theirs.save("theirs", {"stack": 1})
    with pytest.raises(WriteError, match="another program wrote this file since this search began"):
        mine.save("mine", {"stack": 2})
    theirs.save("theirs", {"stack": 3})  # its own file: replaced, save after save
    Path(path).write_text("edited\n")
    with pytest.raises(WriteError, match="since this search saved it"):
        theirs.save("theirs", {"stack": 4})
    assert Path(path).read_text() == "edited\n"
    forced = CheckpointFile(path)  # --force: the file that is there at the start may go
    forced.save("forced", {"stack": 5})
    assert Path(path).read_text().split()[2] == "forced"


def test_save_schedule_with_break_saves_the_run_up_to_the_stop(tmp_path: Path) -> None:
    saved = tmp_path / "brk.toml"
    r = spftui("check", SEED, "--break", "step:wp_page_copy:copy", "--save-schedule", str(saved))
    assert r.returncode == 0 and "Stopped after step 13" in r.stdout
    assert "stop_at = 13" in saved.read_text() and "breakpoint 1" in saved.read_text()
    r = spftui("trace", SEED, "--schedule", str(saved), "--json", "--max-steps", "13")
    assert r.returncode == 0 and r.stdout.splitlines()[-1].count('"label": "wp_page_copy:alloc_page"') == 1


@pytest.mark.parametrize("command", [["check", SEED], ["why", SEED, "A.mmap_seq"], ["fixes"]])
def test_an_output_that_cannot_encode_the_reports_characters_gets_question_marks(command: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "ascii"}
    r = subprocess.run([sys.executable, "-m", "spftui", *command], capture_output=True, env=env, timeout=60)
    assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr
    assert r.stdout.isascii() and b"?" in r.stdout


def test_columns_0_is_taken_as_80() -> None:
    r = spftui("check", SEED, env={**os.environ, "COLUMNS": "0"})  # Rich printed nothing at width 0
    assert r.returncode == 0 and "expectations hold" in r.stdout and "LOST WRITE at step 52" in r.stdout


def test_trace_o_dash_is_standard_output(tmp_path: Path) -> None:
    r = spftui("trace", SEED, "-o", "-", cwd=tmp_path)
    assert r.returncode == 0 and "wp_page_copy:pte_same" in r.stdout and os.listdir(tmp_path) == []


def test_the_trace_shows_tlb_flushes_the_tlb_races_turn_on() -> None:
    r = spftui("trace", "history_uffd_wp_flush")
    assert r.returncode == 0, r.stderr
    flush = next(line for line in r.stdout.splitlines() if "change_protection:flush_tlb_range" in line)
    assert flush.rstrip().endswith("TLB flush A 0x10000..0x11000"), flush


EXPLORE_FIRST = ["explore", "cow_lost_write", "--policy", "spf-refetch-vma", "--first"]


def on_a_terminal(*args: str, columns: int) -> list[str]:
    """The lines `spftui ARGS` shows on a terminal `columns` wide (a pty: stdout is a tty)."""
    import pty

    main, tty = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "spftui", *args], stdout=tty, stderr=subprocess.DEVNULL, env=env)
    os.close(tty)
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # (EIO: the process closed its end)
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    assert proc.wait(timeout=300) == 0
    return out.decode().replace("\r\n", "\n").splitlines()


@pytest.mark.parametrize("command", [EXPLORE_FIRST, ["fixes"]], ids=["explore", "fixes"])
def test_prose_wraps_to_the_terminals_columns_and_is_whole_lines_into_a_pipe(command: list[str]) -> None:
    """Narrations, hints and a fix's story were filled to 100 columns, a terminal's width or not."""
    piped = spftui(*command, env={**os.environ, "COLUMNS": "80"}).stdout.splitlines()
    prose = max(piped, key=len)  # a narration, the not-saved hint or a fix's story: one line when piped
    assert len(prose) > 200
    shown = on_a_terminal(*command, columns=80)
    start = next(i for i, line in enumerate(shown) if line and prose.startswith(line))
    words, end = prose.split(), start
    while len(" ".join(shown[start:end]).split()) < len(words):
        end += 1
    assert " ".join(shown[start:end]).split() == words and end - start > 2
    assert all(len(line) <= 80 for line in shown[start:end])


def test_ctrl_c_during_check_prints_the_report_of_the_steps_run_so_far(monkeypatch: pytest.MonkeyPatch) -> None:
    """It printed only `spftui: interrupted`."""
    import signal

    from spftui.engine.session import Session

    run = Session.run

    def run_then_ctrl_c(self: Session, limit: int = 1_000_000) -> object:
        stop = run(self, limit)
        os.kill(os.getpid(), signal.SIGINT)  # (as if typed during the first slice)
        return stop

    monkeypatch.setattr("spftui.cli.RUN_SLICE", 20)
    monkeypatch.setattr(Session, "run", run_then_ctrl_c)
    r = spftui("check", SEED)
    assert r.returncode == 130 and r.stderr == ""
    steps = [line.split()[0] for line in r.stdout.splitlines() if line[:5].strip().isdigit()]
    assert steps == [str(n) for n in range(1, 21)]
    assert "Result: interrupted after 20 steps\n" in r.stdout and "Violations: none" in r.stdout
    assert "not judged: the run stopped after 20 steps, before its end" in r.stdout
    j = json.loads(spftui("check", SEED, "--json").stdout)
    assert (j["stop"], j["stop_text"], j["steps"]) == ("interrupted", "interrupted after 20 steps", 20)


@pytest.mark.parametrize("command", [["check", "cow_lost_write"], ["trace", "cow_lost_write"]])
def test_rows_with_nothing_in_what_happened_end_without_spaces(command: list[str]) -> None:
    """Their label column was padded to 38 characters, with nothing after it."""
    r = spftui(*command)
    assert r.returncode == 0 and "    3  A1     do_user_addr_fault:spf_find_vma\n" in r.stdout
    assert [line for line in r.stdout.splitlines() if line != line.rstrip()] == []


@pytest.mark.parametrize("policy", ["spf-mm-seq", "spf-vma-seq"])
def test_a_single_threaded_fault_says_why_it_takes_the_classic_path(tmp_path: Path, policy: str) -> None:
    """Both SPF series skip the speculative path when mm_users is 1: the trace said nothing, so six
    policies giving one state count looked like SPF was broken."""
    path = tmp_path / "one.toml"
    path.write_text(
        f'title = "one thread"\npolicy = "{policy}"\n[[process]]\nname = "A"\n  [[process.mapping]]\n'
        '  start = 0x10000\n  pages = 1\n  prot = "rw"\n[[thread]]\nname = "A1"\nprocess = "A"\nops = ["write 0x10000 1"]\n'
    )
    r = spftui("trace", str(path))
    assert r.returncode == 0, r.stderr
    assert "A1 takes the classic path: mm_users 1 (a single-threaded A)" in r.stdout


def test_check_stopped_at_a_breakpoint_says_which_expectation_already_failed(tmp_path: Path) -> None:
    """--json said expect_ok false; the text listed the steps and the stop, and nothing of it."""
    path = tmp_path / "q.toml"
    text = (ROOT / "scenarios" / "cow_lost_write.toml").read_text()
    path.write_text(text + '\n[[oracle]]\nname = "q"\nwhen = "A1.label == \\"do_wp_page:reuse_check\\""\n')
    path.write_text(path.read_text().replace("[expect]\n", '[expect]\nq = "never"\n', 1))
    r = spftui("check", str(path), "--break", "step:wp_page_copy:copy")
    assert r.returncode == 0, r.stderr  # (a breakpoint fired: exit 0, as --help says)
    assert "Expectations that fail on this run ([expect]): q expected never, observed sometimes" in r.stdout
    assert (
        json.loads(spftui("check", str(path), "--break", "step:wp_page_copy:copy", "--json").stdout)["expect_ok"]
        is False
    )
