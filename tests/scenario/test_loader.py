"""Tests for the scenario loader: the format, its located errors, schedules."""

from __future__ import annotations

import operator
import pickle
import random
import re
import string
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spftui.scenario import (
    PAGE_SIZE,
    Op,
    Scenario,
    ScenarioError,
    ScheduleEntry,
    bundled_scenarios_dir,
    dump_schedule,
    list_bundled,
    load_scenario,
    parse_entry,
    parse_op,
    parse_scenario,
    parse_schedule,
    parse_schedule_file,
    parse_schedule_meta,
)
from spftui.scenario.locate import KeyPath, Locator, format_key

EXAMPLE = """\
title = "COW lost write (Lespinasse 2021)"
description = \"\"\"
A1 writes through a stale TLB entry while B's fault copies the page.
\"\"\"
policy = "spf-refetch-vma"
kernel = "5.8"
words_per_page = 4
seed = 7

[[process]]
name = "A"
data = { "0x10000" = 7, "0x10400" = 9, 69632 = 1 }

  [[process.mapping]]
  start = 0x10000
  pages = 1
  prot = "rw"
  populate = true

  [[process.mapping]]
  start = 0x11000
  length = 0x2000

[[process]]
name = "B"
fork_of = "A"

[[thread]]
name = "A1"
process = "A"
ops = ["write 0x10000 42", "read 0x10000"]

[[thread]]
name = "A2"
process = "A"
ops = [
    "mprotect 0x10000 1p r",
    'mprotect 0x10000 0x1000 rw',
]
repeat = 2

[[thread]]
name = "B1"
process = "B"
ops = ["write 0x10400 5", "fork C"]

[[thread]]
name = "C1"
process = "C"
ops = [
    "madvise 0x11000 2p dontneed",
    "reclaim 0x10000",
    "munmap 0x11000 8192",
    "mmap 0x11000 1p none",
]

[schedule]
steps = [
    "A1 until wp_page_copy:copy",
    "B1 until done",
    "A2 3",
    "A1",
]

[expect]
lost_write = "sometimes"
cow_isolation = "never"

[expect.spf-mm-seq]
lost_write = "never"
"""

# A small valid scenario that the error cases below edit.
MINIMAL = """\
title = "t"
[[process]]
name = "A"
  [[process.mapping]]
  start = 0x10000
  pages = 1
[[thread]]
name = "A1"
process = "A"
ops = ["read 0x10000"]
"""


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first line containing `needle`."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def error_of(text: str, **kwargs: Any) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.toml", **kwargs)
    return info.value


# --- a valid scenario ---------------------------------------------------------


def test_the_example_loads_with_every_field():
    s = parse_scenario(EXAMPLE, "ex.toml")
    assert s.title == "COW lost write (Lespinasse 2021)"
    assert s.description.startswith("A1 writes") and not s.description.endswith("\n")
    assert (s.policy, s.kernel, s.reuse, s.words_per_page, s.seed) == (
        "spf-refetch-vma",
        "5.8",
        "mapcount",
        4,
        7,
    )
    assert s.path == "ex.toml"
    a, b = s.processes
    assert a.data == ((0x10000, 7), (0x10400, 9), (0x11000, 1))
    assert [(m.start, m.length, m.prot, m.populate) for m in a.mappings] == [
        (0x10000, PAGE_SIZE, "rw", True),
        (0x11000, 2 * PAGE_SIZE, "rw", False),
    ]
    assert (b.fork_of, b.mappings, b.data) == ("A", (), ())
    assert [t.name for t in s.threads] == ["A1", "A2", "B1", "C1"]
    assert s.threads[1].repeat == 2
    assert s.threads[3].process == "C"
    assert s.schedule == (
        ScheduleEntry("A1", until="wp_page_copy:copy", text="A1 until wp_page_copy:copy", line=59),
        ScheduleEntry("B1", until="done", text="B1 until done", line=60),
        ScheduleEntry("A2", steps=3, text="A2 3", line=61),
        ScheduleEntry("A1", text="A1", line=62),
    )
    assert s.expectations() == {"lost_write": "sometimes", "cow_isolation": "never"}
    assert s.expectations("spf-mm-seq") == {"lost_write": "never"}


