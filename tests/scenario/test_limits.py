"""Input hardening: what files are read, and the limits a scenario must stay within.

Each limit is checked through the loader (a located `file:line: key: message`)
and the file checks through the command line a user runs (exit 2, no traceback).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_run import spftui, spftui_process

from spftui.scenario import (
    MAX_SCENARIO_BYTES,
    ScenarioError,
    load_scenario,
    load_schedule_file,
    parse_entry,
    parse_scenario,
    parse_schedule_meta,
    resolve_scenario,
)
from spftui.scenario.model import MAX_MAPPING_PAGES, MAX_SETUP_PAGES, MAX_STEPS, MAX_THREADS

ROOT = Path(__file__).resolve().parents[2]


def assert_refused(r: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("spftui: error: "), r.stderr
    for fragment in fragments:
        assert fragment in r.stderr


# ---------------------------------------------------------------- files


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_check_refuses_a_device_before_reading_it(device: str) -> None:
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    assert_refused(spftui("check", device), f"{device}: cannot read the file: it is a character device")
    assert_refused(
        spftui("check", "cow_lost_write", "--schedule", device), f"{device}: cannot read the file", "character device"
    )


def test_check_refuses_a_fifo_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    start = time.monotonic()
    assert_refused(spftui_process("check", str(fifo), timeout=20), "it is a FIFO (named pipe), not a regular file")
    assert_refused(spftui_process("check", "cow_lost_write", "--schedule", str(fifo), timeout=20), "FIFO")
    assert time.monotonic() - start < 20


def test_check_refuses_a_directory(tmp_path: Path) -> None:
    assert_refused(spftui("check", str(tmp_path)), str(tmp_path), "cannot read the file")


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (MAX_SCENARIO_BYTES + 1))
    with pytest.raises(ScenarioError, match=r"too large: 1,048,577 bytes \(at most 1,048,576\)") as info:
        load_scenario(big)
    assert info.value.path == str(big)
    assert_refused(spftui("check", str(big)), "the file is too large")


def test_a_long_name_is_a_missing_file_not_an_oserror_traceback() -> None:
    name = "a" * 251
    assert resolve_scenario(name) == name
    assert_refused(spftui("check", name), f"{name}: no such file, nor a bundled scenario of that name")
    assert_refused(spftui("check", "x/" + "b" * 300), "cannot read the file")


def test_a_nul_in_the_name_is_a_clear_error() -> None:
    with pytest.raises(ScenarioError, match="cannot read the file"):
        load_scenario("a\0b")


def test_bundled_names_resolve_in_the_scenario_package() -> None:
    assert Path(resolve_scenario("cow_lost_write")).name == "cow_lost_write.toml"
    assert Path(resolve_scenario("cow_lost_write.toml")).name == "cow_lost_write.toml"
    assert resolve_scenario("../cow_lost_write") == "../cow_lost_write"  # only plain names are bundled names


def test_the_explore_command_does_not_import_the_main_cli() -> None:
    code = "import sys, spftui.explore_cli; assert 'spftui.cli' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_a_schedule_may_be_larger_than_a_scenario(tmp_path: Path) -> None:
    lines = ["steps = ["] + ['  "A1",'] * 200_000 + ["]"]
    path = tmp_path / "long.schedule.toml"
    path.write_text("\n".join(lines))
    assert path.stat().st_size > MAX_SCENARIO_BYTES
    assert len(load_schedule_file(path, threads=["A1"]).entries) == 200_000


# ---------------------------------------------------------------- limits

PROCESS = '[[process]]\nname = "A"\n[[process.mapping]]\nstart = 0x10000\npages = 1\n'


def thread(name: str, ops: str = '"read 0x10000"', extra: str = "") -> str:
    return f'[[thread]]\nname = "{name}"\nprocess = "A"\nops = [{ops}]\n{extra}'


def error_of(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.toml")
    return info.value


def line_of(text: str, needle: str, occurrence: int = 0) -> int:
    at = -1
    for _ in range(occurrence + 1):
        at = text.index(needle, at + 1)
    return text.count("\n", 0, at) + 1


def test_the_thread_limit_is_accepted_and_one_more_is_refused_at_that_thread() -> None:
    head = 'title = "t"\n' + PROCESS
    ok = head + "".join(thread(f"T{i}") for i in range(MAX_THREADS))
    assert len(parse_scenario(ok).threads) == MAX_THREADS
    over = ok + thread("extra")
    err = error_of(over)
    assert (err.key, err.line) == (f"thread[{MAX_THREADS}]", line_of(over, 'name = "extra"') - 1)
    assert err.message == f"too many threads: {MAX_THREADS + 1} (at most {MAX_THREADS})"


def test_the_process_limit_counts_fork_children() -> None:
    procs = "".join(f'[[process]]\nname = "P{i}"\n' for i in range(126))
    text = f'title = "t"\n{procs}{PROCESS}' + thread("T", '"fork C1", "fork C2"')
    err = error_of(text)
    assert (err.key, err.line) == ("thread[0].ops[1]", line_of(text, '"fork C1"'))
    assert "too many processes" in err.message and "'C2'" in err.message


def test_a_mapping_over_the_page_limit_is_refused_at_its_size() -> None:
    text = f'title = "t"\n[[process]]\nname = "A"\n[[process.mapping]]\nstart = 0\npages = {MAX_MAPPING_PAGES + 1}\n'
    text += thread("T")
    err = error_of(text)
    assert (err.key, err.line) == ("process[0].mapping[0].pages", line_of(text, "pages ="))
    assert "too large (at most 1,048,576 pages" in err.message
    err = error_of(text.replace(f"pages = {MAX_MAPPING_PAGES + 1}", "length = 0x7fff00000000"))
    assert err.key == "process[0].mapping[0].length" and "too large" in err.message


def test_an_mmap_op_over_the_page_limit_is_refused_but_munmap_of_any_user_range_is_not() -> None:
    text = 'title = "t"\n' + PROCESS + thread("T", f'"mmap 0x100000 {MAX_MAPPING_PAGES + 1}p rw"')
    err = error_of(text)
    assert err.key == "thread[0].ops[0]" and "too large" in err.message
    huge = ['"munmap 0x0 0x7ffffffff000"', '"mprotect 0x0 0x7ffffffff000 r"', '"madvise 0x0 0x7ffffffff000 dontneed"']
    sc = parse_scenario('title = "t"\n' + PROCESS + thread("T", ", ".join(huge)))
    assert [op.length for op in sc.threads[0].ops] == [0x7FFFFFFFF000] * 3
    for bad, why in [
        ("munmap 0x1000 0x800000000000", "ends above 0x800000000000"),
        ("mprotect 0x800000000000 1p r", "below 0x800000000000"),
        ("madvise 0x10 1p dontneed", "page-aligned"),
        ("munmap 0x10000 0x10", "positive multiple of 0x1000"),
    ]:
        err = error_of('title = "t"\n' + PROCESS + thread("T", f'"{bad}"'))
        assert err.key == "thread[0].ops[0]" and why in err.message, str(err)


def test_pages_present_at_setup_are_capped_across_processes_and_forks() -> None:
    half = MAX_SETUP_PAGES // 2
    text = f"""title = "t"
