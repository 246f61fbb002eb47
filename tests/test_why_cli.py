"""`spftui check --break aba` and `spftui why` on the seed race, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from cli_run import ROOT, spftui


def test_check_break_aba_stops_before_the_lost_write_naming_the_pte_the_vma_and_a2s_steps() -> None:
    r = spftui("check", "cow_lost_write", "--policy", "spf-refetch-vma", "--break", "aba", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["stop"] == "breakpoint" and data["violations"] == []  # stopped before the lost write
    brk = data["break"]
    assert (brk["step"], brk["thread"], brk["label"]) == (51, "A1", "pte_map_lock:seq_recheck")
    aba = next(e for e in brk["events"] if e["kind"] == "aba")
    assert aba["objects"] == ["A.vma[0x10000]", "A.pte[0x10000]"]
    writers = {(c["object"], c["step"], c["label"]) for c in aba["changes"] if c["thread"] == "A2"}
    assert writers == {
        ("A.pte[0x10000]", 37, "wp_page_reuse:set_pte"),  # A2's write fault makes P writable
        ("A.vma[0x10000]", 40, "mprotect_fixup:vm_flags"),  # mprotect(PROT_READ)
        ("A.pte[0x10000]", 41, "change_protection:change_pte_range"),
        ("A.vma[0x10000]", 45, "mprotect_fixup:vm_flags"),  # mprotect(PROT_READ|PROT_WRITE)
    }
    text = spftui("check", "cow_lost_write", "--break", "aba")
    assert text.returncode == 0
    assert "Stopped after step 51: A1: REFETCH passed by ABA — A.vma[0x10000]: rw-p → r--p (A2, step 40)" in text.stdout


def test_check_break_aba_under_mm_seq_never_fires_and_the_abort_names_the_writers() -> None:
    r = spftui("check", "cow_lost_write", "--policy", "spf-mm-seq", "--break", "aba", "--json")
    assert r.returncode == 1  # the run ended without the breakpoint firing
    data = json.loads(r.stdout)
    assert "break" not in data and data["stop"] == "finished"
    (abort,) = data["aborts"]
    assert abort["detail"] == "mmap_seq changed 0→4"
    assert [(c["step"], c["thread"], c["value"]) for c in abort["changes"]] == [
        (2, "A1", "0"),
        (39, "A2", "1"),
        (43, "A2", "2"),
        (44, "A2", "3"),
        (48, "A2", "4"),
    ]


def test_check_break_rejects_an_unknown_kind_with_exit_2() -> None:
    r = spftui("check", "cow_lost_write", "--break", "bogus")
    assert r.returncode == 2 and "unknown breakpoint kind 'bogus'" in r.stderr
    r = spftui("check", "cow_lost_write", "--break", "step:no_such:label")
    assert r.returncode == 2 and "no step label" in r.stderr


def test_check_break_on_a_violation_and_on_a_step_label() -> None:
    r = spftui("check", "cow_lost_write", "--break", "violation:lost_write", "--json")
    assert json.loads(r.stdout)["break"]["step"] == 52
    r = spftui("check", "cow_lost_write", "--break", "step:wp_page_copy:copy", "--json")
    assert json.loads(r.stdout)["break"]["step"] == 13


def test_check_break_takes_watch_and_when_expressions_as_breakpoint_tables_do() -> None:
    """--break took the kinds without an expression only: a watch or a condition needed a
    [[breakpoint]] table in a copy of the scenario."""
    r = spftui("check", "cow_lost_write", "--break", "when:A.mmap_seq > 2", "--json")
    brk = json.loads(r.stdout)["break"]
    assert (r.returncode, brk["step"], brk["text"]) == (0, 44, "A.mmap_seq > 2 became true (breakpoint 1)")
    r = spftui("check", "cow_lost_write", "--break", "watch:A.pte[0x10000]")
    assert r.returncode == 0 and "Stopped after step" in r.stdout and "A.pte[0x10000] changed" in r.stdout
    bad = {
        "watch:A1.sate": "--break watch: thread A1 has no field 'sate'; did you mean 'state'?",
        "when:A.mmap_seq >": "spftui: error: --break when: expected a value",
        "watch:": "a watch breakpoint needs an expression",
        "wach:A.mmap_seq": "unknown breakpoint kind 'wach'; did you mean watch?",
    }
    for spec, said in bad.items():
        r = spftui("check", "cow_lost_write", "--break", spec)
        assert r.returncode == 2 and said in r.stderr and "Traceback" not in r.stderr, (spec, r.stderr)


def test_check_break_refuses_a_watch_or_condition_that_cannot_be_evaluated_at_the_start(tmp_path: Path) -> None:
    """`when:1/0` and `when:A.mmap_seq > "x"` were taken and never fired ("No breakpoint fired",
    exit 1), though the TUI's B dialog refuses them; a scenario's [[breakpoint]] table too."""
    for spec, said in {
        "when:1/0": "division by zero",
        'when:A.mmap_seq > "x"': "'>' orders two ints or two strs, got int 0 and str \"x\"",
        "watch:A.mmap_seq % 0": "modulo by zero",
    }.items():
        r = spftui("check", "cow_lost_write", "--break", spec)
        kind = spec.partition(":")[0]
        assert r.returncode == 2 and r.stdout == "", (spec, r.stdout)
        assert r.stderr.startswith(f"spftui: error: --break {kind}: {said} — at the start of the run"), r.stderr
    # a value this state cannot read yet is this state's: A1 has no orig_pte until it faults
    r = spftui("check", "cow_lost_write", "--break", "watch:A1.vmf.orig_pte")
    assert r.returncode == 0 and "Stopped after step 5" in r.stdout
    scenario = tmp_path / "s.toml"
    base = (ROOT / "spftui" / "scenarios" / "cow_lost_write.toml").read_text()
    scenario.write_text(base + '\n[[breakpoint]]\nkind = "step"\nmatch = "wp_page_copy:copy"\ncondition = "1/0"\n')
    r = spftui("check", str(scenario))
    assert r.returncode == 2 and "breakpoint[0].condition: division by zero — at the start" in r.stderr, r.stderr


def test_check_break_notes_a_condition_already_true_at_the_start() -> None:
    """Conditions fire when they become true: one true at step 0 never fired, without a word."""
    r = spftui("check", "cow_lost_write", "--break", "when:A.mmap_seq >= 0", "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["stop"] == "finished"
    assert r.stderr == (
        "spftui: note: --break when:A.mmap_seq >= 0 is already true at the start: it fires only when it "
        "turns false and then true again\n"
    )
    r = spftui("check", "cow_lost_write", "--break", "when:A.mmap_seq > 2")
    assert r.returncode == 0 and r.stderr == ""


def test_check_break_errors_have_one_form_in_the_users_words() -> None:
    """A syntax error came from argparse (usage dump, `argument --break: when: ...`), a name
    error as `spftui: error: --break condition: ...` (a word the user did not type)."""
    for spec in ("when:A.mmap_seq >", "when:Z > 1", "when:1/0", "wach:A.mmap_seq", "step:nope"):
        r = spftui("check", "cow_lost_write", "--break", spec)
        kind = spec.partition(":")[0]
        assert r.returncode == 2 and r.stderr.startswith(f"spftui: error: --break {kind}: "), (spec, r.stderr)
        assert "usage:" not in r.stderr and "condition" not in r.stderr, r.stderr


def test_check_break_watch_on_a_thread_local_reads_as_why_writes_it() -> None:
    """The stop said `A1.vmf.orig_pte changed <no field 'orig_pte'> → 0x1061`."""
    for expr in ("A1.vmf.orig_pte", "A1.orig_pte"):
        r = spftui("check", "cow_lost_write", "--break", f"watch:{expr}")
        assert r.returncode == 0, r.stderr
        assert f"Stopped after step 5: {expr} changed unset → pfn 1 RO A D" in r.stdout, r.stdout
    r = spftui("check", "cow_lost_write", "--break", "watch:A1.vmf.page", "--json")
    assert json.loads(r.stdout)["break"]["text"].startswith("A1.vmf.page changed unset → pfn ")


def test_why_the_lost_word_follows_the_copy_back_to_the_old_page_and_a2s_store() -> None:
    r = spftui("why", "cow_lost_write", "--at", "52", "frame[2].words[1]")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()[1:]
    assert lines[0] == "1. [step 15] A1 wp_page_copy:copy in `write 0x10000 11` set frame[2].words[1]: 0 → 0"
    assert lines[1] == "  2. [step 15] the copy read frame[1].words[1] (no lock held: it can be stale)"
    # what the copy read (under the read), then the store it missed
    assert (
        lines[2] == "    3. [start] frame[1].words[1] = 0 from the start through step 14 (the scenario's initial state)"
    )
    assert lines[3].startswith(
        "  4. [step 38] after the copy, A2 user:store in `write 0x10400 42` set frame[1].words[1]: 0 → 42"
    )


def test_why_the_pte_names_the_commit_the_copy_and_the_checks_that_passed_by_aba() -> None:
    r = spftui("why", "cow_lost_write", "--at", "52", "A.pte[0x10000]", "--json")
    chain = json.loads(r.stdout)
    assert chain[0]["step"] == 52 and chain[0]["label"] == "wp_page_copy:pte_same" and chain[0]["depth"] == 0
    assert chain[0]["value"] == "pfn 2 W A D"
    texts = [c["text"] for c in chain]
    assert "pfn 2 is the copy of pfn 1 made at steps 14, 15, 16, 17" in texts
    assert any("A2 user:store" in t and "the copy missed it" in t for t in texts)
    abas = [c for c in chain if c["what"] == "aba"]
    assert [c["step"] for c in abas] == [51, 52]


def test_why_mmap_seq_lists_every_writer() -> None:
    r = spftui("why", "cow_lost_write", "--policy", "spf-mm-seq", "--at", "48", "A.mmap_seq", "--json")
    chain = json.loads(r.stdout)
    assert [(c["step"], c["thread"], c["value"], c["depth"]) for c in chain] == [
        (48, "A2", "4", 0),
        (44, "A2", "3", 1),
        (43, "A2", "2", 1),
        (39, "A2", "1", 1),
    ]
    assert "`mprotect 0x10000 1p rw`" in chain[0]["text"]


def test_why_a_value_never_written_comes_from_the_scenario() -> None:
    r = spftui("why", "cow_lost_write", "--at", "5", "A.pte[0x10000]")
    assert r.returncode == 0
    assert "1. [start] A.pte[0x10000] = pfn 1 RO A D since the start" in r.stdout


def test_why_bad_input_is_an_error_not_a_traceback() -> None:
    r = spftui("why", "cow_lost_write", "--at", "5", "A.pte[")
    assert r.returncode == 2 and r.stderr.startswith("spftui: error:") and "Traceback" not in r.stderr
    r = spftui("why", "cow_lost_write", "--at", "5", "frame[9].words[0]")
    assert r.returncode == 2 and "cannot be read at step 5" in r.stderr
    r = spftui("why", "cow_lost_write", "--at", "999", "A.mmap_seq")
    assert r.returncode == 2 and "--at 999" in r.stderr


def test_why_a_cow_copy_names_the_step_that_write_protected_the_pte() -> None:
    """The pinned-page fork race: the parent's write copies the page because
    fork's copy_pte_range write-protected it (the fix off)."""
    r = spftui("why", "history_fork_pinned", "A.pte[0x20000]", "--fix", "fork_copy_pinned=off")
    assert r.returncode == 0, r.stderr
    assert (
        "[step 7] the fault found it write-protected: A2 copy_page_range:copy_pte_range in `fork C`"
        " set A.pte[0x20000]: pfn 1 W A D → pfn 1 RO A D"
    ) in r.stdout


