"""A scenario's `[[breakpoint]]` tables: read and checked with the loader's located errors,
set by the debugger on open, honoured by `spftui check` as `--break` is (through the CLI)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_run import spftui

from spftui.engine import all_labels
from spftui.engine.opening import open_scenario
from spftui.scenario import ScenarioError, parse_scenario
from spftui.scenario.model import BreakpointSpec

ROOT = Path(__file__).resolve().parents[2]
SEED = (ROOT / "scenarios" / "cow_lost_write.toml").read_text()
SEED_LINES = SEED.count("\n")


def with_breakpoints(text: str) -> str:
    return SEED + "\n" + text


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(with_breakpoints(text))
    return path


def test_the_readme_example_loads_with_every_kind_and_the_shorthands() -> None:
    readme = (ROOT / "scenarios" / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```toml\n(.*?)```", readme, re.DOTALL) if "[[breakpoint]]" in b]
    sc = parse_scenario(with_breakpoints(block), "s.toml", known_labels=all_labels())
    assert [(b.kind, b.match, b.thread, b.expr, b.condition, b.enabled) for b in sc.breakpoints] == [
        ("aba", "REFETCH", "", "", "", True),
        ("abort", "SEQ1", "A1", "", "", True),
        ("step", "wp_page_copy:copy", "", "", "", True),
        ("watch", "", "", "A.pte[0x10000]", "", False),
        ("condition", "", "", "A.mmap_seq > 2", 'A2.state == "blocked"', True),
    ]
    assert sc.breakpoints[0].line == SEED_LINES + 2  # where `[[breakpoint]]` is
    assert sc.breakpoints[3].expr_key == "breakpoint[3].watch"


BAD = [
    ('kind = "abrot"', "breakpoint[0].kind", "unknown breakpoint kind 'abrot'; did you mean 'abort'?"),
    ('kind = "abort"\nmatch = "SEQ3"', "breakpoint[0].match", "unknown abort reason 'SEQ3'; did you mean 'SEQ2'?"),
    ('kind = "violation"\nmatch = "lost_wirte"', "breakpoint[0].match", "unknown oracle 'lost_wirte'"),
    ('kind = "aba"\nmatch = "pte_sam"', "breakpoint[0].match", "unknown check 'pte_sam'; did you mean 'pte_same'?"),
    ('kind = "step"', "breakpoint[0].match", "a step breakpoint needs match = LABEL"),
    ('kind = "step"\nmatch = "wp_page_copy:cpy"', "breakpoint[0].match", "unknown step label 'wp_page_copy:cpy'"),
    ('kind = "aba"\nthread = "A3"', "breakpoint[0].thread", "unknown thread 'A3'"),
    ('kind = "violation"\nthread = "A1"', "breakpoint[0].thread", "a violation breakpoint takes no thread"),
    ('kind = "watch"', "breakpoint[0].expr", "a watch breakpoint needs an expression"),
    ('kind = "aba"\nexpr = "A.mmap_seq"', "breakpoint[0].expr", "an aba breakpoint takes no expr"),
    ('watch = "A.mmap_seq"\nkind = "watch"', "breakpoint[0].watch", "give one of: kind (with expr), watch = EXPR"),
    ('kind = "aba"\nenabled = "no"', "breakpoint[0].enabled", "expected a boolean"),
    ('kind = "aba"\nhits = 3', "breakpoint[0].hits", "unknown key 'hits'"),
    ('match = "SEQ1"', "breakpoint[0].kind", "missing required key 'kind'"),
]


@pytest.mark.parametrize(("body", "key", "message"), BAD)
def test_a_bad_breakpoint_is_an_error_at_its_file_line_and_key(body: str, key: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(with_breakpoints("[[breakpoint]]\n" + body + "\n"), "s.toml", known_labels=all_labels())
    err = info.value
    assert (err.path, err.key) == ("s.toml", key)
    assert SEED_LINES + 2 <= err.line <= SEED_LINES + 4
    assert message in err.message


@pytest.mark.parametrize(
    ("body", "key", "message"),
    [
        ('watch = "A.pte[0x10000"', "breakpoint[0].watch", "expected ']'"),
        ('when = "A1.sate == 1"', "breakpoint[0].when", "thread A1 has no field 'sate'; did you mean 'state'?"),
        ('kind = "aba"\ncondition = "Z.mmap_seq > 1"', "breakpoint[0].condition", "'Z'"),
    ],
)
def test_an_expression_the_engine_cannot_take_is_an_error_at_its_line_when_the_scenario_opens(
    tmp_path: Path, body: str, key: str, message: str
) -> None:
    path = write(tmp_path, "[[breakpoint]]\n" + body + "\n")
    with pytest.raises(ScenarioError) as info:
        open_scenario(str(path))
    err = info.value
    assert (err.path, err.key) == (str(path), key) and err.line > SEED_LINES
    assert message in err.message
    for args in (("check", str(path)), (str(path),)):  # the debugger refuses it before its screen opens
        r = spftui(*args)
        assert r.returncode == 2 and r.stderr.startswith(f"spftui: error: {path}:{err.line}: {key}: ")
        assert "Traceback" not in r.stderr


def test_check_stops_at_the_scenarios_aba_breakpoint_as_with_break_aba(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[[breakpoint]]\nkind = "aba"\n\n[[breakpoint]]\nwatch = "A.pte[0x10000]"\nenabled = false\n'
    )
    mine = spftui("check", str(path), "--json")
    theirs = spftui("check", "cow_lost_write", "--break", "aba", "--json")
    assert mine.returncode == 0 == theirs.returncode, mine.stderr
    a, b = json.loads(mine.stdout), json.loads(theirs.stdout)
    assert a["break"] == b["break"] and a["break"]["step"] == 51
    assert a["breakpoints_from"] == "scenario" and b["breakpoints_from"] == "--break"
    assert [(x["kind"], x["enabled"]) for x in a["breakpoints"]] == [("aba", True), ("watch", False)]
    text = spftui("check", str(path))
    assert text.returncode == 0
    assert "Breakpoints from the scenario's [[breakpoint]] tables (--no-break ignores them)" in text.stdout
    assert "Stopped after step 51" in text.stdout


def test_break_replaces_the_scenarios_breakpoints_and_no_break_ignores_them(tmp_path: Path) -> None:
    path = write(tmp_path, '[[breakpoint]]\nkind = "aba"\n')
    r = spftui("check", str(path), "--break", "violation", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["break"]["step"] == 52
    r = spftui("check", str(path), "--no-break", "--json")
    data = json.loads(r.stdout)
    assert r.returncode == 0 and "break" not in data and data["expect_ok"]
    # a breakpoint that never fires: the run ends first, exit status 1 as with --break
    never = write(tmp_path, '[[breakpoint]]\nkind = "abort"\n', "never.toml")
    r = spftui("check", str(never))
    assert r.returncode == 1 and "No breakpoint fired" in r.stdout


def test_breakpoints_are_not_part_of_the_scenarios_hash(tmp_path: Path) -> None:
    from spftui.engine.schedule_file import scenario_hash

    plain = parse_scenario(SEED, "s.toml")
    marked = parse_scenario(with_breakpoints('[[breakpoint]]\nkind = "aba"\n'), "s.toml")
    assert marked.breakpoints == (
        BreakpointSpec("aba", key="breakpoint[0]", line=SEED_LINES + 2, expr_key="breakpoint[0].expr"),
    )
    assert scenario_hash(plain) == scenario_hash(marked)


def test_every_abort_reason_the_kernel_gives_can_be_a_breakpoints_match() -> None:
    """Read off the kernel's source: each reason `spf_abort` is called with, and each a
    `validate` check returns; all are accepted by `--break abort:R` and documented."""
    import ast

    from spftui.scenario.model import ABORT_REASONS

    given: set[str] = set()
    for path in (ROOT / "spftui" / "kernel").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "spf_abort" and len(node.args) > 2:
                if isinstance(node.args[2], ast.Constant):
                    given.add(node.args[2].value)
            if isinstance(node, ast.FunctionDef) and node.name == "validate":
                for r in ast.walk(node):
                    if isinstance(r, ast.Return) and isinstance(r.value, ast.Tuple):
                        first = r.value.elts[0]
                        given |= {first.value} if isinstance(first, ast.Constant) else {"SEQ1", "SEQ2"}
    assert {"SWAP", "REFETCH", "UFFD_WP", "PTL"} <= given  # the scan sees them
    assert given <= set(ABORT_REASONS), given - set(ABORT_REASONS)
    doc = (ROOT / "scenarios" / "README.md").read_text()
    assert all(f"`{r}`" in doc for r in ABORT_REASONS)
    r = spftui("check", "swap_cache_hit", "--policy", "vma-lock", "--break", "abort:SWAP")
    assert r.returncode in (0, 1) and "unknown abort reason" not in r.stderr, r.stderr
