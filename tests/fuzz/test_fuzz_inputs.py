"""Fuzzing what users type and load: scenario files, schedule files, expressions.

Mutated bundled scenarios and saved schedules go through `spftui check` in
process (`cli.main`, the code a user runs) with a bounded step limit; mutated
and generated expressions are parsed and evaluated against a real machine.
Each example must end in a clean run or a located error (exit 2), never an
uncaught exception, and within a few CPU seconds.

The default variants are derandomized and small (a few seconds in all); the
`slow` variants run the issue's acceptance counts:
`pytest -m slow tests/fuzz` (10,000 scenarios, 5,000 schedules, 10,000 expressions).
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spftui import cli
from spftui.engine.expr import MAX_LENGTH, EvalError, ExprError, parse
from spftui.engine.inspect import MachineResolver, show
from spftui.engine.session import Session
from spftui.kernel import all_labels
from spftui.scenario import bundled_scenarios_dir, dump_schedule, load_scenario

SCENARIOS = sorted(bundled_scenarios_dir().glob("*.toml"), key=lambda p: p.name)
TEXTS = [p.read_text(encoding="utf-8") for p in SCENARIOS]
assert TEXTS, "no bundled scenarios to mutate"
MAX_STEPS = "20000"
"""Each fuzzed `check` stops after this many steps: a mutated `repeat` may ask for a million."""
CPU_SECONDS = 5.0
"""The most one example may take (the issue's bar is 10 s of wall time)."""

INTERESTING_INTS = [
    "0", "1", "-1", "2", "127", "128", "129", "255", "256", "4095", "4096", "0x1000", "0x10000", "0x10400",
    "1000000", "1000001", "65536", "65537", "1048576", "1048577", "0x7fffffffffff", "0x7ffffffff000",
    "0x800000000000", "0xffffffffffffffff", "9223372036854775807", "-9223372036854775808", "1e3", "0.5",
    "1p", "0p", "99999999p", '"x"', "true", "[]", "{}",
]  # fmt: skip
WORDS = [
    "read", "write", "mmap", "munmap", "mprotect", "madvise", "fork", "reclaim", "age", "dontneed", "r", "rw",
    "none", "until", "done", "A", "B", "A1", "A2", "B1", "title", "name", "process", "thread", "ops", "repeat",
    "pages", "length", "start", "prot", "populate", "data", "fork_of", "schedule", "steps", "expect", "policy",
    "reuse", "kernel", "seed", "words_per_page", "stop_at", "scenario", "sometimes", "never", "lost_write",
    "classic", "spf-mm-seq", "wp_page_copy:copy", "pte_map_lock:seq_check", "[[thread]]", "[[process]]",
    "[[process.mapping]]", "[schedule]", "[expect]", "=", '"', "'", "[", "]", "{", "}", ",", "#", "\n", "\\",
]  # fmt: skip
NUMBER = re.compile(r"(?<![\w.])(?:0x[0-9a-fA-F_]+|[0-9][0-9_]*p?)(?![\w.])")
STRING = re.compile(r'"[^"\n]*"')


# ------------------------------------------------------------ mutations


@st.composite
def mutated(draw: st.DrawFn, base: str) -> str:
    """`base` with one to four byte, line, key or value mutations, spread over the whole text."""
    rnd = draw(st.randoms(use_true_random=False))  # uniform positions (draws favour small integers)
    text = base
    for _ in range(rnd.randint(1, 4)):
        text = rnd.choice(_MUTATIONS)(rnd, text)
    return text


def _byte(rnd: random.Random, text: str) -> str:
    i = rnd.randint(0, len(text))
    ch = rnd.choice([chr(rnd.randint(0, 0x2FF)), rnd.choice("\"'[]{}=,.#\n\\0x-"), "\ufeff", "\x00"])
    return text[:i] + ch + text[i + rnd.randint(0, 1) :]


def _insert(rnd: random.Random, text: str) -> str:
    i = rnd.randint(0, len(text))
    return text[:i] + rnd.choice(WORDS + INTERESTING_INTS) + text[i:]


def _delete(rnd: random.Random, text: str) -> str:
    i = rnd.randint(0, len(text))
    return text[:i] + text[i + rnd.randint(1, 40) :]


def _line(rnd: random.Random, text: str) -> str:
    lines = text.split("\n")
    i, j = rnd.randrange(len(lines)), rnd.randrange(len(lines))
    op = rnd.choice(["drop", "dup", "swap", "repeat"])
    if op == "drop":
        del lines[i]
    elif op == "dup":
        lines.insert(j, lines[i])
    elif op == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    else:  # a block many times over: many threads, processes, mappings
        lines[i:i] = lines[i : i + rnd.randint(1, 8)] * rnd.randint(2, 200)
    return "\n".join(lines)


def _replace(rnd: random.Random, text: str, pattern: re.Pattern[str], choices: list[str]) -> str:
    spans = [m.span() for m in pattern.finditer(text)]
    if not spans:
        return text
    a, b = rnd.choice(spans)
    return text[:a] + rnd.choice(choices) + text[b:]


def _number(rnd: random.Random, text: str) -> str:
    return _replace(rnd, text, NUMBER, INTERESTING_INTS)


def _string(rnd: random.Random, text: str) -> str:
    return _replace(rnd, text, STRING, [f'"{w}"' for w in WORDS] + INTERESTING_INTS)


def _word(rnd: random.Random, text: str) -> str:
    return _replace(rnd, text, re.compile(r"[A-Za-z_][\w-]*"), WORDS)


_THREAD_BLOCK = re.compile(r"^\[\[thread\]\].*?(?=^\[|\Z)", re.DOTALL | re.MULTILINE)


def _clone_thread(rnd: random.Random, text: str) -> str:
    """Many uniquely named copies of one [[thread]] (thread-count limits, trace encoding)."""
    blocks = [m.span() for m in _THREAD_BLOCK.finditer(text)]
    if not blocks:
        return text
    a, b = rnd.choice(blocks)
    block = text[a:b]
    n = rnd.choice([2, 20, 100, 126, 127, 128, 129, 200, 256, 300])
    copies = [re.sub(r'name\s*=\s*"[^"]*"', f'name = "T{k}"', block, count=1) for k in range(n)]
    return text[:b] + "\n" + "\n".join(copies) + text[b:]


_MUTATIONS: list[Callable[[random.Random, str], str]] = [
    _byte, _insert, _delete, _line, _number, _number, _string, _string, _word, _clone_thread,
]  # fmt: skip


# ------------------------------------------------------------ the checks


def run_check(*argv: str) -> tuple[int, str, float]:
    """`spftui check ...` in process: (exit status, stderr, CPU seconds); any exception escapes."""
    out, err = io.StringIO(), io.StringIO()
    start = time.process_time()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(["check", *argv, "--max-steps", MAX_STEPS])
    return status, err.getvalue(), time.process_time() - start


def assert_clean_or_located(status: int, stderr: str, seconds: float, path: str) -> None:
    assert seconds < CPU_SECONDS, f"took {seconds:.1f} CPU s"
    assert status in (0, 1, 2), status
    # A schedule without a recorded scenario identity replays with a one-line warning.
    lines = [ln for ln in stderr.splitlines() if not ln.startswith("spftui: warning: ")]
    if status == 2:
        assert lines and lines[0].startswith(f"spftui: error: {path}"), (
            stderr
        )  # names the file (and the line when known)
        assert "Traceback" not in stderr
    else:
        assert lines == [], stderr


def check_scenario_text(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "fuzzed.toml")
        Path(path).write_text(text, encoding="utf-8", errors="surrogatepass")
        assert_clean_or_located(*run_check(path), path)


def _saved_schedule() -> tuple[str, str]:
    path = str(bundled_scenarios_dir() / "cow_lost_write.toml")
    session = Session(load_scenario(path, known_labels=all_labels()))
    session.run(limit=int(MAX_STEPS))
    text = dump_schedule(session.schedule_entries(), path, "fuzz base", policy="spf-refetch-vma", reuse="mapcount")
    return path, text.replace("steps = [", 'steps = [\n    "A1 until wp_page_copy:copy",\n    "A2 until done",', 1)


SCHEDULE_SCENARIO, SCHEDULE = _saved_schedule()


def check_schedule_text(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "fuzzed.schedule.toml")
        Path(path).write_text(text, encoding="utf-8", errors="surrogatepass")
        status, stderr, seconds = run_check(SCHEDULE_SCENARIO, "--schedule", path)
        assert_clean_or_located(status, stderr, seconds, path)


MACHINE_SESSION = Session(load_scenario(SCHEDULE_SCENARIO, known_labels=all_labels()))
MACHINE_SESSION.run(limit=45)

EXPRESSIONS = [
    "A.pte[0x10000].write and A.mmap_seq == 4", "frame[1].count", "B.pc", "thread.B.pc", "process.B.mmap_seq",
    'A1.label == "wp_page_copy:copy"', '"A1" in A.mmap_lock.readers', "A.vma[0x10000].vm_flags & 0x2",
    "A1.vmf.orig_pte", "frame[2].words[1] + 1", "step > 3 or policy == 'classic'", 'thread["A2"].state',
    "not (A.rss_anon < 2) and -A.map_count <= ~0", "A.pte[0x10000 + 0x400 * 2].pfn // 2", "(1 << 1024) * -5",
]  # fmt: skip
EXPR_TOKENS = [
    "A", "B", "A1", "A2", "thread", "process", "frame", "step", "policy", ".", "[", "]", "(", ")", "pte", "vma",
    "pc", "state", "mmap_seq", "words", "count", "0x10000", "0", "1", "-1", "1024", "1 << 1024", '"x"', "'A1'",
    "true", "false", "none", "and", "or", "not", "in", "not in", "==", "!=", "<", "<=", "+", "-", "*", "/", "%",
    "&", "|", "^", "~", "<<", ">>", " ", "__class__", "=", "**", "@",
]  # fmt: skip


@st.composite
def expressions(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return draw(mutated(draw(st.sampled_from(EXPRESSIONS))))
    return "".join(draw(st.lists(st.sampled_from(EXPR_TOKENS), max_size=40)))


def check_expression(source: str) -> None:
    start = time.process_time()
    try:
        expr = parse(source)
        value = expr.evaluate(MachineResolver(MACHINE_SESSION.machine))
        assert len(show(value)) <= 300
    except EvalError as err:
        assert 0 <= err.position <= len(source) and err.source == source
        assert len(str(err)) < 2000
    except ExprError as err:
        assert 0 <= err.position <= max(len(source), MAX_LENGTH)
        str(err)
    assert time.process_time() - start < CPU_SECONDS


# ------------------------------------------------------------ the tests

_QUICK = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _slow(n: int) -> settings:
    return settings(_QUICK, max_examples=n)


@_slow(120)
@given(st.sampled_from(TEXTS).flatmap(mutated))
def test_mutated_scenarios_run_cleanly_or_fail_with_a_location(text: str) -> None:
    check_scenario_text(text)


@_slow(80)
@given(mutated(SCHEDULE))
def test_mutated_schedules_replay_cleanly_or_fail_with_a_location(text: str) -> None:
    check_schedule_text(text)


@_slow(400)
@given(expressions())
def test_fuzzed_expressions_evaluate_or_raise_a_positioned_expr_error(source: str) -> None:
    check_expression(source)


@pytest.mark.slow
@_slow(10_000)
@given(st.sampled_from(TEXTS).flatmap(mutated))
def test_slow_10k_mutated_scenarios(text: str) -> None:
    check_scenario_text(text)


@pytest.mark.slow
@_slow(5_000)
@given(mutated(SCHEDULE))
def test_slow_5k_mutated_schedules(text: str) -> None:
    check_schedule_text(text)


@pytest.mark.slow
@_slow(10_000)
@given(expressions())
def test_slow_10k_expressions(source: str) -> None:
    check_expression(source)