def test_why_a_whole_vma_or_frame_reads_as_the_panes_write_them() -> None:
    r = spftui("why", "cow_lost_write", "A.vma[0x10000]")
    assert r.returncode == 0 and "VmaView(" not in r.stdout, r.stdout
    assert "set A.vma[0x10000]: vma0 0x10000-0x11000 rw-p anon_vma 1 vm_sequence 3 vm_lock_seq -1 → " in r.stdout
    r = spftui("why", "cow_lost_write", "frame[1]")
    assert "set frame[1]: pfn 1 count 1 map 0 [1 42 0 0] → pfn 1 free" in r.stdout, r.stdout


def test_why_and_an_unjudged_check_name_the_fixes_off() -> None:
    r = spftui("why", "history_dirty_cow", "frame[1].words[0]", "--fix", "foll_cow=off")
    assert r.stdout.splitlines()[0].endswith(", classic, fixes off: foll_cow):"), r.stdout
    r = spftui("check", "history_dirty_cow", "--fix", "foll_cow=off", "--policy", "spf-mm-seq")
    assert "no expectation for this configuration (policy spf-mm-seq, reuse mapcount, fixes off: foll_cow)" in r.stdout


def test_why_dirty_cows_write_tells_the_whole_race() -> None:
    """The write through GUP reached the page cache: the GUP that returned the page,
    faultin_page dropping FOLL_WRITE, and MADV_DONTNEED's zap that the read retry refilled."""
    r = spftui("why", "history_dirty_cow", "frame[1].words[0]", "--fix", "foll_cow=off")
    assert r.returncode == 0, r.stderr
    chain = r.stdout.splitlines()[1:]
    assert [line.split("]")[0].strip() for line in chain] == [
        "1. [step 35", "2. [step 34", "3. [step 18", "4. [step 20", "5. [step 31", "6. [step 23",
    ]  # fmt: skip
    assert "faultin_page clears FOLL_WRITE" in chain[3]
    assert chain[5].endswith(
        "D zap_pte_range:zap in `madvise 0x10000 1p dontneed` set P.pte[0x10000]: pfn 2 RO A D → none"
    )


