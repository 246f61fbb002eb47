"""Private file mappings, the page cache and GUP, through scenario text and a Session."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_run import spftui

from spftui.engine import SeededRandom, Session
from spftui.scenario import POLICIES, ScenarioError, parse_scenario

ROOT = Path(__file__).resolve().parents[2]

FILE = """\
title = "t"
policy = "{policy}"

[[file]]
name = "F"
pages = 2
data = {{ "0x0" = 7, "0x1400" = 9 }}

[[process]]
name = "P"

  [[process.mapping]]
  start = 0x10000
  pages = 2
  prot = "{prot}"
  file = "F"

[[thread]]
name = "T"
process = "P"
ops = {ops}
"""


def run(ops: list[str], prot: str = "rw", policy: str = "classic", seed: int | None = None) -> Session:
    text = FILE.format(policy=policy, prot=prot, ops="[" + ", ".join(f'"{o}"' for o in ops) + "]")
    sc = parse_scenario(text, "t.toml")
    s = Session(sc, SeededRandom(seed)) if seed is not None else Session(sc)
    stop = s.run(limit=5000)
    assert stop.kind == "finished", stop.text
    return s


def results(s: Session) -> list[str]:
    return [e.result for _, _, evs in s.timeline.replay() for e in evs if e.kind == "op_done"]


def cache_words(s: Session, index: int) -> list[int]:
    m = s.machine
    return m.frames[m.page_cache[("F", index)]].words


@pytest.mark.parametrize("policy", POLICIES)
def test_a_private_file_mapping_reads_the_file_and_a_write_copies_it(policy: str):
    s = run(["read 0x10000", "read 0x11400", "write 0x10000 5", "read 0x10000", "read 0x11400"], policy=policy)
    assert results(s) == ["read 7", "read 9", "wrote 5", "read 5", "read 9"]
    assert cache_words(s, 0)[0] == 7  # the write went to an anonymous copy
    assert s.violations() == []
    m = s.machine
    v = m.vmas[m.mms["P"].vmas[0]]
    assert v.vm_file == "F" and v.anon_vma is not None  # anon_vma_prepare on the first COW


def test_madvise_dontneed_on_a_private_file_page_brings_the_file_back():
    s = run(["write 0x10000 5", "madvise 0x10000 1p dontneed", "read 0x10000"])
    assert results(s)[-1] == "read 7"
    assert s.violations() == []


def test_speculative_policies_fall_back_to_the_classic_path_on_a_file_vma():
    s = run(["read 0x10000"], policy="vma-lock")
    assert [m.what for m in s.aborts()] == ["FILE"]
    assert results(s) == ["read 7"]


def test_gup_on_an_unmapped_address_is_efault_at_run_time():
    s = run(["gup 0x40000", "gup-read 0x40000", "unpin 0x40000"])
    assert results(s) == [
        "-EFAULT: no VMA at 0x40000",
        "error: no page from gup at 0x40000",
        "error: no page from gup at 0x40000",
    ]


def test_a_forced_write_needs_force_on_a_read_only_mapping_and_never_reaches_the_file():
    s = run(
        ["gup 0x10000 write", "gup 0x10000 write force", "gup-write 0x10000 42", "read 0x10000", "unpin 0x10000"], "r"
    )
    out = results(s)
    assert out[0].startswith("-EFAULT: a write to a VMA without VM_WRITE needs FOLL_FORCE")
    assert "FOLL_COW" in out[1]  # the fix: FOLL_WRITE kept, FOLL_COW set after do_wp_page's reuse
    assert out[3] == "read 42"  # the process sees the write: it went into its private copy
    assert cache_words(s, 0)[0] == 7
    assert s.violations() == []
    assert s.machine.frames[s.machine.page_cache[("F", 0)]].count == 1  # only the page cache's reference


def test_a_pin_holds_a_reference_and_a_pincount_until_unpin():
    s = Session(
        parse_scenario(FILE.format(policy="classic", prot="rw", ops='["write 0x10000 3", "gup 0x10000 pin"]'), "t")
    )
    s.run(limit=5000)
    m = s.machine
    (pin,) = m.threads[0].pins
    f = m.frames[pin[1]]
    assert (f.count, f.pincount, f.mapping) == (2, 1, "")
    assert s.violations() == []


@pytest.mark.parametrize("seed", range(10))
def test_random_schedules_of_gup_and_dontneed_keep_every_count_right(seed: int):
    text = FILE.format(
        policy="classic", prot="r", ops='["gup 0x10000 write force", "gup-write 0x10000 1", "unpin 0x10000"]'
    )
    text += '\n[[thread]]\nname = "D"\nprocess = "P"\nops = ["madvise 0x10000 2p dontneed", "read 0x10000"]\n'
    s = Session(parse_scenario(text, "t"), SeededRandom(seed))
    s.run(limit=5000)
    assert s.violations() == []


@pytest.mark.parametrize(
    ("snippet", "where", "message"),
    [
        ('ops = ["gup 0x10000 wrte"]', "thread[0].ops[0]", "unknown gup flag 'wrte'; did you mean 'write'?"),
        ('ops = ["gup 0x10000 pin pin"]', "thread[0].ops[0]", "gup flag 'pin' is given twice"),
        ('ops = ["gup"]', "thread[0].ops[0]", "expected 'gup ADDR [write] [force] [pin]'"),
        ('ops = ["gup-write 0x10000"]', "thread[0].ops[0]", "expected 'gup-write ADDR VALUE'"),
        ('ops = ["unpin 0x10000 1"]', "thread[0].ops[0]", "expected 'unpin ADDR'"),
    ],
)
def test_bad_gup_ops_are_located_errors(snippet: str, where: str, message: str):
    text = FILE.format(policy="classic", prot="rw", ops="[]").replace("ops = []", snippet)
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, "t.toml")
    assert f"t.toml:{text.splitlines().index(snippet) + 1}: {where}: " in str(err.value)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        ('file = "F"', 'file = "G"', "process[0].mapping[0].file", "unknown file 'G'"),
        ("pages = 2\n  prot", "pages = 3\n  prot", "process[0].mapping[0].file", "longer than file 'F' (2 page(s))"),
        ('file = "F"', 'file = "F"\n  populate = true', "process[0].mapping[0].populate", "for anonymous mappings"),
        ('"0x1400" = 9', '"0x2000" = 9', "file[0].data.0x2000", "beyond the file's 2 page(s)"),
        ("pages = 2\ndata", "pages = 0\ndata", "file[0].pages", "expected 1 to 1024 pages, found 0"),
    ],
)
def test_bad_files_and_file_mappings_are_located_errors(old: str, new: str, where: str, message: str):
    text = FILE.format(policy="classic", prot="rw", ops='["read 0x10000"]').replace(old, new, 1)
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, "t.toml")
    assert f": {where}: " in str(err.value)
    assert message in str(err.value)


def test_the_cli_exits_2_on_a_bad_gup_op_with_no_traceback(tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_text(FILE.format(policy="classic", prot="rw", ops='["gup 0x10000 frce"]'))
    proc = spftui("check", str(path))
    assert proc.returncode == 2
    assert "bad.toml:" in proc.stderr and "unknown gup flag 'frce'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_mprotect_splits_a_file_mapping_and_the_second_half_still_maps_the_files_second_page():
    s = run(["mprotect 0x10000 1p r", "read 0x11400", "mprotect 0x10000 1p rw", "write 0x10000 3", "read 0x11400"])
    assert results(s) == ["0", "read 9", "0", "wrote 3", "read 9"]
    assert s.violations() == []
    m = s.machine
    assert [(m.vmas[v].vm_file, m.vmas[v].vm_pgoff) for v in m.mms["P"].vmas] == [("F", 0)]  # merged back


def test_gup_on_a_prot_none_mapping_is_efault_even_with_force():
    s = run(["gup 0x10000 force", "read 0x11000"], prot="none")
    assert results(s)[0] == "-EFAULT: a VMA without VM_READ (FOLL_FORCE into PROT_NONE is not modelled)"


@pytest.mark.parametrize("policy", ["classic", "spf-mm-seq", "vma-lock"])
def test_a_forked_child_keeps_the_file_mapping(policy: str):
    """vm_area_dup copies vm_file: the child's unfaulted page still reads the file."""
    text = FILE.format(policy=policy, prot="rw", ops='["write 0x10000 5", "fork C"]')
    text += '\n[[thread]]\nname = "C1"\nprocess = "C"\nops = ["read 0x10000", "read 0x11400"]\n'
    s = Session(parse_scenario(text, "t.toml"))
    assert s.run(limit=5000).kind == "finished"
    assert results(s)[-2:] == ["read 5", "read 9"]
    assert s.violations() == []
