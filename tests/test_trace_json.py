"""`spftui trace --json`: named fields, a schema version, and the README documents every kind."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from spftui.engine import Session
from spftui.kernel.events import EVENT_KINDS, TRACE_SCHEMA
from spftui.report import trace_json, trace_steps
from spftui.scenario import bundled_scenarios_dir, load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[1]
# A first write into an empty mapping: classic anon_vma_prepare (no bundled scenario needs it).
EMPTY_MAPPING = """
title = "first touch"
policy = "classic"

[[process]]
name = "A"

  [[process.mapping]]
  start = 0x10000
  pages = 1
  prot = "rw"

[[thread]]
name = "A1"
process = "A"
ops = ["write 0x10000 1"]
"""


def documented_fields() -> dict[str, list[str]]:
    """kind -> fields, from the table under README's "### Trace JSON"."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### Trace JSON", 1)[1].split("\n### ", 1)[0]
    out = {}
    for row in re.findall(r"^\| `(\w+)` \| (.+) \|$", section, re.M):
        kind, cell = row
        # a field is a backquoted name at the start or after ", " (values in parentheses are not fields)
        out[kind] = re.findall(r"(?:^|, )`(\w+)`", re.sub(r"\([^)]*\)", "", cell))
    return out


def test_the_readme_documents_every_event_kind_with_its_fields() -> None:
    doc = documented_fields()
    assert sorted(doc) == sorted(EVENT_KINDS)
    for kind, cls in EVENT_KINDS.items():
        assert doc[kind] == list(cls._fields), kind


def test_every_event_kinds_json_has_exactly_the_documented_fields() -> None:
    doc = documented_fields()
    seen: set[str] = set()
    scenarios = [load_scenario(p) for p in sorted(bundled_scenarios_dir().glob("*.toml"))]
    for sc in [*scenarios, parse_scenario(EMPTY_MAPPING)]:
        for info in trace_steps(Session(sc), 3000):
            line = json.loads(json.dumps(trace_json(info)))
            assert line["schema"] == TRACE_SCHEMA == 2
            for e in line["events"]:
                assert list(e) == ["kind", *doc[e["kind"]]], e
                seen.add(e["kind"])
    assert seen == set(EVENT_KINDS), f"no scenario here emits {sorted(set(EVENT_KINDS) - seen)}"


def test_spftui_trace_json_prints_named_fields_and_the_schema() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "spftui", "trace", "cow_lost_write", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert lines and all(set(x) == {"schema", "step", "thread", "label", "events"} for x in lines)
    assert all(x["schema"] == 2 for x in lines)
    assert [x["step"] for x in lines] == list(range(1, len(lines) + 1))  # step N is the N-th step taken
    first = lines[0]["events"][0]
    assert first["kind"] == "op_start" and first["thread"] == lines[0]["thread"]
    ptes = [e for x in lines for e in x["events"] if e["kind"] == "pte"]
    assert ptes and set(ptes[0]) == {"kind", "mm", "vpn", "old", "new"}
