"""`spftui trace SCENARIO --format perfetto -o FILE`: a Chrome JSON trace Perfetto opens, with a
track per thread, lock hold slices, counter tracks and instant events that agree with the run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cli_run import spftui

ROOT = Path(__file__).resolve().parents[1]


def perfetto(tmp_path: Path, *args: str) -> list[dict[str, Any]]:
    out = tmp_path / "t.json"
    r = spftui("trace", *args, "--format", "perfetto", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    return list(json.loads(out.read_text())["traceEvents"])


def trace_steps(*args: str) -> list[dict[str, Any]]:
    r = spftui("trace", *args, "--json")
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def names(events: list[dict[str, Any]], what: str) -> dict[tuple[int, int], str]:
    return {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == what}


def test_the_seed_race_has_a_track_per_thread_lock_slices_and_an_mmap_seq_counter(tmp_path: Path) -> None:
    events = perfetto(tmp_path, "cow_lost_write")
    threads = names(events, "thread_name")
    processes = {pid: name for (pid, _), name in names(events, "process_name").items()}
    for t in ("A1", "A2", "B"):
        assert sum(name.startswith(f"{t} (CPU ") for name in threads.values()) == 1, threads
    steps = trace_steps("cow_lost_write")
    step_slices = [e for e in events if e.get("cat") == "step"]
    assert [(e["ts"], threads[(e["pid"], e["tid"])].split()[0], e["name"]) for e in step_slices] == [
        (s["step"], s["thread"], s["label"]) for s in steps
    ]
    # lock holds: B's munmap takes its mmap_lock for writing at the step its Lock event says
    locks = [e for e in events if e.get("cat") == "lock"]
    taken = [
        (s["step"], ev["lock"], ev["mode"], ev["thread"])
        for s in steps
        for ev in s["events"]
        if ev["kind"] == "lock" and ev["mode"] != "downgrade"
    ]
    assert taken
    for step, lock, mode, thread in taken:
        assert any(
            e["name"] == f"{lock} {mode}" and e["ts"] == step + 1 and e["args"]["holder"] == thread for e in locks
        ), (step, lock, mode, thread, locks)
    assert any(e["name"].startswith("ptl(table ") and e["dur"] > 0 for e in locks)
    # the mmap_seq counter of mm A takes every value its Seq events give, at the end of their step
    pid_a = next(pid for pid, name in processes.items() if name == "process A")
    counter = [(e["ts"], e["args"]["value"]) for e in events if e["ph"] == "C" and e["name"] == "mmap_seq"]
    counter_a = [
        (e["ts"], e["args"]["value"])
        for e in events
        if e["ph"] == "C" and e["name"] == "mmap_seq" and e["pid"] == pid_a
    ]
    seqs = [
        (s["step"] + 1, ev["new"])
        for s in steps
        for ev in s["events"]
        if ev["kind"] == "seq" and ev["counter"] == "mmap_seq" and ev["mm"] == "A"
    ]
    assert len(seqs) >= 2 and counter_a == [(1, 0), *seqs] and len(counter) > len(counter_a)
    assert any(e["ph"] == "C" and e["name"].endswith("page_mapcount") for e in events)
    # the violation is a global instant at its step
    violation = next(e for e in events if e.get("cat") == "violation")
    assert violation["s"] == "g" and violation["name"] == "VIOLATION lost_write"
    assert violation["ts"] == next(s["step"] for s in steps if any(ev["kind"] == "violation" for ev in s["events"]))


def test_slices_on_each_track_nest_so_the_viewer_can_stack_them(tmp_path: Path) -> None:
    events = perfetto(tmp_path, "cow_lost_write", "--policy", "spf-mm-seq")
    tracks: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for e in events:
        if e["ph"] == "X":
            assert e["dur"] > 0
            tracks.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["ts"] + e["dur"]))
    for spans in tracks.values():
        for a in spans:
            for b in spans:
                assert (
                    a[1] <= b[0] or b[1] <= a[0] or (a[0] <= b[0] and b[1] <= a[1]) or (b[0] <= a[0] and a[1] <= b[1])
                )
    ops = {e["name"] for e in events if e.get("cat") == "op"}
    kernel = {e["name"] for e in events if e.get("cat") == "kernel"}
    assert {"write 0x10000 11", "munmap 0x10000 1p"} <= ops
    assert {"do_user_addr_fault", "wp_page_copy", "__do_munmap"} <= kernel
    aborts = [e for e in events if e.get("cat") == "abort"]
    assert aborts and aborts[0]["name"] == "abort SEQ1"
    assert any(e.get("cat") == "validate" and e["name"].endswith("FAILED") for e in events)


def test_the_per_vma_lock_and_vm_sequence_have_tracks(tmp_path: Path) -> None:
    events = perfetto(tmp_path, "vma_lock_blocks_mprotect")
    locks = {e["name"] for e in events if e.get("cat") == "lock"}
    assert {"vma 0 lock(A) read", "vma 0 lock(A) write"} <= locks
    assert any(e["ph"] == "C" and e["name"] == "vma0.vm_sequence" for e in events)
    assert any(e["ph"] == "i" and e["name"].startswith("blocked on vm_lock") for e in events)


def test_an_existing_file_is_kept_unless_forced_and_o_is_required(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    out.write_text("mine\n")
    r = spftui("trace", "cow_lost_write", "--format", "perfetto", "-o", str(out))
    assert r.returncode == 2 and "already exists (use --force to replace it)" in r.stderr
    assert out.read_text() == "mine\n"
    r = spftui("trace", "cow_lost_write", "--format", "perfetto", "-o", str(out), "--force")
    assert r.returncode == 0 and json.loads(out.read_text())["otherData"]["schema"] == "spftui-perfetto/1"
    r = spftui("trace", "cow_lost_write", "--format", "perfetto", cwd=tmp_path)
    assert r.returncode == 2 and "needs -o FILE" in r.stderr and "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]


def test_decisions_are_instants_on_the_deciders_track_and_the_fixes_off_are_in_the_metadata(tmp_path: Path) -> None:
    """Dirty COW with foll_cow off: the reuse and faultin_page's FOLL_WRITE drop the race turns on."""
    out = tmp_path / "t.json"
    r = spftui("trace", "history_dirty_cow", "--fix", "foll_cow=off", "--format", "perfetto", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "(policy classic, reuse mapcount, fixes off: foll_cow)" in r.stdout
    trace = json.loads(out.read_text())
    other = trace["otherData"]
    assert (
        other["fixes_off"] == ["foll_cow"] and other["config"] == "policy classic, reuse mapcount, fixes off: foll_cow"
    )
    events = trace["traceEvents"]
    labels = {e["pid"]: e["args"]["labels"] for e in events if e["ph"] == "M" and e["name"] == "process_labels"}
    assert labels and set(labels.values()) == {other["config"]}
    threads = names(events, "thread_name")
    decisions = [e for e in events if e.get("cat") == "decision"]
    steps = trace_steps("history_dirty_cow", "--fix", "foll_cow=off")
    text = spftui("trace", "history_dirty_cow", "--fix", "foll_cow=off").stdout.splitlines()
    texts = {int(line.split()[0]): line for line in text if line.split()[0].isdigit()}  # the trace as it reads
    want = [(s["step"], s["thread"]) for s in steps for ev in s["events"] if ev["kind"] == "decision"]
    assert want and [(e["ts"], threads[(e["pid"], e["tid"])].split()[0]) for e in decisions] == want
    assert {e["name"] for e in decisions} >= {"reuses pfn 2", "drops FOLL_WRITE in faultin_page"}
    for e in decisions:
        assert e["ph"] == "i" and e["s"] == "t" and e["args"]["text"] in texts[e["ts"]]


def test_a_ptl_taken_and_dropped_within_one_step_has_a_track_and_a_step_long_slice(tmp_path: Path) -> None:
    """B's zap_pte_range takes and drops its PTL in one step: the state after the step does not show it,
    but the locks process still gets `ptl(table N) · B` with a slice over that step."""
    events = perfetto(tmp_path, "cow_lost_write")
    steps = trace_steps("cow_lost_write")
    zap = next(s["step"] for s in steps if s["thread"] == "B" and s["label"].startswith("zap_pte_range:"))
    tracks = {name: tid for (pid, tid), name in names(events, "thread_name").items() if pid == 1}
    b_ptl = [name for name in tracks if name.startswith("ptl(table ") and name.endswith(" · B")]
    assert b_ptl, tracks
    (held,) = [e for e in events if e.get("cat") == "lock" and e["tid"] == tracks[b_ptl[0]] and e["pid"] == 1]
    assert (held["ts"], held["dur"], held["args"]["holder"], held["args"]["within_step"]) == (zap, 1, "B", zap)
    assert held["name"] == b_ptl[0].split(" · ")[0]


def test_o_dash_prints_the_perfetto_document_to_standard_output_and_writes_no_file(tmp_path: Path) -> None:
    r = spftui("trace", "cow_lost_write", "--format", "perfetto", "-o", "-", cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == ""
    trace = json.loads(r.stdout)  # one JSON document and nothing else (no "wrote -: ..." line)
    assert trace["otherData"]["schema"] == "spftui-perfetto/1" and trace["traceEvents"]
    assert list(tmp_path.iterdir()) == []  # (no file named '-')
    out = tmp_path / "t.json"
    assert spftui("trace", "cow_lost_write", "--format", "perfetto", "-o", str(out)).returncode == 0
    assert r.stdout == out.read_text()  # the same document the file gets


def test_an_empty_o_is_refused_with_the_same_words_in_every_format(tmp_path: Path) -> None:
    said = '"": cannot write the trace: expected a file name, found an empty one'
    for form in ((), ("--json",), ("--format", "perfetto")):
        r = spftui("trace", "cow_lost_write", *form, "-o", "", cwd=tmp_path)
        assert (r.returncode, r.stderr) == (2, f"spftui: error: {said}\n"), form
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_takes_no_new_file_is_said_of_the_file_not_as_a_missing_folder() -> None:
    """/proc is there, but no file can be made in it (even by root): the system's answer is
    given for the file, never "No such file or directory: /proc"."""
    try:  # (root: No such file or directory; anyone else: Permission denied)
        os.close(os.open("/proc/x.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    except OSError as e:
        system = e.strerror
    said = f"/proc/x.json: cannot write the trace: cannot create it in /proc (the system says: {system})"
    for form in ((), ("--format", "perfetto")):
        r = spftui("trace", "cow_lost_write", *form, "-o", "/proc/x.json")
        assert (r.returncode, r.stderr) == (2, f"spftui: error: {said}\n"), form
    from spftui.engine.files import WriteError, write_file

    with pytest.raises(WriteError) as err:  # (the TUI's `x` writes through the same function)
        write_file("/proc/x.json", "{}", what="the trace")
    assert str(err.value) == said
