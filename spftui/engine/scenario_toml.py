"""A Scenario as scenario-file TOML that `parse_scenario` reads back (for the
scenarios spftui makes: a shrunk one, a fuzzed one).

Only what decides a run is written (kernel, reuse, words per page, processes
with mappings and data, threads with ops), plus a title, a description, the
policy and an `[expect]` table when given. Op strings are written from the
parsed fields, in the format scenarios/README.md describes.

Headless: standard library and attrs only.
"""

from __future__ import annotations

from collections.abc import Mapping as Pairs
from typing import TYPE_CHECKING

from ..scenario.loader import toml_string

if TYPE_CHECKING:
    from ..scenario.model import Mapping, Op, Scenario

PAGE = 4096


def op_text(op: Op) -> str:
    """The canonical spelling of an op (`write 0x10000 42`, `mprotect 0x10000 1p r`)."""

    def span(length: int) -> str:
        return f"{length // PAGE}p" if length % PAGE == 0 else str(length)

    if op.kind == "write":
        return f"write {op.addr:#x} {op.value}"
    if op.kind in ("read", "reclaim", "age"):
        return f"{op.kind} {op.addr:#x}"
    if op.kind in ("mmap", "mprotect"):
        return f"{op.kind} {op.addr:#x} {span(op.length)} {op.prot}"
    if op.kind == "munmap":
        return f"munmap {op.addr:#x} {span(op.length)}"
    if op.kind == "madvise":
        return f"madvise {op.addr:#x} {span(op.length)} {op.advice}"
    return f"fork {op.child}"


def _mapping(m: Mapping) -> list[str]:
    pages = m.length // PAGE
    lines = [
        "",
        "  [[process.mapping]]",
        f"  start = {m.start:#x}",
        f"  pages = {pages}",
        f"  prot = {toml_string(m.prot)}",
    ]
    if m.populate:
        lines.append("  populate = true")
    return lines


def scenario_toml(sc: Scenario, *, description: str | None = None, expect: Pairs[str, str] | None = None) -> str:
    """TOML text for `sc` (module docstring); `expect` becomes its `[expect]` table."""
    desc = sc.description if description is None else description
    lines = [f"title = {toml_string(sc.title)}"]
    if desc:
        lines.append('description = """\n' + desc.replace("\\", "\\\\").replace('"""', '\\"""') + '\n"""')
    lines.append(f"policy = {toml_string(sc.policy)}")
    if sc.kernel:
        lines.append(f"kernel = {toml_string(sc.kernel)}")
    lines.append(f"reuse = {toml_string(sc.reuse)}")
    lines.append(f"words_per_page = {sc.words_per_page}")
    for p in sc.processes:
        lines += ["", "[[process]]", f"name = {toml_string(p.name)}"]
        if p.fork_of:
            lines.append(f"fork_of = {toml_string(p.fork_of)}")
        if p.data:
            words = ", ".join(f'"{addr:#x}" = {value}' for addr, value in p.data)
            lines.append(f"data = {{ {words} }}")
        for m in p.mappings:
            lines += _mapping(m)
    for t in sc.threads:
        lines += ["", "[[thread]]", f"name = {toml_string(t.name)}", f"process = {toml_string(t.process)}"]
        if t.repeat != 1:
            lines.append(f"repeat = {t.repeat}")
        ops = ", ".join(toml_string(op_text(op)) for op in t.ops)
        lines.append(f"ops = [{ops}]")
    if expect:
        lines += ["", "[expect]", *(f"{k} = {toml_string(v)}" for k, v in expect.items())]
    return "\n".join(lines) + "\n"