def test_expectations_are_keyed_by_policy_and_reuse_rule_the_most_specific_table_winning():
    s = parse_scenario(
        'policy = "spf-refetch-vma"\nkernel = "5.8"\n'
        + MINIMAL
        + """
[expect]
lost_write = "sometimes"
[expect.spf-mm-seq]
lost_write = "never"
[expect.spf-mm-seq.page-count]
deadlock = "never"
[expect.page-count]
cow_isolation = "never"
[expect.spf-refetch-vma.anon-exclusive]
refcount = "never"
"""
    )
    assert s.reuse == "mapcount"
    assert s.expectations() == {"lost_write": "sometimes"}  # [expect]: the file's own policy and rule
    assert s.expectations("spf-mm-seq") == {"lost_write": "never"}  # under the file's own rule
    assert s.expectations("classic") == {}  # no table names classic under mapcount
    assert s.expectations(reuse="page-count") == {"cow_isolation": "never"}  # [expect.page-count]: every policy
    assert s.expectations("classic", "page-count") == {"cow_isolation": "never"}
    assert s.expectations("spf-mm-seq", "page-count") == {"deadlock": "never"}  # the policy's own beats it
    assert s.expectations(reuse="anon-exclusive") == {"refcount": "never"}
    assert s.expectations("classic", "anon-exclusive") == {}
    assert s.with_policy("classic", "page-count").expectations() == {"cow_isolation": "never"}
    assert s.with_policy("classic").expectations() == {}  # [expect] stays with the file's own policy
    table = s.expect_table("spf-mm-seq", "page-count")
    assert table is not None and table.name == "[expect.spf-mm-seq.page-count]"


def test_a_policy_table_for_the_files_own_policy_replaces_expect():
    s = parse_scenario(MINIMAL + '[expect]\nlost_write = "sometimes"\n[expect.classic]\ndeadlock = "never"\n')
    assert s.expectations() == {"deadlock": "never"}


def test_every_op_kind_parses_and_remembers_its_text_and_line():
    s = parse_scenario(EXAMPLE)
    ops = [op for t in s.threads for op in t.ops]
    assert ops == [
        Op("write", addr=0x10000, value=42, text="write 0x10000 42", line=31),
        Op("read", addr=0x10000, text="read 0x10000", line=31),
        Op(
            "mprotect",
            addr=0x10000,
            length=PAGE_SIZE,
            prot="r",
            text="mprotect 0x10000 1p r",
            line=37,
        ),
        Op("mprotect", 0x10000, PAGE_SIZE, prot="rw", text="mprotect 0x10000 0x1000 rw", line=38),
        Op("write", addr=0x10400, value=5, text="write 0x10400 5", line=45),
        Op("fork", child="C", text="fork C", line=45),
        Op(
            "madvise",
            0x11000,
            2 * PAGE_SIZE,
            advice="dontneed",
            text="madvise 0x11000 2p dontneed",
            line=51,
        ),
        Op("reclaim", addr=0x10000, text="reclaim 0x10000", line=52),
        Op("munmap", 0x11000, 2 * PAGE_SIZE, text="munmap 0x11000 8192", line=53),
        Op("mmap", 0x11000, PAGE_SIZE, prot="none", text="mmap 0x11000 1p none", line=54),
    ]


def test_declarations_remember_their_header_lines():
    s = parse_scenario(EXAMPLE)
    assert [p.line for p in s.processes] == [10, 24]
    assert [m.line for m in s.processes[0].mappings] == [14, 20]
    assert [t.line for t in s.threads] == [28, 33, 42, 47]


def test_defaults_apply_when_optional_keys_are_absent():
    s = parse_scenario(MINIMAL)
    assert (s.policy, s.reuse, s.kernel, s.words_per_page, s.seed) == (
        "classic",
        "anon-exclusive",
        None,
        4,
        0,
    )
    assert (s.description, s.schedule, s.expect) == ("", None, ())
    assert s.processes[0].mappings[0].prot == "rw"
    assert s.threads[0].repeat == 1


def test_kernel_preset_sets_reuse_unless_reuse_is_explicit():
    assert parse_scenario('kernel = "5.12"\n' + MINIMAL).reuse == "page-count"
    assert parse_scenario('kernel = "5.12"\nreuse = "mapcount"\n' + MINIMAL).reuse == "mapcount"


def test_known_labels_accept_done_and_listed_labels():
    text = MINIMAL + '[schedule]\nsteps = ["A1 until done", "A1 until fault:start"]\n'
    s = parse_scenario(text, known_labels={"fault:start"})
    assert [e.until for e in s.schedule or ()] == ["done", "fault:start"]


def test_a_forked_child_may_add_mappings_and_data_inside_inherited_ones():
    text = MINIMAL.replace(
        "[[thread]]",
        '[[process]]\nname = "B"\nfork_of = "A"\ndata = { 0x10008 = 3 }\n'
        "  [[process.mapping]]\n  start = 0x20000\n  pages = 1\n[[thread]]",
    )
    b = parse_scenario(text).processes[1]
    assert b.data == ((0x10008, 3),) and b.mappings[0].start == 0x20000


def test_crlf_line_endings_and_a_byte_order_mark_are_accepted(tmp_path: Path):
    file = tmp_path / "s.toml"
    file.write_bytes(b"\xef\xbb\xbf" + EXAMPLE.replace("\n", "\r\n").encode())
    assert load_scenario(file).threads[3].ops[2].line == 53


# --- located errors -------------------------------------------------------------

