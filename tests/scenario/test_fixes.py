"""`[fixes]` switches a modelled fix off; the machine asks `fixed(NAME)`."""

from __future__ import annotations

import pytest

from spftui.kernel.build import build_machine
from spftui.scenario import ScenarioError
from spftui.scenario.fixes import FIX, FIXES
from spftui.scenario.loader import parse_scenario

BASE = """
title = "t"
[[process]]
name = "A"
mapping = [{ start = 0x10000, pages = 1, prot = "rw" }]
[[thread]]
name = "A1"
process = "A"
ops = ["fork C"]
"""


def test_fix_off_reaches_the_machine() -> None:
    sc = parse_scenario(BASE + "[fixes]\nfork_vma_write_lock = false\nfork_vm_raw_write = true\n")
    assert sc.fixes_off == {"fork_vma_write_lock"}
    m = build_machine(sc)
    assert not m.fixed("fork_vma_write_lock") and m.fixed("fork_vm_raw_write")
    assert build_machine(sc.with_fixes({"fork_vma_write_lock": True})).fixed("fork_vma_write_lock")


def test_every_fix_names_a_commit_and_where() -> None:
    for name in FIXES:
        assert FIX[name].commit and FIX[name].where and FIX[name].kernels


@pytest.mark.parametrize(
    "table, message",
    [
        ("fork_vma_write_lok = false", "did you mean 'fork_vma_write_lock'"),
        ('fork_vma_write_lock = "off"', "expected a boolean"),
    ],
)
def test_bad_fixes_are_located(table: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message) as e:
        parse_scenario(BASE + "[fixes]\n" + table + "\n", "x.toml")
    assert str(e.value).startswith("x.toml:11: fixes.")
