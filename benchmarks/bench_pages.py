"""Cost per step as the pages grow (run on purpose, not in the suite); prints JSON.

    python benchmarks/bench_pages.py [--pages 10 100 1000 10000] [--steps 200000]
    python benchmarks/bench_pages.py --compare /work/main   # before/after, side by side

For each page count, one process with a populated mapping of that many pages
and four threads that write, read, mprotect and madvise across it forever
(seeded random schedule):

- steps_per_cpu_second: `Session.run` (oracles, trace and checkpoints on),
  CPU time (time.process_time);
- bytes_per_step: tracemalloc growth over the same run, measured from just
  after the Session is built;
- goto_median_ms / goto_p95_ms: `goto` to 100 random targets in that session.

`--compare PATH` runs the same measurements with PATH first on PYTHONPATH
(another checkout: "before") and prints both with ratios. Each page count
runs in its own process so that one run's memory does not skew the next.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

BASE = 0x10000000


def scenario_text(pages: int, threads: int = 4, repeat: int = 1_000_000) -> str:
    lines = ['title = "pages"', 'policy = "spf-mm-seq"', "words_per_page = 4", "[[process]]", 'name = "A"']
    lines += ["[[process.mapping]]", f"start = {BASE:#x}", f"pages = {pages}", 'prot = "rw"', "populate = true"]
    for i in range(threads):
        p = BASE + ((i * 7919) % pages) * 4096
        q = BASE + ((i * 104729 + pages // 2) % pages) * 4096
        ops = [f"write {p:#x} {i}", f"read {q:#x}", f"write {q + 8:#x} {i + 1}"]
        ops += [f"mprotect {p:#x} 1p r", f"mprotect {p:#x} 1p rw", f"madvise {q:#x} 1p dontneed"]
        lines += ["[[thread]]", f'name = "T{i}"', 'process = "A"', f"ops = {ops}", f"repeat = {repeat}"]
    return "\n".join(lines).replace("'", '"') + "\n"


def measure(pages: int, steps: int, threads: int, gotos: int) -> dict[str, Any]:
    from spftui.engine import SeededRandom, Session
    from spftui.scenario.loader import parse_scenario

    sc = parse_scenario(scenario_text(pages, threads))
    s = Session(sc, strategy=SeededRandom(1))
    t0 = time.process_time()
    s.run(limit=steps)
    cpu = time.process_time() - t0
    rng = random.Random(7)
    times = []
    for _ in range(gotos):
        target = rng.randrange(1, s.length)
        t0 = time.process_time()
        s.goto(target)
        times.append(time.process_time() - t0)
    del s
    gc.collect()
    tracemalloc.start()
    s = Session(sc, strategy=SeededRandom(1))
    base = tracemalloc.get_traced_memory()[0]
    s.run(limit=steps)
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return {
        "pages": pages,
        "threads": threads,
        "steps": s.position,
        "steps_per_cpu_second": round(s.position / cpu),
        "bytes_per_step": round(used / s.position, 1),
        "goto_median_ms": round(statistics.median(times) * 1000, 3),
        "goto_p95_ms": round(statistics.quantiles(times, n=20)[-1] * 1000, 3),
    }


def run_all(args: argparse.Namespace, path: str | None) -> list[dict[str, Any]]:
    out = []
    for pages in args.pages:
        steps = args.steps
        if path is not None and args.before_steps:
            steps = min(steps, args.before_steps)
        cmd = [sys.executable, __file__, "--one", str(pages), "--steps", str(steps), "--threads", str(args.threads)]
        env = dict(os.environ)
        root = path if path is not None else str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = root
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
        out.append(json.loads(r.stdout))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, nargs="+", default=[10, 100, 1000, 10_000])
    ap.add_argument("--steps", type=int, default=200_000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--gotos", type=int, default=100)
    ap.add_argument("--compare", metavar="PATH", help="another checkout to measure first (before)")
    ap.add_argument("--before-steps", type=int, default=0, help="fewer steps for the before runs (memory)")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one, args.steps, args.threads, args.gotos)))
        return
    after = run_all(args, None)
    if not args.compare:
        print(json.dumps(after, indent=2))
        return
    before = run_all(args, args.compare)
    rows = []
    for b, a in zip(before, after, strict=True):
        rows.append(
            {
                "pages": a["pages"],
                "before": b,
                "after": a,
                "speedup": round(a["steps_per_cpu_second"] / b["steps_per_cpu_second"], 2),
                "memory_ratio": round(b["bytes_per_step"] / a["bytes_per_step"], 1),
            }
        )
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