def test_why_a_reuse_names_who_took_the_other_mapping_and_a_lost_store_its_stale_tlb_entry() -> None:
    """The seed: A2 reused pfn 1 because B's munmap left mapcount 1. The 6.4 fork race:
    A3's store hit a TLB entry fork's copy_pte_range had made stale, flushed only later."""
    r = spftui("why", "cow_lost_write", "A.pte[0x10000]", "--at", "40")
    assert (
        "3. [step 22] the mapcount it read: B zap_pte_range:zap in `munmap 0x10000 1p` set frame[1].mapcount: 2 → 1"
    ) in r.stdout, r.stdout
    r = spftui("why", "history_fork_vma_lock", "frame[2].words[1]", "--fix", "fork_vma_write_lock=off")
    chain = [line.strip() for line in r.stdout.splitlines()[1:]]
    assert chain[4] == "5. [step 20] A3's store hit its TLB entry (pfn 1, writable): stale", chain
    assert chain[5].startswith(
        "6. [step 4] the PTE it no longer matches: A1 copy_page_range:copy_pte_range in `fork C`"
    )
    assert chain[6] == "7. [step 22] the flush that drops the entry comes after the store: A1 dup_mmap:flush_tlb_mm"


def test_why_a_swap_in_that_reuses_the_page_names_do_swap_pages_decision() -> None:
    r = spftui("why", "cow_lost_write_swap", "A.pte[0x10000]", "--at", "41")
    assert (
        "2. [step 41] A2 reuses pfn 1: mapcount 0 + swap count 1 (reuse_swap_page; page_count 3 not looked at)"
        in r.stdout
    )


