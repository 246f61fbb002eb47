"""TUI benchmark: launch, step and goto latencies, printed as JSON.

Run on purpose (it is not a test):

    python benchmarks/bench_tui.py            # everything (the 100k-step run takes ~20 s to record)
    python benchmarks/bench_tui.py --quick    # skip the 100,000-step goto figures
    python benchmarks/bench_tui.py --pages    # only step -> repaint at 10 / 100 / 1,000 / 10,000 pages

What is timed, in a headless Pilot session at 120x40:

- launch: from before `import spftui.tui.app` (in a fresh interpreter) to the
  debugger screen's first full paint.
- step: the `s` key's action (session step + every pane rebuilt) plus the
  screen repaint it causes, until the compositor has drawn every dirty region
  (Pilot's key-press bookkeeping is not counted).
- goto: jumping to a random step of a 100,000-step run and repainting.

Targets (issue 3): step ≤ 50 ms median on the seed scenario, ≤ 100 ms with 8
threads and 1,000 mapped pages; goto ≤ 150 ms; launch ≤ 1.5 s. Issue 12:
step → repaint ≤ 50 ms at 10,000 pages. Step figures are CPU time
(`time.process_time`, the box is shared) with the wall time beside them.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "scenarios" / "cow_lost_write.toml"
SIZE = (120, 40)


def big_scenario(pages: int = 1000, threads: int = 8, repeat: int = 5000) -> str:
    """8 threads doing read/write loops over 1,000 populated pages of one process."""
    lines = [
        'title = "8 threads, 1000 mapped pages (benchmark)"',
        'policy = "spf-mm-seq"',
        "words_per_page = 4",
        "seed = 7",
        "",
        "[[process]]",
        'name = "P"',
        "  [[process.mapping]]",
        "  start = 0x100000",
        f"  pages = {pages}",
        '  prot = "rw"',
        "  populate = true",
        "",
    ]
    share = pages // threads
    for i in range(threads):
        base = 0x100000 + i * share * 4096
        ops = []
        for k in range(6):
            page = (k * 37 + i * 11) % share
            addr = base + page * 4096 + (k % 4) * 1024
            ops.append(f'"write {addr:#x} {i * 100 + k}"' if k % 2 == 0 else f'"read {addr:#x}"')
        if i == threads - 1:
            ops += ['"mprotect 0x100000 1p r"', '"mprotect 0x100000 1p rw"']
        lines += [
            "[[thread]]",
            f'name = "T{i}"',
            'process = "P"',
            f"ops = [{', '.join(ops)}]",
            f"repeat = {repeat}",
            "",
        ]
    return "\n".join(lines)


def summary(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    return {
        "median_ms": round(statistics.median(ms), 2),
        "p90_ms": round(ms[int(len(ms) * 0.9) - 1], 2),
        "max_ms": round(ms[-1], 2),
        "n": len(ms),
    }


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    """Process every pending message, then draw whatever is dirty."""
    await pilot._wait_for_screen()
    pilot.app.screen._on_timer_update()


async def painted(pilot, action) -> float:  # type: ignore[no-untyped-def]
    """Seconds from calling `action()` to the end of the first screen paint after it.

    That paint has every pane's new content: panes rebuild synchronously in
    the action and only mark themselves dirty; the compositor draws them all in
    its next update. (Work deferred past the paint on purpose, the mmap_seq
    history backfill after a long jump, is not counted.)
    """
    return (await painted_cpu(pilot, action))[0]


async def painted_cpu(pilot, action) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """`painted`, as (wall seconds, CPU seconds of this process)."""
    screen = pilot.app.screen
    stamps: list[tuple[float, float]] = []
    original = screen._compositor_refresh

    def hooked() -> None:
        original()
        stamps.append((time.perf_counter(), time.process_time()))

    screen._compositor_refresh = hooked
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        action()
        while not stamps:
            await pilot._wait_for_screen()
            screen._on_timer_update()
    finally:
        del screen._compositor_refresh
    return stamps[0][0] - t0, stamps[0][1] - c0


async def time_steps(app, steps: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        samples = []
        for _ in range(steps):
            await settle(pilot)
            samples.append(await painted(pilot, screen.action_step))
            await pilot.pause()
        return summary(samples)


async def time_steps_cpu(app, steps: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        wall, cpu = [], []
        for _ in range(steps):
            await settle(pilot)
            w, c = await painted_cpu(pilot, screen.action_step)
            wall.append(w)
            cpu.append(c)
            await pilot.pause()
        return {"cpu": summary(cpu), "wall_median_ms": summary(wall)["median_ms"]}


def step_by_pages() -> dict[str, object]:
    from spftui.tui.app import SpftuiApp
    from spftui.tui.screens.picker import load

    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for pages in (10, 100, 1000, 10_000):
            path = Path(tmp) / f"p{pages}.toml"
            path.write_text(big_scenario(pages=pages))
            out[f"step_8_threads_{pages}_pages"] = asyncio.run(time_steps_cpu(SpftuiApp(load(path)), 40))
    return out


async def time_gotos(app, n: int, length: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    rng = random.Random(3)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        samples = []
        for _ in range(n):
            target = rng.randrange(0, length + 1)
            await settle(pilot)
            samples.append(await painted(pilot, lambda target=target: screen.goto(target)))
            await pilot.pause()
        return summary(samples)


def launch_time() -> float:
    code = (
        "import time, asyncio; t0 = time.perf_counter()\n"
        "from spftui.tui.app import SpftuiApp\n"
        "async def main():\n"
        f"    app = SpftuiApp({str(SEED)!r})\n"
        f"    async with app.run_test(size={SIZE}) as pilot:\n"
        "        await pilot._wait_for_screen(); app.screen._on_timer_update()\n"
        "        print(time.perf_counter() - t0)\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from spftui.engine.session import Session
    from spftui.tui.app import SpftuiApp, add_default_breakpoints
    from spftui.tui.screens.picker import load

    if "--pages" in sys.argv:
        print(json.dumps(step_by_pages(), indent=2))
        return
    quick = "--quick" in sys.argv
    results: dict[str, object] = {"terminal": f"{SIZE[0]}x{SIZE[1]}"}
    results["launch_to_first_paint_s"] = round(statistics.median(launch_time() for _ in range(3)), 3)

    results["step_seed"] = asyncio.run(time_steps(SpftuiApp(load(SEED), policy="spf-mm-seq"), 50))

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.toml"
        path.write_text(big_scenario())
        big = load(path)
    results["step_8_threads_1000_pages"] = asyncio.run(time_steps(SpftuiApp(big), 100))

    results.update(step_by_pages())

    if not quick:
        session = Session(big)
        add_default_breakpoints(session.breakpoints)
        t0 = time.perf_counter()
        session.run(limit=100_000)
        results["record_100k_steps_s"] = round(time.perf_counter() - t0, 1)
        gc.freeze()  # what the app does after a long run (see screens/background.py)
        results["goto_in_100k_step_run"] = asyncio.run(time_gotos(SpftuiApp(session), 40, session.length))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
