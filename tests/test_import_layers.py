"""The import graph of spftui/ goes one way and has no cycle.

cli/tui → engine → kernel → scenario. The graph is read from the source with
`ast` (imports inside functions count; imports under `if TYPE_CHECKING:` do
not, they never run). Model: harlequin's test_import_hygiene.py.
"""

from __future__ import annotations

import ast
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


GRAPH = {name: imports_of(name) for name in MODULES}


def layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "spftui"


# Which layers each layer may import (besides itself).
ALLOWED = {
    "scenario": set(),
    "kernel": {"scenario"},
    "engine": {"kernel", "scenario"},
    "report": {"engine", "scenario"},
    "explore_cli": {"engine", "scenario", "report"},
    "cli": {"engine", "scenario", "report", "explore_cli", "kernel_check_cli", "tui"},
    "fidelity": {"engine", "scenario", "kernel"},  # kernel: reads PTEs and frames of the Session's machine
    "kernel_check_cli": {"fidelity", "scenario"},
    "tui": {"engine", "scenario", "kernel"},  # kernel: until the views read through engine/inspect (issue 7)
    "__main__": {"cli"},
    "spftui": set(),
}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_module_imports_only_the_layers_below_it(name: str) -> None:
    own = layer(name)
    assert own in ALLOWED, f"{name}: a new top-level module; add its layer to ALLOWED"
    wrong = sorted(m for m in GRAPH[name] if layer(m) != own and layer(m) not in ALLOWED[own] | {"spftui"})
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
        for w in sorted(GRAPH[v]):
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

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert not cycles, "import cycles: " + "; ".join(" ↔ ".join(c) for c in cycles)


def test_the_graph_reader_sees_real_imports() -> None:
    assert "spftui.kernel.machine" in GRAPH["spftui.engine.session"]
    assert "spftui.scenario.policies" in GRAPH["spftui.kernel.machine"]