# (id, text, key, line marker or 0, message fragments)
ERROR_CASES: list[tuple[str, str, str, str | int, tuple[str, ...]]] = [
    ("missing title", MINIMAL.replace('title = "t"', ""), "title", 0, ("missing required key 'title'", "string")),
    ("title not a string", MINIMAL.replace('"t"', "3"), "title", "title", ("expected a string, found an integer (3)",)),
    ("empty title", MINIMAL.replace('"t"', '" "'), "title", "title", ("non-empty",)),
    ("unknown top-level key", 'polcy = "classic"\n' + MINIMAL, "polcy", "polcy", ("did you mean 'policy'?", "allowed here: title,")),
    ("unknown thread key", MINIMAL + 'op = ["read 0x10000"]\n', "thread[0].op", "op = [", ("did you mean 'ops'?",)),
    ("unknown mapping key", MINIMAL.replace("pages = 1", "pages = 1\n  popluate = true"), "process[0].mapping[0].popluate", "popluate", ("did you mean 'populate'?",)),
    ("unknown policy", 'policy = "spf-mmseq"\n' + MINIMAL, "policy", "policy", ("unknown policy 'spf-mmseq'", "did you mean 'spf-mm-seq'?", "expected one of: classic, spf-mm-seq")),
    ("unknown reuse rule", 'reuse = "mapcnt"\n' + MINIMAL, "reuse", "reuse", ("unknown COW reuse rule 'mapcnt'", "mapcount, page-count, anon-exclusive")),
    ("unknown kernel", 'kernel = "4.19"\n' + MINIMAL, "kernel", "kernel", ("unknown kernel release '4.19'", "5.7, 5.8, 5.11, 5.12, 5.17, 5.18, 5.19, 6.1, 6.1.37, 6.4, 6.4.0, 6.4.3")),
    ("unquoted kernel", "kernel = 5.8\n" + MINIMAL, "kernel", "kernel", ("expected a string, found a float (5.8)", 'kernel = "5.8"')),
    ("words_per_page too big", "words_per_page = 65\n" + MINIMAL, "words_per_page", "words_per_page", ("power of two from 1 to 64", "found 65")),
    ("words_per_page not a power of two", "words_per_page = 3\n" + MINIMAL, "words_per_page", "words_per_page", ("found 3",)),
    ("seed not an integer", 'seed = "1"\n' + MINIMAL, "seed", "seed", ('expected an integer, found a string ("1")',)),
    ("process as a single table", MINIMAL.replace("[[process]]", "[process]").replace("[[process.mapping]]", "[[process.mapping]] #"), "process", "[process]", ("expected an array of tables ([[process]]), found a table",)),
    ("process without a name", MINIMAL.replace('name = "A"', 'nam = "A"'), "process[0].nam", "nam =", ("unknown key 'nam'", "did you mean 'name'?")),
    ("bad process name", MINIMAL.replace('name = "A"', 'name = "A B"'), "process[0].name", 'name = "A B"', ("expected a process name", "found 'A B'")),
    ("duplicate process", MINIMAL.replace("[[thread]]", '[[process]]\nname = "A" # <-\n[[thread]]'), "process[1].name", "# <-", ("duplicate process name 'A' (first declared on line 2)",)),
    ("duplicate thread", MINIMAL + '[[thread]]\nname = "A1" # <-\nprocess = "A"\nops = ["read 0"]\n', "thread[1].name", "# <-", ("duplicate thread name 'A1' (first declared on line 7)",)),
    ("fork_of unknown", MINIMAL.replace("[[thread]]", '[[process]]\nname = "B"\nfork_of = "X"\n[[thread]]'), "process[1].fork_of", "fork_of", ("unknown process 'X'", "expected one of: A")),
    ("fork_of a later process", MINIMAL.replace("[[process]]", '[[process]]\nname = "B"\nfork_of = "A"\n[[process]]', 1), "process[0].fork_of", "fork_of", ("must name an earlier process; 'A' is declared on line 5",)),
    ("fork_of itself", MINIMAL.replace('name = "A"', 'name = "A"\nfork_of = "A"'), "process[0].fork_of", "fork_of", ("cannot be forked from itself",)),
    ("overlapping mappings", MINIMAL.replace("pages = 1", "pages = 2\n  [[process.mapping]]\n  start = 0x11000 # <-\n  pages = 1"), "process[0].mapping[1].start", "# <-", ("mapping 0x11000-0x12000 overlaps mapping 0x10000-0x12000 (line 4)",)),
    ("mapping overlaps an inherited one", MINIMAL.replace("[[thread]]", '[[process]]\nname = "B"\nfork_of = "A"\n  [[process.mapping]]\n  start = 0x10000 # <-\n  pages = 1\n[[thread]]'), "process[1].mapping[0].start", "# <-", ("inherited from 'A', line 4",)),
    ("unaligned mapping", MINIMAL.replace("start = 0x10000", "start = 0x10010"), "process[0].mapping[0].start", "start", ("page-aligned mapping start", "found 0x10010")),
    ("mapping with pages and length", MINIMAL.replace("pages = 1", "pages = 1\n  length = 4096"), "process[0].mapping[0].length", "length", ("exactly one of 'pages' or 'length', found both",)),
    ("mapping with neither size", MINIMAL.replace("pages = 1", ""), "process[0].mapping[0].length", "[[process.mapping]]", ("found neither",)),
    ("mapping of zero pages", MINIMAL.replace("pages = 1", "pages = 0"), "process[0].mapping[0].pages", "pages", ("at least 1 page, found 0",)),
    ("mapping length not a page multiple", MINIMAL.replace("pages = 1", "length = 100"), "process[0].mapping[0].length", "length", ("positive multiple of 0x1000, found 0x64",)),
    ("mapping prot unknown", MINIMAL.replace("pages = 1", 'pages = 1\n  prot = "rwx"'), "process[0].mapping[0].prot", "prot", ("unknown protection 'rwx'", "none, r, rw")),
    ("populate not a boolean", MINIMAL.replace("pages = 1", 'pages = 1\n  populate = "yes"'), "process[0].mapping[0].populate", "populate", ('expected a boolean, found a string ("yes")',)),
    ("data outside every mapping", MINIMAL.replace('name = "A"', 'name = "A"\ndata = { "0x20000" = 1 }'), "process[0].data.0x20000", "data", ("address 0x20000 is outside every mapping of process 'A' (mappings: 0x10000-0x11000)",)),
    ("data address not a number", MINIMAL.replace('name = "A"', "name = \"A\"\ndata = { 'ten' = 1 }"), "process[0].data.ten", "data", ("expected a word address", "found 'ten'")),
    ("data value past 64 bits", MINIMAL.replace('name = "A"', 'name = "A"\ndata = { 0x10000 = 18446744073709551616 }'), "process[0].data.0x10000", "data", ("expected a 64-bit value (-2**63 to 2**64 - 1), found 18446744073709551616",)),
    ("write value past 64 bits", MINIMAL.replace('"read 0x10000"', '"write 0x10000 -9223372036854775809"'), "thread[0].ops[0]", "ops", ("expected a 64-bit value", "found -9223372036854775809")),
    ("data value not an integer", MINIMAL.replace('name = "A"', 'name = "A"\ndata = { 0x10000 = "7" }'), "process[0].data.0x10000", "data", ('expected an integer, found a string ("7")',)),
    ("data address twice", MINIMAL.replace('name = "A"', 'name = "A"\ndata = { 0x10000 = 1, 65536 = 2 }'), "process[0].data.65536", "data", ("address 0x10000 is given twice",)),
    ("data addresses in one word", MINIMAL.replace('name = "A"', 'name = "A"\ndata = { 0x10000 = 1, 0x10008 = 2 }'), "process[0].data.0x10008", "data", ("address 0x10008 is in the same data word as 0x10000: with words_per_page = 4 a word is 0x400 bytes (0x10000-0x103ff)",)),
    ("file data offsets in one word", "words_per_page = 2\n" + MINIMAL + '[[file]]\nname = "f"\npages = 1\ndata = { 0 = 1, 0x7ff = 2 }\n', "file[0].data.0x7ff", "data", ("offset 0x7ff is in the same data word as 0x0", "a word is 0x800 bytes")),
    ("negative mapping start", MINIMAL.replace("start = 0x10000", "start = -8192"), "process[0].mapping[0].start", "start", ("expected a mapping start of 0 or more, found -0x2000",)),
    ("negative seed", "seed = -1\n" + MINIMAL, "seed", "seed", ("expected a seed of 0 or more",)),
    ("no threads", MINIMAL.split("[[thread]]")[0], "thread", 0, ("at least one [[thread]]",)),
    ("thread with an unknown process", MINIMAL.replace('process = "A"', 'process = "a"'), "thread[0].process", 'process = "a"', ("unknown process 'a'", "did you mean 'A'?")),
    ("thread without ops", MINIMAL.replace('ops = ["read 0x10000"]', "ops = []"), "thread[0].ops", "ops", ("at least one op, found an empty array",)),
    ("thread missing ops", MINIMAL.replace('ops = ["read 0x10000"]', ""), "thread[0].ops", "[[thread]]", ("missing required key 'ops' (expected an array)",)),
    ("repeat as a string", MINIMAL + 'repeat = "2"\n', "thread[0].repeat", "repeat", ('expected an integer, found a string ("2")',)),
    ("repeat as a boolean", MINIMAL + "repeat = true\n", "thread[0].repeat", "repeat", ("expected an integer, found a boolean (true)",)),
    ("repeat zero", MINIMAL + "repeat = 0\n", "thread[0].repeat", "repeat", ("at least 1, found 0",)),
    ("op not a string", MINIMAL.replace('"read 0x10000"]', '"read 0x10000",\n  12, # <-\n]'), "thread[0].ops[1]", "# <-", ("expected a string, found an integer (12)",)),
    ("op unknown", MINIMAL.replace('"read 0x10000"]', '"read 0x10000",\n  "wirte 0x10000 1", # <-\n]'), "thread[0].ops[1]", "# <-", ("unknown op 'wirte'", "did you mean 'write'?")),
    ("op unknown lists every op", MINIMAL.replace('"read 0x10000"', '"mlock 0x10000 1p"'), "thread[0].ops[0]", "ops", ("unpin", "mremap", "uffd-wp", "uffd-unwp)")),
    ("op arity", MINIMAL.replace('"read 0x10000"', '"write 0x10000"'), "thread[0].ops[0]", "ops", ("expected 'write ADDR VALUE' (2 argument(s)), found 1",)),
    ("op bad number", MINIMAL.replace('"read 0x10000"', '"read 0xZZ"'), "thread[0].ops[0]", "ops", ("expected an address (non-negative decimal or 0x hex), found '0xZZ'",)),
    ("op range unaligned", MINIMAL.replace('"read 0x10000"', '"munmap 0x10001 1p"'), "thread[0].ops[0]", "ops", ("page-aligned range start", "found 0x10001")),
    ("op length not pages", MINIMAL.replace('"read 0x10000"', '"mprotect 0x10000 10 r"'), "thread[0].ops[0]", "ops", ("positive multiple of 0x1000, found 0xa",)),
    ("op bad prot", MINIMAL.replace('"read 0x10000"', '"mmap 0x10000 1p wx"'), "thread[0].ops[0]", "ops", ("unknown protection 'wx'",)),
    ("op bad advice", MINIMAL.replace('"read 0x10000"', '"madvise 0x10000 1p willneed"'), "thread[0].ops[0]", "ops", ("'dontneed' and 'free' are modelled",)),
    ("op address too high", MINIMAL.replace('"read 0x10000"', '"read 0x800000000000"'), "thread[0].ops[0]", "ops", ("below 0x800000000000",)),
    ("fork child clashes", MINIMAL.replace('"read 0x10000"', '"fork A"'), "thread[0].ops[0]", "ops", ("fork child 'A' clashes with the process declared on line 2",)),
    ("fork child twice", MINIMAL.replace('"read 0x10000"', '"fork C", "fork C"'), "thread[0].ops[1]", "ops", ("process 'C' is already created by thread[0].ops[0] (line 10)",)),
    ("fork in a repeated thread", MINIMAL.replace('"read 0x10000"', '"fork C"') + "repeat = 2\n", "thread[0].ops[0]", "ops", ("repeats (2 times) cannot fork",)),
    ("thread in its own fork child", MINIMAL.replace('process = "A"', 'process = "C"').replace('"read 0x10000"', '"fork C"'), "thread[0].process", "process =", ("its own fork op creates",)),
    ("schedule not a table", 'schedule = ["A1"]\n' + MINIMAL, "schedule", "schedule", ("expected a table, found an array of 1 item",)),
    ("schedule unknown key", MINIMAL + "[schedule]\nstep = []\n", "schedule.step", "step", ("did you mean 'steps'?",)),
    ("schedule unknown thread", MINIMAL + '[schedule]\nsteps = [\n  "A1",\n  "A2 until done", # <-\n]\n', "schedule.steps[1]", "# <-", ("unknown thread 'A2' (expected one of: A1)",)),
    ("schedule without steps", MINIMAL + "[schedule]\nsteps = []\n", "schedule.steps", "steps", ("expected at least one step, found none (leave [schedule] out for round-robin)",)),
    ("empty expect", MINIMAL + "[expect]\n", "expect", "[expect]", ("found an empty table",)),
    ("empty expect policy", MINIMAL + "[expect.classic]\n", "expect.classic", "[expect.classic]", ("found an empty table",)),
    ("schedule zero steps", MINIMAL + '[schedule]\nsteps = ["A1 0"]\n', "schedule.steps[0]", "steps", ("step count of at least 1, found 0",)),
    ("schedule bad count", MINIMAL + '[schedule]\nsteps = ["A1 x"]\n', "schedule.steps[0]", "steps", ("expected a step count or 'until LABEL'", "found 'x'")),
    ("schedule until without label", MINIMAL + '[schedule]\nsteps = ["A1 until"]\n', "schedule.steps[0]", "steps", ("'until' needs a label",)),
    ("schedule bad label", MINIMAL + '[schedule]\nsteps = ["A1 until wp:copy!"]\n', "schedule.steps[0]", "steps", ("expected a step label", "found 'wp:copy!'")),
    ("schedule entry not a string", MINIMAL + "[schedule]\nsteps = [1]\n", "schedule.steps[0]", "steps", ("expected a string, found an integer (1)",)),
    ("expect unknown oracle", MINIMAL + '[expect]\nlost_writes = "never"\n', "expect.lost_writes", "lost_writes", ("unknown oracle 'lost_writes'", "did you mean 'lost_write'?")),
    ("expect bad value", MINIMAL + '[expect]\nlost_write = "always"\n', "expect.lost_write", "lost_write", ("unknown expectation 'always'", "sometimes, never")),
    ("expect value not a string", MINIMAL + "[expect]\nlost_write = true\n", "expect.lost_write", "lost_write", ("expected a string, found a boolean (true)",)),
    ("expect unknown policy", MINIMAL + '[expect.spf-mm]\nlost_write = "never"\n', "expect.spf-mm", "[expect.spf-mm]", ("unknown policy or COW reuse rule 'spf-mm'", "did you mean 'spf-mm-seq'?")),
    ("expect policy unknown reuse", MINIMAL + '[expect.classic.page-cont]\nlost_write = "never"\n', "expect.classic.page-cont", "[expect.classic.page-cont]", ("unknown COW reuse rule 'page-cont'", "did you mean 'page-count'?")),
    ("expect reuse then policy", MINIMAL + '[expect.page-count.classic]\nlost_write = "never"\n', "expect.page-count.classic", "[expect.page-count.classic]", ("write [expect.classic.page-count]",)),
    ("expect policy reuse bad oracle", MINIMAL + '[expect.classic.mapcount]\nlost = "never"\n', "expect.classic.mapcount.lost", "lost", ("unknown oracle 'lost'",)),
    ("expect policy bad oracle", MINIMAL + '[expect.vma-lock]\ndeadlocks = "never"\n', "expect.vma-lock.deadlocks", "deadlocks", ("did you mean 'deadlock'?",)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "key", "marker", "fragments"),
    [pytest.param(*case[1:], id=case[0]) for case in ERROR_CASES],
)
def test_invalid_scenarios_are_reported_at_the_offending_key_and_line(
    text: str, key: str, marker: str | int, fragments: tuple[str, ...]
):
    err = error_of(text)
    expected_line = marker if isinstance(marker, int) else line_of(text, marker)
    assert (err.path, err.key, err.line) == ("s.toml", key, expected_line), str(err)
    for fragment in fragments:
        assert fragment in err.message, str(err)
    assert str(err) == ": ".join(
        filter(None, (f"s.toml:{expected_line}" if expected_line else "s.toml", key, err.message))
    )


