"""Explorer benchmarks (run on purpose, not in the test suite); prints JSON.

    python benchmarks/bench_explorer.py [--repeat 3] [--runs 2000]

On the seed scenario (cow_lost_write.toml, reuse mapcount, full model):

- exhaustive search with and without sleep-set reduction, per policy
  (spf-refetch-vma, spf-mm-seq): states, transitions, schedules, seconds
  (best of --repeat, in-process), and the reduction factor;
- cold wall times of the commands a user runs (a fresh process each):
  `spftui explore SEED --policy spf-refetch-vma` (full verdicts), the same
  with `--first` (time to the lost write), and `--policy spf-mm-seq`;
- random-schedule throughput with --jobs 1 and --jobs 2.

`--estimate` follows the progress estimate (engine/estimate.py) of the
seed's search, and with `--long` of the 4-thread one, against the truth:
the estimated share done and seconds left beside the share of states
visited and the seconds really left.

`--reach` prints the issue-8 figures instead, in CPU seconds
(time.process_time; a child's from its rusage): the seed under spf-mm-seq
(search CPU, end-to-end CPU of `spftui explore`, states per CPU-second,
bytes per stored state, the search without the step cache beside it), and with `--long` the 4-thread
cow_three_writers_munmap, the 5-thread cow_four_writers_munmap and
fork_cow_isolation under each policy (capped at --max-states); with
`--jobs-pair` the 4-thread scenario with --jobs 1 and --jobs 2, each in a
fresh process, one after the other: CPU of the process and its workers,
wall seconds, states (they must be equal), states and bytes sent, and the
speed-ups in wall time and on idle cores (critical path). Run it from a checkout with PYTHONPATH set to compare two
trees side by side (options a tree does not know are left out), or give
`--against DIR` (another checkout, e.g. `git worktree add /tmp/base main`):
its figures are taken in a child process with PYTHONPATH=DIR, this tree's
in another, one after the other, and printed with after/before ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from spftui.engine.explorer import explore
from spftui.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "scenarios" / "cow_lost_write.toml"


def search(policy: str, reduction: bool, repeat: int) -> dict[str, Any]:
    sc = load_scenario(SEED)
    best = None
    for _ in range(repeat):
        r = explore(sc, policy, mode="exhaustive", reduction=reduction, narrate=False)
        if best is None or r.seconds < best.seconds:
            best = r
    assert best is not None
    return {
        "states": best.states,
        "transitions": best.transitions,
        "schedules": best.schedules,
        "seconds": round(best.seconds, 3),
        "complete": best.complete,
        "lost_write": best.verdicts["lost_write"],
    }


def cold(*args: str, repeat: int) -> dict[str, Any]:
    """Best wall time of `spftui explore ...` in a fresh process."""
    walls = []
    out = ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        p = subprocess.run(
            [sys.executable, "-m", "spftui", "explore", str(SEED), "--no-save", "--json", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        walls.append(time.perf_counter() - t0)
        out = p.stdout
    data = json.loads(out)
    (res,) = data["policies"].values()
    return {
        "command": "spftui explore cow_lost_write.toml " + " ".join(args),
        "wall_seconds": round(min(walls), 3),
        "lost_write": res["verdicts"]["lost_write"],
        "complete": res["complete"],
        "states": res["states"],
        "found_after_seconds": res["found_seconds"].get("lost_write"),
    }


def throughput(runs: int, jobs: int) -> dict[str, Any]:
    sc = load_scenario(SEED)
    t0 = time.perf_counter()
    r = explore(sc, "spf-refetch-vma", mode="random", runs=runs, jobs=jobs, narrate=False)
    wall = time.perf_counter() - t0
    return {
        "jobs": jobs,
        "runs": r.schedules,
        "wall_seconds": round(wall, 3),
        "runs_per_second": round(r.schedules / wall, 1),
        "steps_per_second": round(r.states / wall, 1),
        "lost_write": r.verdicts["lost_write"],
    }


def cpu_search(name: str, policy: str, max_states: int, where: Path | None = None, **opts: Any) -> dict[str, Any]:
    """One exhaustive search in this process: CPU seconds, states, verdicts, store figures."""
    import inspect

    known = inspect.signature(explore).parameters
    sc = load_scenario((where or ROOT / "scenarios") / f"{name}.toml")
    t0 = time.process_time()
    r = explore(
        sc, policy, mode="exhaustive", narrate=False, max_states=max_states,
        **{k: v for k, v in opts.items() if k in known},
    )  # fmt: skip
    cpu = time.process_time() - t0
    store = r.extra.get("store", {})
    return {
        "scenario": name,
        "policy": policy,
        "cpu_seconds": round(cpu, 3),
        "states": r.states,
        "transitions": r.transitions,
        "complete": r.complete,
        "states_per_cpu_second": round(r.states / cpu),
        "bytes_per_state": store.get("bytes_per_state"),
        "verdicts": {k: v for k, v in r.verdicts.items() if v != "never"} or "all never",
    }


def cpu_cold(*args: str) -> float:
    """CPU seconds of `spftui explore ...` in a fresh process, start-up included."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-m", "spftui", "explore", *args, "--no-save", "--json"],
        capture_output=True, cwd=ROOT, check=False,
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 3)