def test_why_a_threads_locals_read_as_the_trace_writes_them_and_name_the_step_that_set_them() -> None:
    r = spftui("why", "cow_lost_write", "--at", "5", "A1.vmf")
    assert r.returncode == 0 and "{'" not in r.stdout, r.stdout
    assert (
        "1. [step 1] A1 user:store in `write 0x10000 11`: A1.vmf is the locals of the fault it entered "
        "(its struct vm_fault); set up with addr=0x10000, write=true, mode=spf"
    ) in r.stdout
    assert "[step 5] A1 __handle_mm_fault:spf_walk in `write 0x10000 11` set pmd=table 0, orig_pte=pfn 1 RO A D" in (
        r.stdout
    )
    r = spftui("why", "cow_lost_write", "--at", "14", "A1.refs")
    assert "1. [step 13] A1 wp_page_copy:alloc_page in `write 0x10000 11` set A1.refs: pfn 1 → pfn 1, pfn 2" in r.stdout
    r = spftui("why", "cow_lost_write", "A1.refs")
    assert "set A1.refs: pfn 1 → none" in r.stdout, r.stdout


def test_why_a_threads_pc_says_what_an_empty_one_means() -> None:
    r = spftui("why", "cow_lost_write", "A1.pc")
    assert r.returncode == 0
    assert "[step 54] A1 user:store in `write 0x10000 11` set A1.pc: user:store → none (the thread is done)" in r.stdout
    r = spftui("why", "cow_lost_write", "--at", "0", "A1.pc")
    assert "A1.pc = none (between operations; the next starts `write 0x10000 11`) since the start" in r.stdout
    r = spftui("why", "cow_lost_write", "--at", "0", "A1.pc", "--json")
    assert json.loads(r.stdout)[0]["value"].startswith("none (between operations")