def test_known_labels_reject_unknown_labels_with_a_suggestion():
    text = MINIMAL + '[schedule]\nsteps = ["A1 until wp_page_copy:cpy"]\n'
    err = error_of(text, known_labels=["wp_page_copy:copy", "fault:start"])
    assert (err.key, err.line) == ("schedule.steps[0]", 12)
    assert "unknown step label 'wp_page_copy:cpy'; did you mean 'wp_page_copy:copy'?" in err.message


def test_toml_syntax_errors_carry_tomllib_line():
    err = error_of(MINIMAL.replace('process = "A"', "process = A"))
    assert (err.line, err.key) == (9, "process")  # the key of that line, when it has one
    assert err.message.startswith("invalid TOML: Invalid value at column 11")
    assert str(err).endswith(":9: process: invalid TOML: Invalid value at column 11")


def test_toml_errors_at_the_end_of_the_file_point_at_its_last_line():
    err = error_of(MINIMAL + 'ops2 = ["read 0x10000",\n\n')
    assert err.line == 11 and "end of file" in err.message


def test_a_duplicate_toml_key_is_a_syntax_error_on_its_line():
    assert error_of(MINIMAL + 'name = "B"\n').line == 11


def test_a_missing_file_is_reported_with_its_path(tmp_path: Path):
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "nope.toml")
    assert info.value.path == str(tmp_path / "nope.toml")
    assert "cannot read the file: No such file or directory" in str(info.value)


