"""scenario_toml writes a scenario that the loader reads back as the same run."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from spftui.engine.scenario_toml import scenario_toml
from spftui.scenario import OP_KINDS, load_scenario, parse_scenario
from spftui.scenario.syntax import op_text, parse_op

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "scenarios").glob("*.toml")) + sorted((ROOT / "benchmarks" / "scenarios").glob("*.toml"))


def _run(sc):
    """What decides a run, and what the user set on it (no lines, keys or texts)."""

    def bare(x):
        fields = {f.name for f in attrs.fields(type(x))}
        drop = {k: v for k, v in (("line", 0), ("text", "")) if k in fields}
        return attrs.evolve(x, **drop)

    return (
        sc.policy, sc.reuse, sc.kernel, sc.words_per_page, sc.seed, sc.fixes_off,
        tuple(bare(f) for f in sc.files),
        tuple(attrs.evolve(bare(p), mappings=tuple(map(bare, p.mappings))) for p in sc.processes),
        tuple(attrs.evolve(bare(t), ops=tuple(map(bare, t.ops))) for t in sc.threads),
        tuple((b.kind, b.match, b.thread, b.expr, b.condition, b.enabled) for b in sc.breakpoints),
    )  # fmt: skip


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_scenario_reads_back_as_the_same_run(path: Path) -> None:
    sc = load_scenario(path)
    again = parse_scenario(scenario_toml(sc), str(path))
    assert _run(again) == _run(sc)
    assert again.title == sc.title


def test_every_op_kind_is_spelled_as_parse_op_reads_it() -> None:
    examples = [
        "read 0x10000", "write 0x10008 -7", "mmap 0x20000 2p r", "munmap 0x10000 1p", "mprotect 0x10000 3p none",
        "madvise 0x10000 1p dontneed", "fork C", "reclaim 0x10000", "age 0x10000", "gup 0x10000",
        "gup 0x10000 write force pin", "gup-read 0x10008", "gup-write 0x10008 5", "unpin 0x10000",
        "mremap 0x10000 1p 2p", "mremap 0x10000 1p 1p move 0x40000 dontunmap", "uffd-wp 0x10000 1p",
        "uffd-unwp 0x10000 1p",
    ]  # fmt: skip
    assert {e.split()[0] for e in examples} == set(OP_KINDS)
    for text in examples:
        op = parse_op(text)
        assert op_text(op) == text
        assert parse_op(op_text(op)) == op


def test_fixes_are_written_against_the_kernel_preset() -> None:
    sc = load_scenario(ROOT / "scenarios" / "history_gup_after_fork.toml")
    for switches in ({"page_count_reuse": False}, {}):
        run = sc.with_fixes(switches)
        assert parse_scenario(scenario_toml(run), "x.toml").fixes_off == run.fixes_off


@pytest.mark.parametrize("path", [p for p in FILES if "[fixes]" not in p.read_text()], ids=lambda p: p.stem)
def test_fixes_are_written_only_where_the_run_differs_from_its_kernel(path: Path) -> None:
    """A file with no [fixes] is written with none: 5.8 lacks fork_copy_pinned only when a thread pins a
    page (as the loader decides), so `fork_copy_pinned = true` would describe another kernel."""
    assert "[fixes]" not in scenario_toml(load_scenario(path))


def test_a_5_8_scenario_without_pins_writes_no_fix_switch() -> None:
    sc = load_scenario(ROOT / "scenarios" / "cow_lost_write.toml")
    assert sc.kernel == "5.8" and not sc.fixes_off
    text = scenario_toml(sc)
    assert "[fixes]" not in text and "fork_copy_pinned" not in text
    off = sc.with_fixes({"gup_force_cow": False})  # a switch the user turns is still written
    assert "gup_force_cow = false" in scenario_toml(off)
    assert parse_scenario(scenario_toml(off), "x.toml").fixes_off == off.fixes_off
