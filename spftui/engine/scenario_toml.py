"""A Scenario as scenario-file TOML that `parse_scenario` reads back (for the
scenarios spftui makes: a shrunk one, a fuzzed one).

What decides a run is written (kernel, reuse, words per page, the fixes
taken out or put back against the kernel preset, files, processes with
mappings and data, threads with ops), and what the user set on it (its
`[[breakpoint]]` tables), plus a title, a description, the policy, and an
`[expect]` table and a `[schedule]` when given. Op strings are written from
the parsed fields (`syntax.op_text`), in the format scenarios/README.md
describes; the scenario's own schedule and its other expectation tables are
not written (the caller says what the new file expects and replays).
tests/engine/test_scenario_toml.py reads every bundled scenario back through it.

Headless: standard library and attrs only.
"""

from __future__ import annotations

from collections.abc import Mapping as Pairs
from typing import TYPE_CHECKING

from ..scenario.fixes import preset_lacks
from ..scenario.loader import toml_string
from ..scenario.syntax import op_text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..scenario.model import BreakpointSpec, File, Mapping, Scenario, ScheduleEntry

PAGE = 4096


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
    if m.file:
        lines.append(f"  file = {toml_string(m.file)}")
    if m.uffd_wp:
        lines.append("  uffd_wp = true")
    if m.growsdown:
        lines.append("  growsdown = true")
    return lines


def _file(f: File) -> list[str]:
    lines = ["", "[[file]]", f"name = {toml_string(f.name)}", f"pages = {f.pages}"]
    if f.data:
        words = ", ".join(f'"{off:#x}" = {value}' for off, value in f.data)
        lines.append(f"data = {{ {words} }}")
    return lines


def _fixes(sc: Scenario) -> list[str]:
    """`[fixes]`: the run's fixes against the kernel preset's (the loader's starting point)."""
    preset = preset_lacks(
        sc.kernel, sc.threads, "stack" in sc.features
    )  # (as the loader starts: 5.8 lacks fork_copy_pinned only with a pin)
    switches = sorted([(n, "false") for n in sc.fixes_off - preset] + [(n, "true") for n in preset - sc.fixes_off])
    return ["", "[fixes]", *(f"{n} = {v}" for n, v in switches)] if switches else []


def _breakpoint(b: BreakpointSpec) -> list[str]:
    lines = ["", "[[breakpoint]]", f"kind = {toml_string(b.kind)}"]
    for key, value in (("match", b.match), ("thread", b.thread), ("expr", b.expr), ("condition", b.condition)):
        if value:
            lines.append(f"{key} = {toml_string(value)}")
    if not b.enabled:
        lines.append("enabled = false")
    return lines


def scenario_toml(
    sc: Scenario,
    *,
    description: str | None = None,
    expect: Pairs[str, str] | None = None,
    schedule: Sequence[ScheduleEntry] = (),
) -> str:
    """TOML text for `sc` (module docstring); `expect` becomes its `[expect]` table, `schedule` its `[schedule]`."""
    desc = sc.description if description is None else description
    lines = [f"title = {toml_string(sc.title)}"]
    if desc:
        lines.append('description = """\n' + desc.replace("\\", "\\\\").replace('"""', '\\"""') + '\n"""')
    lines.append(f"policy = {toml_string(sc.policy)}")
    if sc.kernel:
        lines.append(f"kernel = {toml_string(sc.kernel)}")
    lines.append(f"reuse = {toml_string(sc.reuse)}")
    lines.append(f"words_per_page = {sc.words_per_page}")
    if sc.seed:
        lines.append(f"seed = {sc.seed}")
    lines += _fixes(sc)
    for f in sc.files:
        lines += _file(f)
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
    for b in sc.breakpoints:
        lines += _breakpoint(b)
    for o in sc.oracles:
        lines += ["", "[[oracle]]", f"name = {toml_string(o.name)}", f"when = {toml_string(o.when)}"]
        if o.detail:
            lines.append(f"detail = {toml_string(o.detail)}")
    if schedule:
        lines += ["", "[schedule]", "steps = [", *(f"  {toml_string(e.text)}," for e in schedule), "]"]
    if expect:
        lines += ["", "[expect]", *(f"{k} = {toml_string(v)}" for k, v in expect.items())]
    return "\n".join(lines) + "\n"