def test_a_directory_is_not_a_scenario(tmp_path: Path):
    with pytest.raises(ScenarioError, match="cannot read the file"):
        load_scenario(tmp_path)


def test_a_file_that_is_not_utf8_is_reported_at_the_bad_line(tmp_path: Path):
    file = tmp_path / "s.toml"
    file.write_bytes(b'title = "t"\n# caf\xe9\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(file)
    assert info.value.line == 2
    assert "expected UTF-8 text, found the byte 0xe9" in info.value.message


def test_error_text_leaves_out_unknown_parts_and_survives_pickling():
    assert str(ScenarioError("boom")) == "boom"
    assert str(ScenarioError("boom", "f.toml")) == "f.toml: boom"
    assert str(ScenarioError("boom", "f.toml", 3, "thread[0]")) == "f.toml:3: thread[0]: boom"
    err = pickle.loads(pickle.dumps(ScenarioError("boom", "f.toml", 3, "k")))
    assert (err.message, err.path, err.line, err.key) == ("boom", "f.toml", 3, "k")


# --- single strings ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "op"),
    [
        ("read 4096", Op("read", addr=4096)),
        ("write 0x10008 -1", Op("write", addr=0x10008, value=-1)),
        ("mmap 0x10000 0x3000 r", Op("mmap", 0x10000, 0x3000, prot="r")),
        ("munmap 0x10000 3p", Op("munmap", 0x10000, 3 * PAGE_SIZE)),
        ("fork child_1", Op("fork", child="child_1")),
    ],
)
def test_parse_op_reads_one_op_string(text: str, op: Op):
    assert parse_op(text) == attrs.evolve(op, text=text)


