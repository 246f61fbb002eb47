"""`spftui kernel-check --scenario FILE`: a scenario's ops, one thread after another, on this kernel
and in the model (CI runs as root; without root the PFN columns are left out, as for random sequences)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from spftui.cli import main
from spftui.fidelity.scenario_ops import scenario_ops
from spftui.scenario import parse_scenario

ROOT = Path(__file__).resolve().parents[2]
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kernel-check needs a Linux host")
linux_root = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0 or not os.access("/proc/kpageflags", os.R_OK),
    reason="kernel-check compares PFNs, map counts and page flags: needs Linux and root (/proc/kpageflags)",
)
FITTING = ["cow_lost_write", "cow_lost_write_page_count", "dontneed_race", "fork_cow_isolation", "spf_abort_munmap"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    status = main(["kernel-check", *args, "--json"])
    captured = capsys.readouterr()
    return status, json.loads(captured.out) if captured.out else {}, captured.err


@linux_root
@pytest.mark.parametrize("name", FITTING)
def test_a_bundled_scenario_run_one_thread_after_another_agrees_with_this_kernel(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, report, err = run(capsys, "--scenario", name)
    assert report["mismatches"] == {}, report
    assert status == 0 and report["agree"] == report["seeds"] == 1 and report["pfn_columns"] is True
    assert report["scenario"] == name and report["ops"] and err == ""


@linux_root
def test_the_seed_race_with_its_fork_and_mprotects_is_the_op_list_compared(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kernel-check", "--scenario", "cow_lost_write"]) == 0
    out = capsys.readouterr().out
    # B is fork_of A: P's data, the fork, then A1, A2 and B's ops in file order
    assert out.index("P write p0 1") < out.index("P fork") < out.index("P write p0 11") < out.index("C munmap p0 1p")
    assert "ops=7 agree=yes" in out


def reuse_regardless_of_exclusive(m: Any, t: Any, f: Any) -> bool:
    """A broken do_wp_page: reuses a page another process still maps."""
    return True


@linux_root
def test_a_broken_cow_rule_is_caught_on_the_fork_isolation_scenario(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import spftui.kernel.wp

    monkeypatch.setattr(spftui.kernel.wp, "can_reuse", reuse_regardless_of_exclusive)
    status, report, _ = run(capsys, "--scenario", "fork_cow_isolation")
    assert status == 1 and report["agree"] == 0
    example = next(iter(report["mismatches"].values()))
    assert "P fork" in example["ops"] and any(" write " in op for op in example["ops"])


@linux
def test_without_root_the_scenario_is_compared_without_pfn_columns(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import spftui.fidelity.host

    monkeypatch.setattr(spftui.fidelity.host, "pfns_readable", lambda: False)
    status, report, err = run(capsys, "--scenario", "fork_cow_isolation")
    assert status == 0 and report["agree"] == 1 and report["pfn_columns"] is False
    assert err.count("not root") == 1


@linux
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("swap_cache_hit", "swap_cache_hit.toml:65: ops: kernel-check --scenario: thread A2: `reclaim 0x10000` cannot"),
        (
            "false_abort_unrelated_vma",
            "false_abort_unrelated_vma.toml:45: process: kernel-check --scenario: it compares",
        ),
    ],
)
def test_a_scenario_kernel_check_cannot_drive_is_refused_with_its_line(
    name: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["kernel-check", "--scenario", name]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_setup_becomes_ops_and_a_forked_process_waits_for_its_fork() -> None:
    sc = parse_scenario(
        """
title = "t"
[[process]]
name = "A"
data = { "0x20400" = 7 }
[[process.mapping]]
start = 0x20000
pages = 3
prot = "r"
populate = true
[[thread]]
name = "K"
process = "K"
ops = ["write 0x21000 4"]
[[thread]]
name = "A1"
process = "A"
ops = ["fork K", "mprotect 0x20000 2p rw"]
repeat = 1
""",
        "t.toml",
    )
    ops, npages = scenario_ops(sc)
    assert npages == 3
    assert [op.text for op in ops] == [
        "P mprotect p0 3p r",
        "P read p0",
        "P read p1",
        "P read p2",
        "P write p0+0x400 7",
        "P fork",
        "P mprotect p0 2p rw",
        "C write p1 4",
    ]


MAPPED = """title = "t"
[[file]]
name = "F"
pages = 1
data = { "0x0" = 5 }
[[process]]
name = "A"
  [[process.mapping]]
  start = 0x10000
  pages = 1
  {key}
[[thread]]
name = "A1"
process = "A"
ops = ["read 0x10000", "write 0x10000 9", "madvise 0x10000 1p dontneed", "read 0x10000"]
"""


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ('file = "F"', "process[0].mapping[0].file: kernel-check --scenario: it compares private anonymous mappings"),
        ("uffd_wp = true", "process[0].mapping[0].uffd_wp: kernel-check --scenario: it compares private anonymous"),
    ],
)
def test_a_file_or_uffd_wp_mapping_is_refused_not_compared_as_anonymous_memory(
    tmp_path: Path, key: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A private file mapping was compared as anonymous memory and said `agree=yes` (the file's 5
    never read on the host side)."""
    path = tmp_path / "s.toml"
    path.write_text(MAPPED.replace("{key}", key))
    assert main(["kernel-check", "--scenario", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"spftui: error: {path}:11: {said}"), err
    assert "Traceback" not in err