BENCH = Path(__file__).parent / "scenarios"


def one_search(name: str, policy: str, jobs: int, max_states: int, partition: str | None = None) -> dict[str, Any]:
    """One exhaustive search in a fresh process (`--one`): CPU of the process and its
    workers (rusage), wall seconds, states, and the partitioned search's figures."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", name, "--policy", policy, "--jobs", str(jobs)]
    cmd += ["--max-states", str(max_states)] + (["--partition", partition] if partition else [])
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(p.stdout)


def _one(args: argparse.Namespace) -> dict[str, Any]:
    """The `--one` child: search, then report its own and its workers' CPU."""
    import inspect
    import resource

    known = inspect.signature(explore).parameters
    if args.partition:
        from spftui.engine import parallel

        parallel.PARTITION = args.partition
    where = BENCH if (BENCH / f"{args.one}.toml").exists() else ROOT / "scenarios"
    sc = load_scenario(where / f"{args.one}.toml")
    w0 = time.perf_counter()
    opts = {"jobs": args.jobs, "compact": True}
    r = explore(
        sc, args.policy, mode="exhaustive", narrate=False, max_states=args.max_states,
        **{k: v for k, v in opts.items() if k in known},
    )  # fmt: skip
    wall = time.perf_counter() - w0
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    par = r.extra.get("parallel", {})
    return {
        "scenario": args.one,
        "policy": args.policy,
        "jobs": args.jobs,
        "states": r.states,
        "transitions": r.transitions,
        "complete": r.complete,
        "cpu_seconds_total": round(cpu, 2),
        "wall_seconds": round(wall, 2),
        "states_per_cpu_second": round(r.states / cpu),
        "reductions": r.extra.get("reductions"),
        "verdicts": {k: v for k, v in r.verdicts.items() if v != "never"} or "all never",
        **{k: par[k] for k in ("states_sent", "bytes_sent", "states_per_worker", "cpu_per_worker", "critical_path_cpu")
           if k in par},
    }  # fmt: skip


def jobs_pair(name: str, policy: str, max_states: int) -> dict[str, Any]:
    """--jobs 1 and --jobs 2 side by side (one after the other): CPU, wall, the
    speed-up in wall time and on idle cores (--jobs 1 CPU over the partitioned
    search's critical path: the sum over rounds of the busiest worker's CPU)."""
    one = one_search(name, policy, 1, max_states)
    two = one_search(name, policy, 2, max_states)
    out = {"jobs_1": one, "jobs_2": two}
    out["same_states"] = one["states"] == two["states"]
    out["wall_speedup"] = round(one["wall_seconds"] / two["wall_seconds"], 2)
    out["cpu_total_ratio"] = round(two["cpu_seconds_total"] / one["cpu_seconds_total"], 2)
    if two.get("critical_path_cpu"):
        out["idle_cores_speedup"] = round(one["cpu_seconds_total"] / two["critical_path_cpu"], 2)
    return out


def reach(args: argparse.Namespace) -> dict[str, Any]:
    from spftui.scenario.model import POLICIES

    seed, plain = [], []
    for _ in range(args.repeat):  # with and without the step cache, taken in turn
        seed.append(cpu_search("cow_lost_write", "spf-mm-seq", 2_000_000))
        plain.append(cpu_search("cow_lost_write", "spf-mm-seq", 2_000_000, cache=False))
    best = min(seed, key=lambda d: d["cpu_seconds"])
    best_plain = min(plain, key=lambda d: d["cpu_seconds"])
    out: dict[str, Any] = {
        "seed_search": best,
        "seed_search_without_step_cache_cpu_seconds": best_plain["cpu_seconds"],
        "step_cache_speedup": round(best_plain["cpu_seconds"] / best["cpu_seconds"], 2),
        "seed_search_compact": cpu_search("cow_lost_write", "spf-mm-seq", 2_000_000, compact=True),
        "seed_end_to_end_cpu_seconds": min(
            cpu_cold(str(SEED), "--policy", "spf-mm-seq", "--mode", "exhaustive") for _ in range(args.repeat)
        ),
    }
    if args.long:
        out["four_threads"] = cpu_search("cow_three_writers_munmap", "spf-mm-seq", args.max_states, compact=True)
        if (BENCH / "cow_four_writers_munmap.toml").exists():
            out["five_threads"] = cpu_search(
                "cow_four_writers_munmap", "spf-mm-seq", args.max_states, BENCH, compact=True
            )
        out["fork_cow_isolation"] = [
            cpu_search("fork_cow_isolation", p, args.max_states, compact=True) for p in POLICIES
        ]
    if args.jobs_pair:
        out["four_threads_jobs"] = jobs_pair("cow_three_writers_munmap", "spf-mm-seq", args.max_states)
    return out