@pytest.mark.parametrize("text", ["", "read", "read 1 2", "Read 0", "write 0 x", "mmap 0 0 r", "munmap 0 0p", "fork 9"])
def test_parse_op_raises_scenario_error_for_bad_ops(text: str):
    with pytest.raises(ScenarioError):
        parse_op(text)


def test_parse_entry_reads_one_schedule_entry():
    assert parse_entry("T 0x10") == ScheduleEntry("T", steps=16, text="T 0x10")
    with pytest.raises(ScenarioError, match="unknown thread 'X'"):
        parse_entry("X", threads=["T"])


# --- schedule files -----------------------------------------------------------------


def test_a_schedule_file_is_read_and_located(tmp_path: Path):
    file = tmp_path / "s.sched.toml"
    file.write_text('scenario = "x.toml"\nsteps = [\n  "A1 2",\n  "B until done",\n]\n')
    assert parse_schedule_file(file) == (
        ScheduleEntry("A1", steps=2, text="A1 2", line=3),
        ScheduleEntry("B", until="done", text="B until done", line=4),
    )
    with pytest.raises(ScenarioError) as info:
        parse_schedule_file(file, threads=["A1"])
    assert (info.value.key, info.value.line) == ("steps[1]", 4)


def test_a_schedule_file_rejects_unknown_keys_and_needs_steps():
    with pytest.raises(ScenarioError, match="did you mean 'steps'"):
        parse_schedule('step = ["A"]\n')
    with pytest.raises(ScenarioError, match="missing required key 'steps'"):
        parse_schedule('scenario = "x"\n')


