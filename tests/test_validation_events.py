"""Validation events through the CLI: every speculative check shows what it compared, pass or fail,
and a check that passes by ABA names the values in between and the steps that made them."""

from __future__ import annotations

import json

from cli_run import spftui


def trace_lines(*args: str) -> list[dict[str, object]]:
    r = spftui("trace", "cow_lost_write", "--json", *args)
    assert r.returncode == 0, r.stderr
    return [json.loads(x) for x in r.stdout.splitlines()]


def test_the_trace_shows_every_check_of_a1s_fault_with_sampled_and_current_values() -> None:
    r = spftui("trace", "cow_lost_write")
    out = r.stdout
    assert "A1 samples A.mmap_seq = 0; A1 seq_start ✓ A.mmap_seq 0 (even)" in out
    assert "A1 samples A.pte[0x10000] = pfn 1 RO A D" in out
    assert "A1 pmd_same ✓ A.pmd[0x10000] table 0 = table 0" in out
    assert "A1 REFETCH ✓ A.vma[0x10000] rw-p 0x10000-0x11000 = rw-p 0x10000-0x11000" in out
    assert "A1 pte_same ✓ A.pte[0x10000] pfn 1 RO A D" in out


def test_under_mm_seq_the_failing_check_shows_snapshot_against_current() -> None:
    lines = trace_lines("--policy", "spf-mm-seq")
    checks = [(x["step"], e) for x in lines for e in x["events"] if e["kind"] == "validate" and not e["ok"]]
    assert [(s, e["check"], e["snapshot"], e["current"]) for s, e in checks] == [(49, "SEQ1", 0, 4)]
    r = spftui("trace", "cow_lost_write", "--policy", "spf-mm-seq")
    assert "A1 SEQ1 ✗ A.mmap_seq 0 ≠ 4" in r.stdout
    assert (
        "A1 SEQ1 ✗ because A.mmap_seq: 0 → 1 (A2, step 39) → 2 (A2, step 43) → 3 (A2, step 44) → 4 (A2, step 48)"
        in r.stdout
    )
    assert not [e for x in lines for e in x["events"] if e["kind"] == "aba"]


def test_classic_and_vma_lock_checks_show_too() -> None:
    classic = trace_lines("--policy", "classic")
    assert any(e["kind"] == "validate" and e["check"] == "pte_same" for x in classic for e in x["events"])
    vmalock = trace_lines("--policy", "vma-lock")
    reads = [e for x in vmalock for e in x["events"] if e["kind"] == "validate" and e["check"] == "vma_start_read"]
    assert reads and all(e["obj"] == "vm_lock_seq" for e in reads)
    dufour = trace_lines("--policy", "spf-vma-seq")
    failed = [e for x in dufour for e in x["events"] if e["kind"] == "validate" and not e["ok"]]
    assert failed and failed[0]["obj"] == "vm_sequence"


def test_under_refetch_vma_the_passing_checks_are_flagged_as_aba_before_the_lost_write() -> None:
    lines = trace_lines()
    abas = [(x["step"], e) for x in lines for e in x["events"] if e["kind"] == "aba"]
    lost = next(x["step"] for x in lines for e in x["events"] if e["kind"] == "violation")
    first_step, first = abas[0]
    assert first_step < lost
    assert first["check"] == "REFETCH"
    assert first["objects"] == ["A.vma[0x10000]", "A.pte[0x10000]"]
    assert [(c["object"], c["step"], c["thread"], c["value"]) for c in first["changes"]] == [
        ("A.vma[0x10000]", 4, "A1", "rw-p"),
        ("A.vma[0x10000]", 40, "A2", "r--p"),  # mprotect(PROT_READ)
        ("A.vma[0x10000]", 45, "A2", "rw-p"),  # mprotect(PROT_READ|PROT_WRITE)
        ("A.pte[0x10000]", 5, "A1", "pfn 1 RO A D"),
        ("A.pte[0x10000]", 37, "A2", "pfn 1 W A D"),  # A2's write fault reuses P
        ("A.pte[0x10000]", 41, "A2", "pfn 1 RO A D"),  # change_pte_range
    ]