def estimate_track(path: Path, policy: str, every: float) -> dict[str, Any]:
    """The progress estimate of one exhaustive search against the truth: at each
    report (about every `every` seconds) the estimated share done and seconds
    left beside the share of the final states visited and the seconds it
    really took; and the mean |error| of the share after the first quarter."""
    reports: list[Any] = []
    t0 = time.monotonic()
    r = explore(load_scenario(path), policy, mode="exhaustive", narrate=False, progress=reports.append)
    total = time.monotonic() - t0
    rows, last = [], -every
    for p in reports:
        if p.done is not None and p.seconds - last >= every:
            last = p.seconds
            rows.append({
                "seconds": round(p.seconds, 1), "visited": round(p.states / r.states, 3),
                "estimate": round(p.done, 3), "seconds_left": p.left and round(p.left, 1),
                "true_seconds_left": round(total - p.seconds, 1),
            })  # fmt: skip
    later = [abs(p.done - p.states / r.states) for p in reports if p.done is not None and p.states >= r.states / 4]
    return {
        "scenario": path.stem, "policy": policy, "states": r.states, "seconds": round(total, 1),
        "mean_abs_error_after_a_quarter": round(sum(later) / len(later), 3) if later else None, "track": rows,
    }  # fmt: skip


def against(args: argparse.Namespace) -> dict[str, Any]:
    """The --reach figures of DIR and of this tree, each in a fresh process, with ratios."""
    out: dict[str, Any] = {}
    for name, tree in (("before", Path(args.against).resolve()), ("after", ROOT)):
        # each tree's own copy of this script: its cold runs start in that tree (python -m puts the cwd first)
        cmd = [sys.executable, str(tree / "benchmarks" / "bench_explorer.py"), "--reach", "--repeat", str(args.repeat)]
        cmd += ["--max-states", str(args.max_states)] + (["--long"] if args.long else [])
        cmd += ["--jobs-pair"] if args.jobs_pair else []
        env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tree, check=True)
        out[name] = json.loads(p.stdout)
    ratios = {}
    for key in ("seed_search", "seed_search_compact", "four_threads", "five_threads"):
        b, a = out["before"].get(key), out["after"].get(key)
        if b and a:
            ratios[key] = {
                "cpu_seconds_after_over_before": round(a["cpu_seconds"] / b["cpu_seconds"], 3),
                "states_per_cpu_second_after_over_before": round(
                    a["states_per_cpu_second"] / b["states_per_cpu_second"], 3
                ),
            }
    b, a = out["before"]["seed_end_to_end_cpu_seconds"], out["after"]["seed_end_to_end_cpu_seconds"]
    ratios["seed_end_to_end"] = round(a / b, 3)
    out["ratios"] = ratios
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--reach", action="store_true", help="the issue-8 figures (CPU seconds)")
    ap.add_argument("--long", action="store_true", help="with --reach: the 4-thread and fork scenarios too")
    ap.add_argument("--max-states", type=int, default=6_000_000)
    ap.add_argument(
        "--against", metavar="DIR", help="with --reach: the same figures for the checkout DIR, side by side"
    )
    ap.add_argument("--jobs-pair", action="store_true", help="with --reach: the 4-thread scenario, --jobs 1 and 2")
    ap.add_argument(
        "--estimate", action="store_true", help="the progress estimate against the truth (with --long: 4 threads too)"
    )
    ap.add_argument("--one", metavar="NAME", help=argparse.SUPPRESS)  # a child of one_search
    ap.add_argument("--policy", default="spf-mm-seq", help=argparse.SUPPRESS)
    ap.add_argument("--jobs", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--partition", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(_one(args)))
        return
    if args.estimate:
        out = {"seed": estimate_track(SEED, "spf-mm-seq", 0.2)}
        if args.long:
            four = ROOT / "scenarios" / "cow_three_writers_munmap.toml"
            out["four_threads"] = estimate_track(four, "spf-mm-seq", 5.0)
        print(json.dumps(out, indent=2))
        return
    if args.reach and args.against:
        print(json.dumps(against(args), indent=2))
        return
    if args.reach:
        print(json.dumps(reach(args), indent=2))
        return
    out: dict[str, Any] = {"scenario": "cow_lost_write.toml", "cpus": os.cpu_count(), "search": {}}
    for policy in ("spf-refetch-vma", "spf-mm-seq"):
        with_red = search(policy, True, args.repeat)
        naive = search(policy, False, args.repeat)
        out["search"][policy] = {
            "with_reduction": with_red,
            "without_reduction": naive,
            "transition_reduction": round(naive["transitions"] / with_red["transitions"], 2),
            "state_reduction": round(naive["states"] / with_red["states"], 2),
        }
    out["cold"] = [
        cold("--policy", "spf-refetch-vma", "--first", repeat=args.repeat),
        cold("--policy", "spf-refetch-vma", repeat=args.repeat),
        cold("--policy", "spf-mm-seq", repeat=args.repeat),
    ]
    out["random"] = [throughput(args.runs, 1), throughput(args.runs, 2)]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