def test_dump_schedule_writes_a_commented_file_that_reads_back():
    entries = parse_scenario(EXAMPLE).schedule or ()
    text = dump_schedule(entries, 'C:\\dir\\"odd".toml', comment="found by explorer\nseed 3")
    assert text.startswith("# found by explorer\n# seed 3\n")
    assert tomllib.loads(text)["scenario"] == 'C:\\dir\\"odd".toml'
    assert [attrs.evolve(e, line=0) for e in parse_schedule(text)] == [attrs.evolve(e, line=0) for e in entries]
    assert parse_schedule(dump_schedule([], None)) == ()


_FIRST = string.ascii_letters + "_"
_names = st.builds(operator.add, st.sampled_from(_FIRST), st.text(_FIRST + string.digits + ".-", max_size=8))
_entries = st.builds(
    lambda thread, steps, until: ScheduleEntry(thread, steps=1 if until else steps, until=until),
    _names,
    st.integers(1, 10**6),
    st.none() | st.just("done") | st.builds(lambda a, b: f"{a}:{b}", _names, _names),
)


@settings(max_examples=200, database=None, deadline=None)
@given(st.lists(_entries, max_size=8), st.none() | st.text(), st.text())
def test_dump_schedule_round_trips(entries: list[ScheduleEntry], path: str | None, comment: str):
    text = dump_schedule(entries, path, comment)
    read = parse_schedule(text)
    assert [(e.thread, e.steps, e.until) for e in read] == [(e.thread, e.steps, e.until) for e in entries]


# --- the locator ------------------------------------------------------------------


def test_format_key_quotes_only_keys_that_need_it():
    assert format_key(("thread", 2, "ops", 1)) == "thread[2].ops[1]"
    assert format_key(("expect", "spf-mm-seq", "a b")) == 'expect.spf-mm-seq."a b"'


def test_the_locator_finds_nested_arrays_of_tables_and_multi_line_arrays():
    locator = Locator(EXAMPLE)
    assert locator.line_of(("process", 0, "mapping", 1, "length")) == 22
    assert locator.line_of(("thread", 3, "ops", 3)) == 54
    assert locator.line_of(("expect", "spf-mm-seq", "lost_write")) == 70
    assert locator.line_of(("thread", 3, "nope")) == 47  # falls back to the header
    assert locator.line_of(("nope",)) == 0


