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


@pytest.mark.parametrize(
    "kernel, policy, reuse, off",
    [
        ("6.4.0", "vma-lock", "anon-exclusive", {"fork_vma_write_lock"}),
        ("6.4.3", "vma-lock", "anon-exclusive", set()),
        ("6.4", "classic", "anon-exclusive", set()),  # kept as it was: 6.4 with its stable fixes
        ("5.19", "classic", "anon-exclusive", set()),
        ("5.18", "classic", "anon-exclusive", set()),
        ("5.17", "classic", "page-count", set()),
        ("5.8", "classic", "mapcount", set()),  # (it lacks fork_copy_pinned: only a scenario that pins says so)
        ("5.7", "classic", "mapcount", {"gup_force_cow"}),  # 5.8 without GUP's forced COW break (17839856fd58)
    ],
)
def test_a_kernel_preset_decides_the_reuse_rule_the_policy_and_the_fixes(
    kernel: str, policy: str, reuse: str, off: set[str]
) -> None:
    sc = parse_scenario(f'kernel = "{kernel}"\n' + BASE)
    assert (sc.policy, sc.reuse, set(sc.fixes_off)) == (policy, reuse, off)


def test_the_scenario_overrides_its_kernel_preset() -> None:
    sc = parse_scenario('kernel = "6.4.0"\npolicy = "classic"\n' + BASE + "[fixes]\nfork_vma_write_lock = true\n")
    assert sc.policy == "classic" and sc.fixes_off == frozenset()


def test_the_reuse_rules_say_when_pg_anon_exclusive_landed() -> None:
    from spftui.scenario.model import KERNEL_PRESET
    from spftui.scenario.policies import REUSE

    assert REUSE["anon-exclusive"].releases.startswith("5.19+")
    assert "6c287605fd56" in KERNEL_PRESET["5.19"].note
    assert "c145e0b47c77" in KERNEL_PRESET["5.18"].note and "reuse_swap_page" in KERNEL_PRESET["5.18"].note


EXPECT_FIXES = """
[expect]
lost_write = "never"
[expect.fixes_off.fork_vma_write_lock]
lost_write = "sometimes"
"""


def test_an_expect_table_for_a_fix_off_applies_only_when_the_run_lacks_it() -> None:
    sc = parse_scenario('policy = "vma-lock"\n' + BASE + EXPECT_FIXES)
    assert sc.expectations() == {"lost_write": "never"}
    off = sc.with_fixes({"fork_vma_write_lock": False})
    assert off.expectations() == {"lost_write": "sometimes"}
    assert off.expect_table() is not None and off.expect_table().name == "[expect.fixes_off.fork_vma_write_lock]"  # type: ignore[union-attr]
    assert off.expectations("classic") == {}  # the file's own policy only


@pytest.mark.parametrize(
    "table, line, key, message",
    [
        ("[expect.fixes_off.fork_vma_write_lok]\nlost_write = 'never'", 10, "expect.fixes_off.fork_vma_write_lok",
         "did you mean 'fork_vma_write_lock'"),
        ("[expect.fixes_off]\nlost_write = 'never'", 11, "expect.fixes_off.lost_write", "unknown fix 'lost_write'"),
        ("[expect.fixes_off.fork_vma_write_lock.x]\nlost_write = 'never'", 10, "expect.fixes_off.fork_vma_write_lock.x",
         "found a table"),
        ("[expect.fixes_off.fork_vma_write_lock]\nlost_wirte = 'never'", 11,
         "expect.fixes_off.fork_vma_write_lock.lost_wirte", "did you mean 'lost_write'"),
    ],
)  # fmt: skip
def test_bad_fixes_off_tables_are_located(table: str, line: int, key: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message) as e:
        parse_scenario(BASE + table + "\n", "x.toml")
    assert (e.value.line, e.value.key) == (line, key), str(e.value)


def test_a_preset_takes_out_a_pin_fix_only_from_a_scenario_that_pins() -> None:
    """5.8 lacks fork_copy_pinned (70e806e4e645, 5.9); its code runs only for a pinned
    page, so "fixes off" names it only where a `gup … pin` op could make it matter."""
    pinned = BASE.replace('ops = ["fork C"]', 'ops = ["gup 0x10000 write pin", "fork C"]')
    assert pinned != BASE
    assert parse_scenario('kernel = "5.8"\n' + pinned).fixes_off == {"fork_copy_pinned"}
    assert parse_scenario('kernel = "5.8"\n' + BASE).fixes_off == frozenset()
    assert parse_scenario('kernel = "5.12"\n' + pinned).fixes_off == frozenset()
