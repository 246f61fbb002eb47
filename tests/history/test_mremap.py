"""mremap: grow in place, move (MREMAP_MAYMOVE|MREMAP_FIXED), MREMAP_DONTUNMAP, and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_run import spftui

from spftui.engine import SeededRandom, Session
from spftui.engine.explorer import explore
from spftui.kernel import oracles
from spftui.scenario import POLICIES, ScenarioError, parse_scenario

ROOT = Path(__file__).resolve().parents[2]

TEXT = """\
title = "t"
policy = "{policy}"
kernel = "5.12"

[[process]]
name = "A"
data = {{ "0x10000" = 1, "0x11000" = 2 }}

  [[process.mapping]]
  start = 0x10000
  pages = 2
  prot = "rw"

[[process]]
name = "B"
fork_of = "A"

[[thread]]
name = "T"
process = "A"
ops = {ops}
"""


def session(ops: list[str], policy: str = "classic", extra: str = "", seed: int | None = None) -> Session:
    text = TEXT.format(policy=policy, ops="[" + ", ".join(f'"{o}"' for o in ops) + "]") + extra
    sc = parse_scenario(text, "t.toml")
    s = Session(sc, SeededRandom(seed)) if seed is not None else Session(sc)
    s.run(limit=5000)
    return s


def results(s: Session) -> list[str]:
    return [e.result for _, _, evs in s.timeline.replay() for e in evs if e.kind == "op_done"]


@pytest.mark.parametrize("policy", POLICIES)
def test_a_move_takes_the_pages_along_and_the_old_range_is_gone(policy: str):
    s = session(["mremap 0x10000 2p 3p move 0x40000", "read 0x40000", "read 0x41000", "write 0x42000 9"], policy)
    assert results(s) == ["0x40000", "read 1", "read 2", "wrote 9"]
    assert s.violations() == []
    m = s.machine
    assert [(m.vmas[v].vm_start, m.vmas[v].vm_end) for v in m.mms["A"].vmas] == [(0x40000, 0x43000)]
    # COW sharing with B survives the move: the page B maps is the one A now maps at 0x40000.
    pfn = m.tables[m.mms["A"].pgd[0x40000 >> 21]].entries[(0x40000 >> 12) % 512] >> 12
    assert ("B", 0x10) in m.frames[pfn].ptes and ("A", 0x40) in m.frames[pfn].ptes


def test_dontunmap_keeps_the_old_vma_empty_and_growing_in_place_extends_the_vma():
    s = session(["mremap 0x10000 1p 1p move 0x40000 dontunmap", "read 0x10000", "read 0x40000"])
    assert results(s) == ["0x40000", "read 0", "read 1"]
    s = session(["mremap 0x10000 2p 4p", "write 0x13000 4", "read 0x13000", "read 0x10000"])
    assert results(s) == ["0x10000", "wrote 4", "read 4", "read 1"]
    assert s.violations() == []


def test_runtime_errors_are_results():
    s = session(["mremap 0x30000 1p 2p", "mremap 0x10000 1p 2p", "mremap 0x10000 1p 1p move 0x11000"])
    assert results(s) == [
        "-EFAULT: the old range is not inside one VMA",
        "-ENOMEM: cannot grow in place (no MREMAP_MAYMOVE)",
        "-EINVAL: the target is mapped (unmapping it first is not modelled)",
    ]


@pytest.mark.parametrize(
    ("op", "message"),
    [
        ("mremap 0x10000 2p 1p", "shrinking (0x2000 to 0x1000) is not modelled"),
        ("mremap 0x10000 1p 2p dontunmap", "'dontunmap' needs 'move NEWADDR' and the same length"),
        ("mremap 0x10000 1p 2p move 0x10800", "expected a page-aligned new address"),
        ("mremap 0x10000 2p 2p move 0x11000", "the new range 0x11000+0x2000 overlaps the old one"),
        ("mremap 0x10000 1p 2p mve 0x40000", "unknown mremap option 'mve'; did you mean 'move'?"),
        ("mremap 0x10000 1p 1p move", "'move' needs the new address"),
        ("mremap 0x10000 1p 0x800000000000", "ends above 0x800000000000"),
        ("mremap 0x10000 1p", "expected 'mremap ADDR LENGTH NEWLENGTH [move NEWADDR] [dontunmap]'"),
    ],
)
def test_mremap_arguments_out_of_range_are_located_errors(op: str, message: str):
    text = TEXT.format(policy="classic", ops=f'["{op}"]')
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, "t.toml")
    line = text.splitlines().index(f'ops = ["{op}"]') + 1
    assert f"t.toml:{line}: thread[0].ops[0]: " in str(err.value)
    assert message in str(err.value)


def test_the_cli_exits_2_on_bad_mremap_arguments(tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_text(TEXT.format(policy="classic", ops='["mremap 0x10000 1p 2p dontunmap"]'))
    proc = spftui("check", str(path))
    assert proc.returncode == 2
    assert "bad.toml:" in proc.stderr and "dontunmap" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("policy", POLICIES)
def test_a_move_racing_faults_on_both_ranges_breaks_nothing_and_the_reduction_is_sound(policy: str):
    extra = '\n[[thread]]\nname = "U"\nprocess = "A"\nops = ["write 0x11000 5", "read 0x40000"]\n'
    sc = parse_scenario(TEXT.format(policy=policy, ops='["mremap 0x10000 2p 3p move 0x40000"]') + extra, "t")
    reduced = explore(sc, policy, mode="exhaustive", local=False, narrate=False)
    naive = explore(sc, policy, mode="exhaustive", reduction=False, local=False, narrate=False)
    assert reduced.complete and naive.complete
    assert reduced.states == naive.states and reduced.verdicts == naive.verdicts
    if policy in ("classic", "vma-lock", "spf-mm-seq", "spf-vma-seq"):
        assert set(reduced.verdicts.values()) == {"never"}, reduced.verdicts


def test_the_rmap_oracle_reports_an_anonymous_page_in_a_vma_without_an_anon_vma():
    s = session(["read 0x10000"])
    m = s.machine
    assert s.violations() == []
    v = m.vmas[m.mms["A"].vmas[0]]
    v.anon_vma = None  # what a child VMA that never cloned the anon_vma looks like (6.4.0's fork race)
    m.events = []
    oracles.check_mm(m, m.mms["A"])
    assert [e.oracle for e in m.events] == ["rmap", "rmap"]
