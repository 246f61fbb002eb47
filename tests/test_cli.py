"""The command line, through the same entry point a user runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEED = str(ROOT / "scenarios" / "cow_lost_write.toml")


def spftui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spftui", *args], capture_output=True, text=True, cwd=ROOT)


def test_check_reports_the_lost_write_under_refetch_vma() -> None:
    r = spftui("check", SEED, "--policy", "spf-refetch-vma")
    assert r.returncode == 0, r.stderr
    assert "LOST WRITE at step 51 (A1, wp_page_copy:pte_same)" in r.stdout
    assert "A:0x10400 reads 0" in r.stdout and "42 was written there" in r.stdout
    assert "B starts `munmap 0x10000 1p`" in r.stdout


def test_check_shows_the_mm_seq_abort_and_no_violation() -> None:
    r = spftui("check", SEED, "--policy", "spf-mm-seq")
    assert r.returncode == 0, r.stderr
    assert "SEQ1 — mmap_seq changed 0→4; retried on the classic path" in r.stdout
    assert "Violations: none" in r.stdout


def test_check_json_has_the_documented_fields() -> None:
    r = spftui("check", SEED, "--json")
    data = json.loads(r.stdout)
    for key in ("scenario", "policy", "steps", "aborts", "violations", "expect_ok"):
        assert key in data
    assert data["violations"][0] == {
        "kind": "lost_write",
        "step": 51,
        "thread": "A1",
        "detail": "A:0x10400 reads 0 after installing pfn 2 W A D, but 42 was written there",
        "label": "wp_page_copy:pte_same",
    }
    r = spftui("check", SEED, "--json", "--policy", "spf-mm-seq")
    data = json.loads(r.stdout)
    assert data["aborts"] == [
        {
            "thread": "A1",
            "step": 48,
            "reason": "SEQ1",
            "detail": "mmap_seq changed 0→4",
            "label": "pte_map_lock:seq_check",
            # the sample, then each writer's bump (the two mprotects take and drop mmap_lock)
            "changes": [
                {"object": "A.mmap_seq", "step": 1, "thread": "A1", "label": "do_user_addr_fault:spf_seq_start",
                 "value": "0"},
                {"object": "A.mmap_seq", "step": 38, "thread": "A2", "label": "do_mprotect_pkey:mmap_write_lock",
                 "value": "1"},
                {"object": "A.mmap_seq", "step": 42, "thread": "A2", "label": "do_mprotect_pkey:mmap_write_unlock",
                 "value": "2"},
                {"object": "A.mmap_seq", "step": 43, "thread": "A2", "label": "do_mprotect_pkey:mmap_write_lock",
                 "value": "3"},
                {"object": "A.mmap_seq", "step": 47, "thread": "A2", "label": "do_mprotect_pkey:mmap_write_unlock",
                 "value": "4"},
            ],
        }
    ]  # fmt: skip


def test_check_exits_1_when_expectations_fail(tmp_path: Path) -> None:
    text = Path(SEED).read_text().replace('[expect]\nlost_write = "sometimes"', '[expect]\nlost_write = "never"')
    p = tmp_path / "wrong.toml"
    p.write_text(text)
    r = spftui("check", str(p))
    assert r.returncode == 1
    assert "expectations do NOT hold" in r.stdout


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('title = "x"\n[[thread]]\nname = "T"\nprocess = "P"\nops = ["read 0x1000"]\n', ":4: thread[0].process"),
        ('title = "x"\npolicy = "spf"\n', ":2: policy"),
        (
            'title = "x"\n[[process]]\nname = "P"\n[[thread]]\nname = "T"\nprocess = "P"\nops = ["jump 1"]\n',
            "thread[0].ops[0]",
        ),
    ],
)
def test_bad_scenarios_exit_2_with_a_located_error_and_no_traceback(tmp_path: Path, text: str, where: str) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(text)
    for cmd in ("check", "trace"):
        r = spftui(cmd, str(p))
        assert r.returncode == 2
        assert "Traceback" not in r.stderr
        assert r.stderr.startswith("spftui: error: ") and where in r.stderr


def test_bad_schedule_file_is_a_located_error(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text('steps = ["A1 until wp_page_copy:cpy"]\n')
    r = spftui("check", SEED, "--schedule", str(p))
    assert r.returncode == 2 and "did you mean" in r.stderr and ":1:" in r.stderr


def test_schedule_file_replays_a_recorded_run(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(
        'policy = "spf-refetch-vma"\nreuse = "mapcount"\nsteps = ["A1 17", "B 9", "A2 until done", "A1 until done"]\n'
    )
    r = spftui("check", SEED, "--schedule", str(p), "--json")
    data = json.loads(r.stdout)
    assert data["policy"] == "spf-refetch-vma"
    assert [v["kind"] for v in data["violations"]] == ["lost_write"]


def test_scenarios_lists_the_bundled_scenarios() -> None:
    r = spftui("scenarios")
    assert r.returncode == 0
    assert "cow_lost_write" in r.stdout and "Lespinasse" in r.stdout


def test_bundled_scenarios_can_be_named_without_a_path() -> None:
    r = spftui("check", "cow_lost_write", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["title"].startswith("COW lost write")


def test_version() -> None:
    r = spftui("--version")
    assert r.returncode == 0 and r.stdout.startswith("spftui ")
