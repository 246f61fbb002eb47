"""Cost of range operations and populate (run on purpose, not in the suite); prints JSON.

    python benchmarks/bench_ranges.py [--baseline DIR] [--timeout SECONDS] [--case NAME]

Each case runs in its own process (CPU seconds from time.process_time, peak
RSS from getrusage) so figures do not leak between cases:

- munmap_user_range: a 2-thread, 2-page scenario whose second thread runs
  `munmap 0x0 0x7ffffffff000` (the whole user address space), run to the end;
- mprotect_user_range / madvise_user_range: the same with mprotect and
  MADV_DONTNEED over the whole range;
- populate_10k / populate_100k: a `populate = true` mapping of 10,000 and
  100,000 pages, built and run to the end (one read);
- populate_munmap_20k: 20,000 populated pages, then munmap of them all (the
  mmu_gather batch holds 20,000 references while the oracles check counts).

The cost should follow the VMAs and the PTE tables that exist, not the length
of the range. With `--baseline DIR` (a checkout of another commit, e.g.
`git archive HEAD~3 | tar -x -C /tmp/base`) every case also runs with DIR
first on the path, and the output gives both figures and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RANGE = """
title = "range op over the whole user address space"
policy = "classic"
words_per_page = 4

[[process]]
name = "A"
data = {{ "0x10000" = 1, "0x11000" = 2 }}

  [[process.mapping]]
  start = 0x10000
  pages = 2
  prot = "rw"

[[thread]]
name = "A1"
process = "A"
ops = ["write 0x10000 11", "read 0x11000"]

[[thread]]
name = "A2"
process = "A"
ops = ["{op}"]
"""

POPULATE = """
title = "a large populated mapping"
policy = "classic"
words_per_page = 4

[[process]]
name = "A"

  [[process.mapping]]
  start = 0x10000000
  pages = {pages}
  prot = "rw"
  populate = true

[[thread]]
name = "A1"
process = "A"
ops = ["read 0x10000000"{unmap}]
"""

CASES = {
    "munmap_user_range": RANGE.format(op="munmap 0x0 0x7ffffffff000"),
    "mprotect_user_range": RANGE.format(op="mprotect 0x0 0x7ffffffff000 r"),
    "madvise_user_range": RANGE.format(op="madvise 0x0 0x7ffffffff000 dontneed"),
    "populate_10k": POPULATE.format(pages=10_000, unmap=""),
    "populate_100k": POPULATE.format(pages=100_000, unmap=""),
    "populate_munmap_20k": POPULATE.format(pages=20_000, unmap=', "munmap 0x10000000 20000p"'),
}


def run_case(name: str) -> dict[str, object]:
    """In this process: load, build and run the case's scenario to the end."""
    import spftui
    from spftui.engine import Session
    from spftui.scenario.loader import parse_scenario

    t0 = time.process_time()
    sc = parse_scenario(CASES[name], f"<{name}>")
    s = Session(sc)
    reason = s.run()
    cpu = time.process_time() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "cpu_seconds": round(cpu, 3),
        "peak_rss_mb": round(rss / 1024, 1),
        "steps": s.position,
        "violations": len(s.violations()),
        "end": str(getattr(reason, "kind", reason)),
        "code": str(Path(spftui.__file__).parent.parent),
    }


def in_subprocess(name: str, path: Path, timeout: float) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(path))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--case", name]
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return {"timeout": timeout}
    except subprocess.CalledProcessError as e:
        return {"error": e.stderr.strip().splitlines()[-1] if e.stderr.strip() else f"exit {e.returncode}"}
    result: dict[str, object] = json.loads(out.stdout)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=sorted(CASES), help="run one case in this process and print its figures")
    ap.add_argument("--baseline", type=Path, help="also run every case with this checkout first on the path")
    ap.add_argument("--timeout", type=float, default=120.0, help="per case and checkout (default 120 s)")
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case)))
        return
    report: dict[str, object] = {}
    for name in CASES:
        after = in_subprocess(name, ROOT, args.timeout)
        if args.baseline is None:
            report[name] = after
            continue
        before = in_subprocess(name, args.baseline.resolve(), args.timeout)
        row: dict[str, object] = {"before": before, "after": after}
        b, a = before.get("cpu_seconds", before.get("timeout")), after.get("cpu_seconds")
        if isinstance(b, (int, float)) and isinstance(a, (int, float)) and a > 0:
            row["cpu_ratio"] = round(b / a, 1)
        report[name] = row
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
