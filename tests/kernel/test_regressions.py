"""Reproductions of simulator bugs found while writing the bundled scenarios."""

from __future__ import annotations

import pytest

from spftui.engine import Session
from spftui.scenario import parse_scenario

RECLAIM_PTL = """
title = "reclaim is handed a PTL while the page it wanted is unmapped"
policy = "classic"
kernel = "5.12"
[[process]]
name = "A"
data = { "0x10000" = 1 }
  [[process.mapping]]
  start = 0x10000
  pages = 1
[[process]]
name = "B"
fork_of = "A"
[[thread]]
name = "R"
process = "A"
ops = ["reclaim 0x10000"]
[[thread]]
name = "B1"
process = "B"
ops = ["write 0x10000 9", "munmap 0x10000 1p"]
[schedule]
steps = ["B1 until wp_page_copy:pte_same", "R until done", "B1 until done", "R until done", "B1 until done"]
"""

CHILD_BEFORE_FORK = """
title = "a child thread must wait until its fork returns"
policy = "classic"
kernel = "5.12"
[[process]]
name = "A"
data = { "0x10000" = 7 }
  [[process.mapping]]
  start = 0x10000
  pages = 1
[[thread]]
name = "A1"
process = "A"
ops = ["fork C"]
[[thread]]
name = "C1"
process = "C"
ops = ["write 0x10400 2"]
[schedule]
steps = ["A1 2", "C1 until done", "A1 until done"]
"""


@pytest.mark.parametrize("text", [RECLAIM_PTL, CHILD_BEFORE_FORK], ids=["reclaim-ptl", "child-before-fork"])
def test_regression_runs_clean_under_classic(text: str) -> None:
    s = Session(parse_scenario(text))
    stop = s.run()
    assert stop.kind == "finished", stop.text
    assert s.violations() == []


def test_child_thread_waits_for_the_fork_and_keeps_its_write() -> None:
    s = Session(parse_scenario(CHILD_BEFORE_FORK))
    s.run()
    child = s.machine.mms["C"]
    assert child.shadow[0x10][1] == 2 and child.shadow[0x10][0] == 7
    assert s.machine.threads[1].result.endswith("wrote 2")
