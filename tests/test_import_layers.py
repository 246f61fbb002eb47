"""The import graph of spftui/ goes one way and has no cycle; only the
engine reads the Session's private state.

cli/tui → engine → kernel → scenario. The graph is read from the source with
`ast` (imports inside functions count; imports under `if TYPE_CHECKING:` do
not, they never run). Model: harlequin's test_import_hygiene.py.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "spftui"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(x) for stmt in node.body for x in ast.walk(stmt)}
    return skip


def imports_of(name: str) -> set[str]:
    """The spftui modules `name` imports at run time."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    skip = type_checking_nodes(tree)
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in MODULES else target)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return {m for m in out if m in MODULES and m != name}


@functools.cache
def graph() -> dict[str, set[str]]:
    """Every module's imports (read when a test first asks: not while collecting)."""
    return {name: imports_of(name) for name in MODULES}


def layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "spftui"


# Which layers each layer may import (besides itself).
ALLOWED = {
    "scenario": set(),
    "kernel": {"scenario"},
    "engine": {"kernel", "scenario"},
    "report": {"engine", "scenario"},
    "explore_cli": {"engine", "scenario", "report", "run_options", "tool_options"},
    "fixes_cli": {"scenario", "tool_options"},
    "run_options": {"engine", "scenario", "tool_options"},
    "why_cli": {"engine", "scenario", "report", "run_options"},
    "tool_options": set(),
    "diff_cli": {"engine", "scenario", "report", "run_options"},
    "coverage_cli": {"engine", "scenario", "report", "run_options", "tool_options"},
    "shrink_cli": {"engine", "scenario", "run_options", "tool_options"},
    "fuzz_cli": {"engine", "scenario", "tool_options"},
    "cli": {
        "engine",
        "scenario",
        "report",
        "run_options",
        "explore_cli",
        "why_cli",
        "kernel_check_cli",
        "tui",
        "serve_cli",
        "diff_cli",
        "coverage_cli",
        "shrink_cli",
        "fuzz_cli",
        "tool_options",
    },
    "fidelity": {"engine", "scenario", "kernel"},  # kernel: reads PTEs and frames of the Session's machine
    "kernel_check_cli": {"fidelity", "scenario", "tool_options"},
    "serve_cli": {"run_options", "scenario", "tool_options"},
    "tui": {"engine", "scenario"},  # what views read of the machine comes through engine/view
    "__main__": {"cli"},
    "spftui": set(),
}
ALLOWED["cli"].add("fixes_cli")  # `spftui fixes`


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_module_imports_only_the_layers_below_it(name: str) -> None:
    own = layer(name)
    assert own in ALLOWED, f"{name}: a new top-level module; add its layer to ALLOWED"
    wrong = sorted(m for m in graph()[name] if layer(m) != own and layer(m) not in ALLOWED[own] | {"spftui"})
    assert not wrong, f"{name} ({own}) imports {wrong}"


def test_the_import_graph_has_no_cycle() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph()[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph()):
        if v not in index:
            visit(v)
    assert not cycles, "import cycles: " + "; ".join(" ↔ ".join(c) for c in cycles)


def test_the_graph_reader_sees_real_imports() -> None:
    assert "spftui.kernel.machine" in graph()["spftui.engine.session"]
    assert "spftui.scenario.policies" in graph()["spftui.kernel.machine"]


def session_private_names() -> set[str]:
    """The `_`-prefixed attributes and methods of Session (engine/session.py)."""
    tree = ast.parse(MODULES["spftui.engine.session"].read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Session")
    names = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    names |= {
        n.attr
        for n in ast.walk(cls)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self"
    }
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


SESSION_PRIVATE = session_private_names()


def test_the_session_has_private_state() -> None:
    assert {"_machine", "_tl", "_position", "_stop", "_travel"} <= SESSION_PRIVATE


@pytest.mark.parametrize("name", sorted(m for m in MODULES if layer(m) != "engine"))
def test_no_module_outside_the_engine_touches_the_sessions_private_state(name: str) -> None:
    tree = ast.parse(MODULES[name].read_text())
    wrong = sorted(
        f"line {n.lineno}: {ast.unparse(n)}"
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute)
        and n.attr in SESSION_PRIVATE
        and not (isinstance(n.value, ast.Name) and n.value.id in ("self", "cls"))
    )
    assert not wrong, f"{name} reads the Session's private state: {wrong}"
