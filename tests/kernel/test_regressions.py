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


CHILD_DATA = """
title = "data a fork_of child writes at setup is its own (found by a user writing scenarios)"
[[process]]
name = "A"
data = { 0x10000 = 1 }
  [[process.mapping]]
  start = 0x10000
  pages = 2
[[process]]
name = "B"
fork_of = "A"
data = { 0x10000 = 9, 0x11000 = 5 }
[[thread]]
name = "A1"
process = "A"
ops = ["read 0x11000", "read 0x10000"]
[[thread]]
name = "B1"
process = "B"
ops = ["read 0x11000", "read 0x10000"]
"""


def test_data_a_fork_of_child_writes_at_setup_breaks_cow_and_leaves_the_parent_alone() -> None:
    """It was written into the page the child shared with its parent: A read 9."""
    s = Session(parse_scenario(CHILD_DATA))
    assert s.run().kind == "finished" and s.violations() == []
    m = s.machine
    assert [t.result for t in m.threads] == ["read 0x10000: read 1", "read 0x10000: read 9"]
    a, b = m.mms["A"], m.mms["B"]
    assert (a.shadow[0x10][0], b.shadow[0x10][0], b.shadow[0x11][0]) == (1, 9, 5)
    pa, pb = m.pte_lookup(a, 0x10) >> 12, m.pte_lookup(b, 0x10) >> 12
    assert pa != pb and m.frames[pa].words[0] == 1 and m.frames[pb].words[0] == 9
    assert (m.frames[pa].count, m.frames[pa].mapcount, m.frames[pb].count, m.frames[pb].mapcount) == (1, 1, 1, 1)
    assert m.frames[pb].anon_exclusive and not m.frames[pa].anon_exclusive  # (fork cleared the parent's)
    assert (a.rss_anon, b.rss_anon) == (1, 2)