[[process]]
name = "A"
[[process.mapping]]
start = 0x10000
pages = {half}
populate = true
[[process]]
name = "B"
fork_of = "A"
[[process]]
name = "C"
data = {{ "0x10000" = 1 }}
[[process.mapping]]
start = 0x10000
pages = 1
""" + thread("T")
    err = error_of(text)  # B inherits all of A's pages: one page over
    assert (err.key, err.line) == ("process[2].data", line_of(text, "data ="))
    assert f"{MAX_SETUP_PAGES + 1:,} in all processes (at most {MAX_SETUP_PAGES:,})" in err.message
    assert parse_scenario(text.replace('data = { "0x10000" = 1 }\n', ""))
    err = error_of(text.replace(f"pages = {half}", f"pages = {MAX_SETUP_PAGES + 1}"))
    assert err.key == "process[0].mapping[0].populate"


def test_a_ten_thousand_page_scenario_loads_and_runs() -> None:
    from spftui.engine.session import Session

    text = (
        'title = "t"\n[[process]]\nname = "A"\n[[process.mapping]]\nstart = 0x10000\npages = 10000\npopulate = true\n'
    )
    text += thread("T", '"write 0x10000 1", "munmap 0x10000 10000p"')
    session = Session(parse_scenario(text))
    assert session.run(limit=10_000).kind == "finished"


def test_step_counts_repeat_and_stop_at_are_capped_at_the_run_limit() -> None:
    assert parse_entry(f"A1 {MAX_STEPS}").steps == MAX_STEPS
    with pytest.raises(ScenarioError, match="step count of at most 1,000,000"):
        parse_entry(f"A1 {MAX_STEPS + 1}")
    text = 'title = "t"\n' + PROCESS + thread("T", extra=f"repeat = {MAX_STEPS + 1}\n")
    err = error_of(text)
    assert (err.key, err.line) == ("thread[0].repeat", line_of(text, "repeat"))
    assert "repeat count of at most 1,000,000" in err.message
    with pytest.raises(ScenarioError, match=r"stop_at: expected a step number from 0 to 1,000,000, found 1000001"):
        parse_schedule_meta(f"stop_at = {MAX_STEPS + 1}\nsteps = []\n", "x.toml")


def test_limits_reach_the_command_line_as_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "many.toml"
    path.write_text('title = "t"\n' + PROCESS + "".join(thread(f"T{i}") for i in range(MAX_THREADS + 1)))
    r = spftui("check", str(path))
    assert_refused(r, f"{path}:", f"thread[{MAX_THREADS}]: too many threads")
