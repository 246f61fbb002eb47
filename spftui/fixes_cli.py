"""`spftui fixes`: every modelled kernel fix, its commit, the releases that
have it, where it sits, and the bundled scenarios that show it.

A bundled scenario shows a fix when it turns it off (`[fixes]`, its kernel
preset) or has an `[expect.fixes_off.NAME]` table for it.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from typing import Any

from .tool_options import wrapped


def add_fixes_parser(sub: Any) -> None:
    p = sub.add_parser(
        "fixes",
        help="list the modelled kernel fixes (switch one off with --fix NAME=off)",
        description="List every modelled kernel fix: its commit, the releases that have it, the kernel function "
        "it sits in, the policies it matters under and the bundled scenarios that show it. Switch one off with "
        "`--fix NAME=off` (check, trace, why, explore, matrix, the debugger) or `[fixes] NAME = false` in a "
        "scenario.",
    )
    p.add_argument("name", nargs="*", help="only these fixes (default: every one)")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.set_defaults(func=run_fixes)


def showing(name: str) -> list[str]:
    """The bundled scenarios (file stems) that show fix `name`."""
    from .scenario import ScenarioError, list_bundled, load_scenario

    out = []
    for path, _title in list_bundled():
        try:
            sc = load_scenario(path)
        except ScenarioError:
            continue
        if name in sc.fixes_off or any(t.fix_off == name for t in sc.expect):
            out.append(path.stem)
    return out


def replay(name: str, scenario: str) -> str:
    """The command that shows fix `name` off on bundled `scenario`: with `--reuse` when
    the fix's code runs only under other reuse rules than the scenario's (`Fix.reuse`)."""
    from .scenario import load_scenario
    from .scenario.files import bundled_scenarios_dir
    from .scenario.fixes import FIX

    rules = FIX[name].reuse
    reuse = load_scenario(bundled_scenarios_dir() / f"{scenario}.toml").reuse
    rule = f" --reuse {rules[0]}" if rules and reuse not in rules else ""
    return f"spftui explore {scenario}{rule} --fix {name}=off"


def fixes_json() -> list[dict[str, Any]]:
    from .scenario.fixes import FIX_LIST
    from .scenario.model import KERNEL_PRESET_LIST

    return [
        {
            "name": f.name,
            "title": f.title,
            "commit": f.commit,
            "kernels": f.kernels,
            "where": f.where,
            "policies": list(f.policies),
            "reuse": list(f.reuse),
            "presets_without": [k.name for k in KERNEL_PRESET_LIST if f.name in k.fixes_off],
            "scenarios": showing(f.name),
            "story": f.story,
            "needs_pin": f.needs_pin,
            "preset_needs": f.preset_needs,
        }
        for f in FIX_LIST
    ]


def run_fixes(args: argparse.Namespace) -> int:
    rows = fixes_json()
    known = [r["name"] for r in rows]
    for name in args.name:
        if name not in known:
            near = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {near[0]}?" if near else ""
            print(f"spftui: error: no modelled fix '{name}'{hint} (fixes: {', '.join(known)})", file=sys.stderr)
            return 2
    if args.name:
        rows = [r for r in rows if r["name"] in args.name]
    if args.json:
        print(json.dumps(rows))
        return 0
    for i, r in enumerate(rows):
        if i:
            print()
        print(f"{r['name']}  ({r['commit']})")
        wrapped(r["title"], indent="  ", hang="  ")
        field = " " * len("  kernels:   ")  # (a wrapped field lines up under its value)
        wrapped(f"kernels:   {r['kernels']}", indent="  ", hang=field)
        wrapped(f"where:     {r['where']}", indent="  ", hang=field)
        print(f"  policies:  {', '.join(r['policies']) or 'all'}")
        if r["reuse"]:
            print(f"  reuse:     {', '.join(r['reuse'])} (no effect under the other rules)")
        if r["presets_without"]:
            only = " (in a scenario that pins: a `gup … pin` op)" if r["needs_pin"] else ""
            needs = {"madv_free": "a `madvise … free` op", "stack": "a `growsdown` mapping"}.get(r["preset_needs"])
            if needs:
                only = f" (in a scenario with {needs})"
            print(f"  off in:    kernel = {', '.join(repr(k) for k in r['presets_without'])}{only}")
        scenarios = r["scenarios"]
        print(f"  scenarios: {', '.join(scenarios) if scenarios else '(none bundled)'}")
        if scenarios:
            print(f"  replay:    {replay(r['name'], scenarios[0])}")
        wrapped(r["story"], indent="  ", hang="  ")
    return 0