def test_why_a_local_not_set_yet_says_unset_and_reads_as_the_trace_writes_it() -> None:
    """A probe: `unset`, not `<no field 'orig_pte'>`; a PTE local as `pfn 1 RO A D`, a page as `pfn 2`."""
    for expr in ("A1.vmf.orig_pte", "A1.orig_pte"):
        r = spftui("why", "cow_lost_write", expr, "--at", "20")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()[1:]
        assert lines[0] == (
            f"1. [step 5] A1 __handle_mm_fault:spf_walk in `write 0x10000 11` set {expr}: unset → pfn 1 RO A D"
        )
        # where it came from: the PTE the fault sampled, followed into that PTE's history
        assert lines[1] == "  2. [step 5] A1 sampled orig_pte from A.pte[0x10000] = pfn 1 RO A D"
        assert lines[2].startswith("    3. [start] the value it sampled: A.pte[0x10000] = pfn 1 RO A D from the start")
    r = spftui("why", "cow_lost_write", "A1.new_page", "--at", "20")
    assert "set A1.new_page: unset → pfn 2" in r.stdout, r.stdout
    r = spftui("why", "cow_lost_write", "A1.vmf.page", "--at", "20")
    assert "set A1.vmf.page: unset → pfn 1" in r.stdout, r.stdout
    assert "vm_normal_page: the page A1.vmf.orig_pte (pfn 1 RO A D) maps" in r.stdout
    r = spftui("why", "cow_lost_write", "A1.orig_pte", "--at", "3")
    assert r.returncode == 2 and "A1.orig_pte is not set at step 3 (A1's locals then: addr=0x10000" in r.stderr


