"""`spftui why` on an expression that cannot be read: the error names what is
missing (the VMA at an address, not its field) and lists each known name once."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_run import spftui

from spftui.engine.expr import EvalError, parse
from spftui.engine.inspect import MachineResolver
from spftui.kernel import build_machine
from spftui.scenario import load_scenario

SEED = Path(__file__).resolve().parents[1] / "scenarios" / "cow_lost_write.toml"


def why_error(expr: str) -> str:
    r = spftui("why", "cow_lost_write", expr)
    assert r.returncode == 2 and r.stdout == ""
    (line,) = r.stderr.splitlines()
    return line


@pytest.mark.parametrize(
    ("expr", "addr"),
    [("A.vma[0x90000].vm_flags", "0x90000"), ("A.vma[0].vm_start", "0"), ("A.vma[0x11000].id", "0x11000")],
)
def test_a_field_of_no_vma_names_the_address_and_the_vmas_there_are(expr: str, addr: str) -> None:
    assert why_error(expr) == (
        f"spftui: error: {expr} cannot be read at step 54: no VMA at {addr} in A (VMAs: 0x10000-0x11000)"
    )


def test_a_field_of_a_vma_that_is_there_still_reads() -> None:
    r = spftui("why", "cow_lost_write", "A.vma[0x10fff].vm_flags")
    assert r.returncode == 0, r.stderr
    assert "mprotect_fixup:vm_flags" in r.stdout


def test_the_missing_vma_is_not_blamed_for_a_later_none() -> None:
    """The note of a VMA not found is for the field read right after it, nothing else in the expression."""
    m = build_machine(load_scenario(SEED))
    with pytest.raises(EvalError, match=r"frame\[0\]\.swapcache is none, so it has no field 'x'$"):
        parse("A.vma[0x90000] == none and frame[0].swapcache.x == 1").evaluate(MachineResolver(m))
    assert why_error("frame[0].swapcache.x").endswith("frame[0].swapcache is none, so it has no field 'x'")


def test_an_unknown_name_lists_each_known_name_once_in_order() -> None:
    """`why` refuses it before it reads (as a watch's names are checked); the evaluator, which
    other resolvers share, lists the names it knows once each (B is a process and a thread)."""
    from spftui.engine.expr import evaluate

    r = spftui("why", "cow_lost_write", "Z.pte[0]")
    assert r.returncode == 2 and r.stderr.startswith("spftui: error: unknown name 'Z' (processes: A, B; threads:")
    m = build_machine(load_scenario(SEED))
    with pytest.raises(EvalError, match=r"known: A, B, A1, A2, thread, process, frame, step, policy$"):
        evaluate(parse("Z.pte[0]"), MachineResolver(m))


def test_a_lock_is_shown_as_who_holds_it_not_as_a_python_repr() -> None:
    r = spftui("why", "cow_lost_write", "A.mmap_lock")
    assert r.returncode == 0 and "A.mmap_lock: held for write by A2 → free" in r.stdout and "LockView" not in r.stdout


def test_an_expression_worked_out_of_values_is_changed_by_a_step_not_set() -> None:
    """mmap_write_unlock set A.mmap_seq; it did not set `A.mmap_seq + 1` (nor a comparison)."""
    r = spftui("why", "cow_lost_write", "A.mmap_seq + 1")
    assert r.returncode == 0, r.stderr
    assert "do_mprotect_pkey:mmap_write_unlock in `mprotect 0x10000 1p rw` changed A.mmap_seq + 1: 4 → 5" in r.stdout
    assert " set " not in r.stdout
    chain = spftui("why", "cow_lost_write", "1 + A.mmap_seq").stdout.splitlines()[1:]  # a seqcount's writers
    assert len(chain) == 4 and all(" changed 1 + A.mmap_seq: " in line for line in chain)
    assert "changed A.mmap_seq == 4: false → true" in spftui("why", "cow_lost_write", "A.mmap_seq == 4").stdout
    plain = spftui("why", "cow_lost_write", "A.mmap_seq")  # a value as it is: still "set", with its writers
    assert "set A.mmap_seq: 3 → 4" in plain.stdout and "earlier: A2 do_mprotect_pkey:mmap_write_lock" in plain.stdout


def test_vm_flags_are_shown_as_the_trace_shows_them() -> None:
    r = spftui("why", "cow_lost_write", "A.vma[0x10000].vm_flags")
    assert r.returncode == 0, r.stderr
    assert "A2 mprotect_fixup:vm_flags in `mprotect 0x10000 1p rw` set A.vma[0x10000].vm_flags: r--p → rw-p" in r.stdout
    assert "0x100031" not in r.stdout and "0x100033" not in r.stdout  # (as it printed them)
    worked = spftui("why", "cow_lost_write", "A.vma[0x10000].vm_flags & 0x2")  # arithmetic on them: a number
    assert "changed A.vma[0x10000].vm_flags & 0x2: 0 → 2" in worked.stdout