def _paths(value: object, prefix: KeyPath = ()) -> list[KeyPath]:
    items: list[tuple[str | int, Any]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    return [p for key, sub in items for p in [(*prefix, key), *_paths(sub, (*prefix, key))]]


def test_the_locator_locates_every_key_of_an_exotic_document():
    text = textwrap.dedent(
        r'''
        a.b . "c d" = 1  # comment ] [
        'lit' = """multi
        line ] \""" ""x"""""
        arr = [ [1, 2], [ {x = 1, y.z = [3]} ],
          1979-05-27 07:32:00Z, 'x]'  , ]
        [ t . "u" ]
        v = {}
        [[t.w]]
        [[t.w]]
        k = LLLa
        bLLL
        [t.w.q]
        r = -inf
        '''
    ).replace("LLL", "'" * 3)
    locator = Locator(text)
    data = tomllib.loads(text)
    assert all(path in locator for path in _paths(data))
    assert locator.line_of(("t", "w", 1, "q", "r")) == 14
    assert locator.line_of(("arr", 2)) == 6


# --- robustness -------------------------------------------------------------------


def _mutate(text: str, rng: random.Random) -> str:
    lines = text.splitlines(keepends=True)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(lines))
        action = rng.randrange(6)
        if action == 0 and len(lines) > 1:
            del lines[i]
        elif action == 1:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif action == 2:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif action == 3 and lines[i]:
            k = rng.randrange(len(lines[i]))
            lines[i] = lines[i][:k] + rng.choice('x0 "=[]{}#,.\\\n\t\x00é') + lines[i][k + 1 :]
        elif action == 4:
            line = lines[i]
            for old, new in (
                ("0x1", "0x"),
                ('"', ""),
                ("1", "-1"),
                ("p", "q"),
                ("A", "Z"),
                ("[[", "["),
            ):
                line = line.replace(old, new, 1) if rng.random() < 0.3 else line
            lines[i] = line
        else:
            return "".join(lines)[: rng.randrange(len(text) + 1)]
    return "".join(lines)


def _parse_or_error(text: str) -> None:
    try:
        result = parse_scenario(text, "fuzz.toml", known_labels=["wp_page_copy:copy"])
    except ScenarioError as err:
        assert err.message and isinstance(err.line, int) and err.line >= 0
        assert err.line <= text.count("\n") + 1, str(err)
    else:
        assert isinstance(result, Scenario)
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        return
    locator = Locator(text)
    assert all(path in locator for path in _paths(data))


@pytest.mark.parametrize("seed", range(20))
def test_mutated_scenarios_raise_only_scenario_errors(seed: int):
    rng = random.Random(seed)
    for _ in range(100):
        _parse_or_error(_mutate(EXAMPLE, rng))


@settings(max_examples=300, database=None, deadline=None)
@given(st.randoms(use_true_random=False))
def test_hypothesis_mutations_raise_only_scenario_errors(rng: random.Random):
    _parse_or_error(_mutate(EXAMPLE, rng))


@settings(max_examples=200, database=None, deadline=None)
@given(st.text())
def test_arbitrary_text_raises_only_scenario_errors(text: str):
    _parse_or_error(text)


def test_deeply_nested_toml_is_an_error_not_a_crash():
    with pytest.raises(ScenarioError, match="invalid TOML"):
        parse_scenario("a = " + "[" * 5000)


# --- bundled scenarios and packaging ----------------------------------------------


def test_bundled_scenarios_dir_is_the_repo_scenarios_folder_here():
    assert bundled_scenarios_dir().name == "scenarios"
    assert bundled_scenarios_dir().is_dir()


def test_list_bundled_gives_titles_sorted_by_name_and_flags_broken_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    (tmp_path / "b.toml").write_text(MINIMAL)
    (tmp_path / "a.toml").write_text("title = 3\n")
    (tmp_path / "notes.md").write_text("#")
    monkeypatch.setattr("spftui.scenario.loader.bundled_scenarios_dir", lambda: tmp_path)
    assert list_bundled() == [
        (tmp_path / "a.toml", "(error: line 1: title: expected a string, found an integer (3))"),
        (tmp_path / "b.toml", "t"),
    ]


def test_every_bundled_scenario_loads():
    bundled = list_bundled()
    assert len(bundled) >= 9, bundled  # the loop below must not pass on an empty folder
    for file, title in bundled:
        assert not title.startswith("(error"), f"{file}: {title}"


def test_the_scenario_package_imports_neither_textual_nor_rich():
    code = "import sys, spftui.scenario; print(sorted(m for m in ('textual', 'rich') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    assert out.stdout.strip() == "[]"


def _readme_blocks(language: str) -> list[str]:
    readme = (Path(__file__).parents[2] / "scenarios" / "README.md").read_text()
    return re.findall(rf"```{language}\n(.*?)```", readme, re.DOTALL)


def test_the_format_reference_example_loads():
    scenario = parse_scenario(_readme_blocks("toml")[0], "README.md")
    assert scenario.reuse == "mapcount" and len(scenario.threads) == 3


def test_the_format_reference_schedule_file_example_loads():
    (block,) = [b for b in _readme_blocks("toml") if b.lstrip().startswith("# cow_lost_write:")]
    assert len(parse_schedule(block)) == 5
    meta = parse_schedule_meta(block)
    assert (meta.policy, meta.reuse, meta.stop_at) == ("spf-refetch-vma", "mapcount", 52)