def test_why_a_whole_vmf_names_the_fault_that_set_it_up_not_the_copy_counter() -> None:
    r = spftui("why", "cow_lost_write", "A1.vmf", "--at", "20")
    assert r.returncode == 0, r.stderr
    assert "word" not in r.stdout and "[step 17]" not in r.stdout, r.stdout  # the copy loop's counter is bookkeeping
    lines = r.stdout.splitlines()[1:]
    assert lines[0].startswith("1. [step 1] A1 user:store in `write 0x10000 11`: A1.vmf is the locals of the fault")
    assert "  2. [step 2] A1 do_user_addr_fault:spf_seq_start in `write 0x10000 11` set seq=0" in lines
    assert "    11. [step 5] A1 sampled orig_pte from A.pte[0x10000] = pfn 1 RO A D" in lines
    assert "  15. [step 13] A1 wp_page_copy:alloc_page in `write 0x10000 11` set new_page=pfn 2" in lines
    r = spftui("why", "cow_lost_write", "A2.vmf", "--at", "40")  # mprotect's locals are no struct vm_fault
    assert "A2.vmf is A2's locals for it (not a fault: no struct vm_fault)" in r.stdout, r.stdout
    assert "the fault" not in r.stdout


def test_why_a_cow_pte_says_when_the_fault_sampled_it_and_the_writes_since() -> None:
    """A probe: the last item said `since the start` while items above named writes at 37 and 41."""
    r = spftui("why", "cow_lost_write", "--at", "52", "A.pte[0x10000]")
    assert r.returncode == 0, r.stderr
    assert (
        "[step 5] A1's fault sampled A.pte[0x10000] at step 5 (its orig_pte): pfn 1 RO A D; since then written at "
        "steps 37 (→ pfn 1 W A D), 41 (→ pfn 1 RO A D) — back to the value it sampled (ABA)"
    ) in r.stdout
    assert "since the start" not in r.stdout
    assert (
        "[start] the fault found it write-protected: A.pte[0x10000] = pfn 1 RO A D from the start through step 4"
    ) in r.stdout


def test_why_help_names_thread_local_expressions() -> None:
    r = spftui("why", "--help")
    text = " ".join(r.stdout.split())
    assert "A1.vmf.orig_pte" in text and "A1.refs" in text and "A1.pc" in text and "A1.vmf (" in text


def test_why_a_cow_commit_names_only_its_own_faults_checks_and_attempt() -> None:
    """A review found: another process's failed check listed among a commit's causes; an
    aborted attempt's decision and copies mixed into the retry's; "the mapcount it read"
    under the page-count rule (which reads page_count); and another process's store to the
    old page, after the copy was installed, called one "the copy missed"."""
    own = spftui(
        "why", "cow_three_writers_munmap", "--policy", "vma-lock", "--seed", "10", "--at", "57", "B.pte[0x10000]"
    )
    assert own.returncode == 0, own.stderr
    causes = own.stdout.splitlines()[2:]
    assert causes and not [c for c in causes if " A1 " in c or " A2 " in c], own.stdout  # (B1's, in process B)

    retried = spftui(
        "why", "cow_lost_write", "--policy", "spf-mm-seq", "--reuse", "page-count", "--seed", "13", "--at", "62",
        "A.pte[0x10000]",
    )  # fmt: skip
    text = retried.stdout
    assert "an earlier attempt of A2's fault aborted: PTL at pte_map_lock:trylock" in text, text
    assert "pfn 3 is the copy of pfn 1 made at steps 55, 57, 58, 59" in text
    assert "[step 21] A2 copies" not in text and "[step 42] A2 pmd_same" not in text

    rule = spftui("why", "fork_cow_isolation", "C.pte[0x10000]").stdout
    assert "C1 reuses pfn 1: page_count 1 (the page-count rule)" in rule
    assert "the page_count it read: A1 wp_page_copy:put_page in `write 0x10000 1` set frame[1].count: 2 → 1" in rule
    assert "the mapcount it read" not in rule

    isolated = spftui("why", "cow_three_writers_munmap", "--policy", "classic", "--seed", "2", "frame[2].words[1]")
    assert "B1 wp_page_copy:copy" in isolated.stdout and "missed" not in isolated.stdout, isolated.stdout
