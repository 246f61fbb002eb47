"""Engine benchmarks (run on purpose, not in the test suite); prints JSON.

    python benchmarks/bench_engine.py [--steps 1000000]

- steps_per_second: the seed scenario under seeded random schedules, oracles
  and trace recording on, one fresh Session per run (setup included), and a
  long session of the seed scenario with every thread repeating its ops;
- goto/back latency in a long session (median and p95 over random targets);
- trace memory per step (tracemalloc over a 100k-step session);
- `spftui --version` wall time.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import attrs

from spftui.engine import SeededRandom, Session
from spftui.scenario import load_scenario

SEED = Path(__file__).resolve().parents[1] / "scenarios" / "cow_lost_write.toml"


def seed_scenario(repeat: int = 1):  # type: ignore[no-untyped-def]
    sc = load_scenario(SEED)
    if repeat > 1:
        sc = attrs.evolve(sc, threads=tuple(attrs.evolve(t, repeat=repeat) for t in sc.threads))
    return sc


def runs_per_second(seconds: float = 3.0) -> dict[str, float]:
    sc = seed_scenario()
    t0 = time.perf_counter()
    steps = runs = 0
    while time.perf_counter() - t0 < seconds:
        s = Session(sc, strategy=SeededRandom(runs))
        s.run()
        steps += s.position
        runs += 1
    dt = time.perf_counter() - t0
    return {"runs": runs, "steps": steps, "seconds": round(dt, 3), "steps_per_second": round(steps / dt)}


def long_session(steps: int) -> tuple[Session, float]:
    sc = seed_scenario(repeat=steps)
    s = Session(sc, strategy=SeededRandom(1))
    t0 = time.perf_counter()
    s.run(limit=steps)
    return s, time.perf_counter() - t0


def latency(s: Session, samples: int = 200) -> dict[str, float]:
    rng = random.Random(7)
    n = s.length
    gotos, backs = [], []
    for _ in range(samples):
        target = rng.randrange(1, n)
        t0 = time.perf_counter()
        s.goto(target)
        gotos.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        s.back()
        backs.append(time.perf_counter() - t0)

    def ms(xs: list[float], q: float) -> float:
        return round(statistics.quantiles(xs, n=100)[int(q) - 1] * 1000, 3) if q < 100 else round(max(xs) * 1000, 3)

    return {
        "goto_median_ms": round(statistics.median(gotos) * 1000, 3),
        "goto_p95_ms": ms(gotos, 95),
        "back_median_ms": round(statistics.median(backs) * 1000, 3),
        "back_p95_ms": ms(backs, 95),
    }


def memory_per_step(steps: int = 100_000) -> float:
    sc = seed_scenario(repeat=steps)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    s = Session(sc, strategy=SeededRandom(1))
    s.run(limit=steps)
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return round(used / s.position, 1)


def version_seconds() -> float:
    best = 9.0
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "spftui", "--version"], check=True, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return round(best, 3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1_000_000)
    args = ap.parse_args()
    out: dict[str, object] = {"seed_runs": runs_per_second()}
    s, dt = long_session(args.steps)
    out["long_session"] = {
        "steps": s.position,
        "seconds": round(dt, 2),
        "steps_per_second": round(s.position / dt),
        "checkpoints": s.timeline.checkpoints,
        **latency(s),
    }
    out["trace_bytes_per_step"] = memory_per_step()
    out["version_seconds"] = version_seconds()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
