"""The policy and reuse-rule registry: one record each, and the kernel asks the record."""

from __future__ import annotations

import ast
from pathlib import Path

import attrs

from spftui.kernel import Machine, all_labels, build_machine
from spftui.scenario import POLICIES, REUSE_RULES, parse_scenario
from spftui.scenario.policies import POLICY, POLICY_LIST, REUSE, REUSE_LIST

KERNEL = Path(__file__).resolve().parents[2] / "spftui" / "kernel"

ONE_WRITER = """\
title = "a fault and an mprotect"
policy = "classic"
[[process]]
name = "P"
  [[process.mapping]]
  start = 0x10000
  pages = 2
[[thread]]
name = "F"
process = "P"
ops = ["read 0x10000"]
[[thread]]
name = "W"
process = "P"
ops = ["mprotect 0x11000 1p r"]
"""


def labels_run(policy: str, m: Machine | None = None) -> list[str]:
    """The step labels of a run (lowest runnable thread first) of a fresh machine, or of `m`."""
    m = m if m is not None else build_machine(parse_scenario(ONE_WRITER).with_policy(policy))
    seen = []
    while m.runnable():
        i = m.runnable()[0]
        m.step(i)
        seen.append(m.last_label)
    return seen


def test_every_policy_and_reuse_rule_is_one_record_with_a_real_entry_step() -> None:
    assert tuple(p.name for p in POLICY_LIST) == POLICIES == tuple(POLICY)
    assert tuple(r.name for r in REUSE_LIST) == REUSE_RULES == tuple(REUSE)
    for p in POLICY_LIST:
        assert p.entry in all_labels(), p.name
        assert p.description and p.snapshots and p.validates and p.origin
        assert p.speculative == (p.name != "classic")


def test_the_machine_holds_the_records_it_was_built_with() -> None:
    for name in POLICIES:
        m = build_machine(parse_scenario(ONE_WRITER).with_policy(name))
        assert m.policy is POLICY[name]
        assert m.policy.entry in labels_run(name)  # the read faults through the policy's entry


def test_writers_take_vma_write_locks_exactly_when_the_policy_says_so() -> None:
    for p in POLICY_LIST:
        took = "mprotect_fixup:vma_start_write" in labels_run(p.name)
        assert took == p.write_locks_vmas, p.name


def test_a_new_policy_is_one_record_the_kernel_asks() -> None:
    """A record that borrows vma-lock's behaviour under a new name runs the same steps."""
    twin = attrs.evolve(POLICY["vma-lock"], name="vma-lock-twin")
    POLICY[twin.name] = twin
    try:
        m = build_machine(parse_scenario(ONE_WRITER).with_policy("vma-lock"))
        m.policy = twin
        assert labels_run("", m) == labels_run("vma-lock")
    finally:
        del POLICY[twin.name]


def test_the_kernel_never_compares_policy_or_reuse_names() -> None:
    """`m.policy == "vma-lock"` in a path would bypass the registry."""

    def is_rule(node: ast.expr) -> bool:
        return isinstance(node, ast.Attribute) and node.attr in ("policy", "reuse")

    for path in sorted(KERNEL.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare) and any(is_rule(x) for x in (node.left, *node.comparators)):
                raise AssertionError(f"{path.name}:{node.lineno}: a policy or reuse rule is compared by name")
