"""`spftui kernel-check` against the kernel running the tests (root on Linux, as in CI)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_run import spftui

from spftui.cli import main
from spftui.fidelity.sequence import generate, valid

ROOT = Path(__file__).resolve().parents[2]
linux_root = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0 or not os.access("/proc/kpageflags", os.R_OK),
    reason="kernel-check compares PFNs, map counts and page flags: needs Linux and root (/proc/kpageflags)",
)


@linux_root
def test_kernel_check_agrees_with_this_kernel_on_every_seed() -> None:
    r = spftui("kernel-check", "--seeds", "40", "--ops", "30", "--pages", "5", "--json")
    report = json.loads(r.stdout)
    assert report["mismatches"] == {}, r.stdout
    assert r.returncode == 0 and report["seeds"] == report["agree"] == 40
    assert report["pfn_columns"] is True


def reuse_regardless_of_exclusive(m: Any, t: Any, f: Any) -> bool:
    """A broken do_wp_page: reuses a page another process still maps (COW ignoring PageAnonExclusive)."""
    return True


@linux_root
def test_kernel_check_catches_a_broken_cow_reuse_rule_and_minimises_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import spftui.kernel.wp

    monkeypatch.setattr(spftui.kernel.wp, "can_reuse", reuse_regardless_of_exclusive)
    assert main(["kernel-check", "--seeds", "20", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["agree"] < report["seeds"]
    example = next(e for e in report["mismatches"].values())
    assert "P fork" in example["ops"] and len(example["ops"]) <= 4  # ddmin: fork and one or two writes


@linux_root
def test_kernel_check_prints_a_side_by_side_view_of_a_mismatch(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import spftui.kernel.mmap

    monkeypatch.setattr(spftui.kernel.mmap, "overlapping", lambda m, mm, a, b: [])  # madvise: always -ENOMEM
    assert main(["kernel-check", "--seeds", "10"]) == 1
    out = capsys.readouterr().out
    assert "agree=" in out and "mismatch madvise: result" in out
    assert "≠ result    kernel: 0" in out and "model: ENOMEM" in out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux")
def test_without_root_kernel_check_says_so_once_and_compares_the_rest(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import spftui.fidelity.host

    monkeypatch.setattr(spftui.fidelity.host, "pfns_readable", lambda: False)
    assert main(["kernel-check", "--seeds", "10", "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("not root") == 1
    report = json.loads(captured.out)
    assert report["agree"] == 10 and report["pfn_columns"] is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux")
@pytest.mark.parametrize("as_json", [False, True])
def test_ctrl_c_during_kernel_check_prints_the_seeds_checked_so_far(
    monkeypatch: pytest.MonkeyPatch, as_json: bool
) -> None:
    """It printed only `spftui: interrupted`."""
    import signal

    from spftui.fidelity import compare

    generate = compare.generate

    def ctrl_c_at_seed_3(seed: int, nops: int, max_pages: int) -> Any:
        if seed == 3:
            os.kill(os.getpid(), signal.SIGINT)  # (as if typed while seed 3 runs)
        return generate(seed, nops, max_pages)

    monkeypatch.setattr(compare, "generate", ctrl_c_at_seed_3)
    r = spftui("kernel-check", "--seeds", "500", *(["--json"] if as_json else []))
    assert r.returncode == 130 and "interrupted" not in r.stderr
    if as_json:
        report = json.loads(r.stdout)
        assert report["interrupted"] is True and report["seeds"] == report["agree"] == 4
    else:
        assert "seeds=4 agree=4\n" in r.stdout
        assert r.stdout.endswith("Interrupted after 4 of 500 seeds (seeds 0 to 3): the figures above are theirs.\n")


def test_on_a_host_that_is_not_linux_kernel_check_exits_2_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert main(["kernel-check", "--seeds", "1"]) == 2
    assert "needs a Linux host" in capsys.readouterr().err


def test_sequences_are_seeded_and_valid() -> None:
    assert generate(7, 30, 6) == generate(7, 30, 6)
    for seed in range(50):
        npages, ops = generate(seed, 30, 6)
        assert 3 <= npages <= 6 and len(ops) == 30 and valid(ops)
