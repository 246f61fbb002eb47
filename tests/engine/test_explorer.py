"""The explorer: verdicts, counterexamples, reduction soundness, determinism, CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_run import spftui
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spftui.engine import Session
from spftui.engine.explorer import Counterexample, ExploreError, Result, explore
from spftui.engine.matrix import explore_policies, matrix_markdown, policy_matrix
from spftui.engine.narrate import narrate
from spftui.engine.por import Fingerprinter, Tracker
from spftui.engine.sampling import random_search
from spftui.engine.schedule import Replay
from spftui.kernel import build_machine
from spftui.scenario import dump_schedule, load_scenario, parse_scenario, parse_schedule_meta
from spftui.scenario.model import ORACLE_KINDS, POLICIES, Scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
SEED = SCENARIOS / "cow_lost_write.toml"
SMALL = ("dontneed_race", "false_abort_unrelated_vma", "spf_abort_munmap", "swap_cache_hit", "vma_lock_blocks_mprotect")


def seed() -> Scenario:
    return load_scenario(SEED)


@pytest.fixture(scope="module")
def seed_results() -> dict[str, Result]:
    """The seed explored exhaustively under every policy (computed once: ~15 s)."""
    sc = seed()
    return {p: explore(sc, p) for p in POLICIES}


def replay_violations(sc: Scenario, cx: Counterexample) -> list[tuple[int, str, str]]:
    s = Session(sc, strategy=Replay(cx.entries))
    s.run(limit=cx.stop_at)
    return [(mk.step, mk.what, mk.detail) for mk in s.violations()]


# ------------------------------------------------------------------ verdicts
def test_the_seed_loses_a_write_only_under_refetch_vma_with_the_mapcount_rule(
    seed_results: dict[str, Result],
) -> None:
    for policy, r in seed_results.items():
        assert r.complete and r.mode == "exhaustive", policy
        assert r.expect_ok, (policy, r.expectation_failures())
        want = "sometimes" if policy == "spf-refetch-vma" else "never"
        assert r.verdicts["lost_write"] == want, policy
        for kind in ORACLE_KINDS:
            if kind != "lost_write":
                assert r.verdicts[kind] == "never", (policy, kind)
    assert seed_results["spf-refetch-vma"].reuse == "mapcount"


def test_the_shortest_seed_counterexample_needs_one_preemption(seed_results: dict[str, Result]) -> None:
    cx = seed_results["spf-refetch-vma"].counterexample
    assert cx is not None and cx.kind == "lost_write" and cx.minimal
    assert cx.preemptions == 1
    assert cx.thread == "A1" and cx.label == "wp_page_copy:pte_same"
    assert "42 was written there" in cx.detail


def test_a_counterexample_replays_to_the_same_violation(seed_results: dict[str, Result]) -> None:
    sc = seed().with_policy("spf-refetch-vma")
    cx = seed_results["spf-refetch-vma"].counterexample
    assert cx is not None
    assert replay_violations(sc, cx) == [(cx.stop_at - 1, "lost_write", cx.detail)]
    # ... and so does the schedule file written for it
    text = dump_schedule(cx.entries, str(SEED), "x", policy="spf-refetch-vma", reuse="mapcount", stop_at=cx.stop_at)
    sf = parse_schedule_meta(text, threads=[t.name for t in sc.threads])
    assert sf.stop_at == cx.stop_at and sf.policy == "spf-refetch-vma"
    s = Session(sc, strategy=Replay(sf.entries))
    s.run(limit=sf.stop_at)
    assert [(mk.step, mk.what) for mk in s.violations()] == [(cx.stop_at - 1, "lost_write")]


def test_the_narration_tells_the_race_in_one_paragraph(seed_results: dict[str, Result]) -> None:
    cx = seed_results["spf-refetch-vma"].counterexample
    assert cx is not None
    text = cx.narration
    assert "\n" not in text and text.endswith(".")
    for phrase in (
        "A1 (steps 1–18)",  # 1-based, as everywhere
        "write-faults at 0x10000",
        "takes do_wp_page's copy path",
        "copies pfn 1 into pfn 2",
        "B (steps",
        "`munmap 0x10000 1p`",
        "reuses the page in do_wp_page",
        "`write 0x10400 42`",
        "installs pfn 2 in place of pfn 1 — lost_write:",
        # spf-refetch-vma checks nothing at pte_map_lock:seq_check: it is said to enter, not to validate
        "reads orig_pte pfn 1 RO A D, enters pte_map_lock, validates in pte_map_lock (2 steps)",
    ):
        assert phrase in text, phrase


@pytest.mark.parametrize("name", SMALL)
def test_small_bundled_scenarios_meet_their_expectations_under_every_policy(name: str) -> None:
    sc = load_scenario(SCENARIOS / f"{name}.toml")
    for policy in POLICIES:
        r = explore(sc, policy)
        assert r.complete, (name, policy)
        assert r.expect_ok, (name, policy, r.expectation_failures())
        for cx in r.counterexamples.values():
            got = replay_violations(sc.with_policy(policy), cx)
            assert (cx.stop_at - 1, cx.kind) in [(s, k) for s, k, _ in got]


@pytest.mark.slow
def test_large_bundled_scenarios_never_contradict_their_expectations_in_a_bounded_search() -> None:
    """The fork and page-count scenarios are too big for a test-time exhaustive
    search; a preemption bound of 1 and random schedules must still find
    nothing that is expected never to happen. (The quick suite's capped searches
    of every scenario check the same, less deeply: test_reductions.py.)"""
    for name in ("fork_cow_isolation", "cow_lost_write_page_count"):
        sc = load_scenario(SCENARIOS / f"{name}.toml")
        for policy in ("classic", "spf-mm-seq", "spf-refetch-vma"):
            for r in (
                explore(sc, policy, mode="bounded", bound=1, narrate=False),
                explore(sc, policy, mode="random", runs=64, narrate=False),
            ):
                bad = [k for k, v in r.expectations.items() if v == "never" and r.verdicts[k] == "sometimes"]
                assert not bad, (name, policy, r.mode, bad)


# ------------------------------------------------------------- reduction
SMALL_TEXT = {
    "mprotect_munmap": """
title = "fault vs mprotect and munmap"
[[process]]
name = "A"
data = { "0x10000" = 1 }
  [[process.mapping]]
  start = 0x10000
  pages = 2
  prot = "rw"
[[thread]]
name = "T1"
process = "A"
ops = ["write 0x10000 5", "read 0x11000"]
[[thread]]
name = "T2"
process = "A"
ops = ["mprotect 0x11000 1p r", "munmap 0x10000 1p"]
""",
    "fork_cow": """
title = "COW between a forked pair"
kernel = "5.8"
[[process]]
name = "A"
data = { "0x10000" = 1 }
  [[process.mapping]]
  start = 0x10000
  pages = 1
  prot = "rw"
[[process]]
name = "B"
fork_of = "A"
[[thread]]
name = "A1"
process = "A"
ops = ["write 0x10000 2"]
[[thread]]
name = "B1"
process = "B"
ops = ["write 0x10000 3", "munmap 0x10000 1p"]
""",
    "reclaim_dontneed": """
title = "reclaim, DONTNEED and a fault"
kernel = "5.12"
[[process]]
name = "A"
data = { "0x10000" = 1 }
  [[process.mapping]]
  start = 0x10000
  pages = 1
  prot = "rw"
[[thread]]
name = "T1"
process = "A"
ops = ["reclaim 0x10000", "read 0x10000"]
[[thread]]
name = "T2"
process = "A"
ops = ["write 0x10000 7", "madvise 0x10000 1p dontneed"]
""",
}


def assert_reduction_sound(sc: Scenario, policy: str) -> tuple[int, int]:
    reduced = explore(sc, policy, mode="exhaustive", local=False, narrate=False)
    naive = explore(sc, policy, mode="exhaustive", reduction=False, local=False, narrate=False)
    merged = explore(sc, policy, mode="exhaustive", narrate=False)
    assert reduced.complete and naive.complete and merged.complete
    assert reduced.reduction and not naive.reduction
    assert reduced.verdicts == naive.verdicts == merged.verdicts, policy
    # Sleep sets prune transitions, never states: a wrong independence would lose some.
    assert reduced.states == naive.states, policy
    assert reduced.transitions <= naive.transitions
    assert merged.states <= naive.states
    return reduced.transitions, naive.transitions


@pytest.mark.parametrize("name", sorted(SMALL_TEXT))
def test_the_reduced_search_agrees_with_the_naive_one(name: str) -> None:
    sc = parse_scenario(SMALL_TEXT[name], f"<{name}>")
    saved = 0
    for policy in POLICIES:
        red, naive = assert_reduction_sound(sc, policy)
        saved += naive - red
    assert saved > 0


OPS = st.sampled_from(
    [
        "write 0x10000 5",
        "read 0x10000",
        "write 0x11000 6",
        "mprotect 0x10000 1p r",
        "mprotect 0x10000 1p rw",
        "munmap 0x11000 1p",
        "madvise 0x10000 1p dontneed",
        "reclaim 0x10000",
    ]
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(st.lists(OPS, min_size=1, max_size=2), min_size=2, max_size=2),
    policy=st.sampled_from(POLICIES),
    fork=st.booleans(),
)
def test_the_reduction_is_sound_on_generated_scenarios(ops: list[list[str]], policy: str, fork: bool) -> None:
    threads = "".join(
        f'[[thread]]\nname = "T{i}"\nprocess = "{"B" if fork and i == 1 else "A"}"\nops = {json.dumps(o)}\n'
        for i, o in enumerate(ops)
    )
    text = (
        'title = "generated"\nkernel = "5.8"\n[[process]]\nname = "A"\ndata = { "0x10000" = 1 }\n'
        '  [[process.mapping]]\n  start = 0x10000\n  pages = 2\n  prot = "rw"\n'
        + ('[[process]]\nname = "B"\nfork_of = "A"\n' if fork else "")
        + threads
    )
    assert_reduction_sound(parse_scenario(text), policy)


def test_footprints_see_writes_that_machine_touched_misses() -> None:
    """mprotect_fixup changes vm_flags without naming the VMA in `touched`."""
    m = build_machine(seed())
    tracker = Tracker(m)
    assert tracker.enabled
    before = m.snapshot()
    while True:
        tracker.begin(1)
        events = m.step(1)
        tracker.end()
        after = m.snapshot()
        fp = tracker.footprint(before, after, events)
        if any(e.kind == "vma" and e.action == "vm_flags" for e in events):
            break
        before = after
    assert ("v", 0, "vm_flags") in fp.w
    assert not any(k[0] == "v" for k in m.touched)


MMAP_LOCK_FIELDS = ("lock_writer", "lock_readers", "lock_waiters", "downgraded")


def test_measured_footprints_cover_the_kernels_touched_keys() -> None:
    """Two independent footprints: what the tracker measures, projected to whole
    objects, names everything `Machine.touched` names."""
    import random

    for name in ("cow_lost_write_swap", "fork_cow_isolation", "dontneed_race"):
        for policy in POLICIES:
            sc = load_scenario(SCENARIOS / f"{name}.toml").with_policy(policy)
            for seed_ in range(3):
                rng = random.Random(seed_)
                m = build_machine(sc)
                tracker = Tracker(m)
                before = m.snapshot()
                while m.runnable():
                    t = rng.choice(m.runnable())
                    tracker.begin(t)
                    events = m.step(t)
                    tracker.end()
                    after = tracker.snapshot(before, events)
                    fp = tracker.footprint(before, after, events)
                    before = after
                    if fp.glob:
                        continue
                    mine = {k[:2] for k in fp.acc} | {("mm", m.vmas[k[1]].mm) for k in fp.acc if k[0] == "v"}
                    mine |= {("shadow", k[1]) for k in fp.acc if k[0] == "mm" and k[2] == "shadow"}
                    mine |= {("mmap_lock", k[1]) for k in fp.acc if k[0] == "mm" and k[2] in MMAP_LOCK_FIELDS}
                    mine |= {("ptl", k[1]) for k in fp.acc if k[0] == "t" and k[2] in ("ptl", "ptl_waiters")}
                    kinds = {k[0] for k in fp.acc}
                    for key in m.touched:
                        if key[0] == "alloc":
                            ok = bool(kinds & {"free", "anon_vma_next", "swap"})
                        elif key[0] in ("swap", "rcu"):
                            ok = key[0] in kinds
                        elif key[0] == "tlb":
                            ok = key in mine or ("tlb", "*") in fp.acc
                        elif m.last_label == "pte_map_lock:seq_check" and "refetch" in policy:
                            ok = True  # validate() names the mm, but SEQ1 reads nothing under refetch
                        else:
                            ok = key in mine
                        assert ok, (name, policy, m.last_label, key, fp)


def test_incremental_snapshots_equal_full_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every rebuilt snapshot is compared with Machine.snapshot() (a kernel change shows here)."""
    from spftui.engine import por
    from spftui.engine.explorer import Search, Stats, Stop, exhaustive

    monkeypatch.setattr(por, "CHECK_SNAPSHOT_EVERY", 1)
    for name, policy in [
        ("dontneed_race", "spf-mm-seq"),
        ("cow_lost_write_swap", "spf-refetch-vma"),
        ("fork_cow_isolation", "vma-lock"),
        ("fork_cow_isolation", "spf-vma-seq"),
    ]:
        sc = load_scenario(SCENARIOS / f"{name}.toml").with_policy(policy)
        s = Search(sc, max_states=3000, timeout=None, progress=None, cancelled=None)
        try:
            exhaustive(s, Stats())
        except Stop:
            pass
        assert s.tracker.incremental and s.tracker.calls > 100, name


def test_a_snapshot_mismatch_restarts_the_search_without_the_shortcut(monkeypatch: pytest.MonkeyPatch) -> None:
    from spftui.engine import por
    from spftui.engine.footprint import KernelTracker

    real = KernelTracker.snapshot
    calls = [0]

    def flaky(self: KernelTracker, parent: tuple[Any, ...], events: Any) -> tuple[Any, ...]:
        calls[0] += 1
        if calls[0] == 50:
            self.incremental = False
            raise por.SnapshotMismatch("simulated")
        return real(self, parent, events)

    monkeypatch.setattr(KernelTracker, "snapshot", flaky)
    sc = load_scenario(SCENARIOS / "dontneed_race.toml")
    r = explore(sc, "spf-mm-seq", narrate=False)
    monkeypatch.setattr(KernelTracker, "snapshot", real)
    assert calls[0] > 50
    ref = explore(sc, "spf-mm-seq", narrate=False)
    assert (r.states, r.verdicts, r.complete) == (ref.states, ref.verdicts, True)
    assert any("incremental snapshots off" in n for n in r.extra["notes"])  # said, not silent


# ------------------------------------------------------- bounded, first, limits
def test_bounded_search_deepens_to_the_fewest_preemptions() -> None:
    sc = seed()
    r0 = explore(sc, "spf-refetch-vma", mode="bounded", bound=0, narrate=False)
    assert r0.verdicts["lost_write"] == "unknown" and not r0.complete and r0.stop == "bound"
    r1 = explore(sc, "spf-refetch-vma", mode="bounded", bound=1, narrate=False)
    cx = r1.counterexamples["lost_write"]
    assert r1.verdicts["lost_write"] == "sometimes" and cx.preemptions == 1 and cx.minimal


def test_first_stops_at_the_first_violation() -> None:
    r = explore(seed(), "spf-refetch-vma", first=True)
    assert r.stop == "found" and not r.complete
    assert r.verdicts["lost_write"] == "sometimes"
    assert {r.verdicts[k] for k in ORACLE_KINDS if k != "lost_write"} == {"unknown"}
    assert r.expect_ok  # the seed only expects the lost write
    assert r.seconds < 5


def test_a_cut_search_says_unknown() -> None:
    r = explore(seed(), "spf-mm-seq", max_states=500, narrate=False)
    assert not r.complete and r.stop == "max-states"
    assert set(r.verdicts.values()) == {"unknown"}
    assert not r.expect_ok and "undecided" in r.expectation_failures()[0]


def test_cancellation_and_ctrl_c_keep_what_was_found() -> None:
    r = explore(seed(), "spf-mm-seq", cancelled=lambda: True, narrate=False)
    assert r.stop == "interrupted" and not r.complete and r.states > 0

    def interrupt(p: Any) -> None:
        raise KeyboardInterrupt

    r = explore(seed(), "spf-mm-seq", progress=interrupt, narrate=False)
    assert r.stop == "interrupted" and r.states > 0


def test_bad_arguments_are_explore_errors() -> None:
    with pytest.raises(ExploreError, match="unknown policy"):
        explore(seed(), "bogus")
    with pytest.raises(ExploreError, match="unknown mode"):
        explore(seed(), mode="dfs")
    with pytest.raises(ExploreError):
        explore(seed(), max_states=0)


# ------------------------------------------------------------ randomised
def test_the_same_seed_gives_the_same_random_result() -> None:
    sc = seed()
    for mode in ("random", "pct"):
        a = explore(sc, "spf-refetch-vma", mode=mode, runs=96, seed=7, narrate=False)
        b = explore(sc, "spf-refetch-vma", mode=mode, runs=96, seed=7, narrate=False)
        assert (a.verdicts, a.states, a.schedules) == (b.verdicts, b.states, b.schedules)
        assert {k: c.choices for k, c in a.counterexamples.items()} == {
            k: c.choices for k, c in b.counterexamples.items()
        }
    pct = explore(sc, "spf-refetch-vma", mode="pct", runs=96, seed=1)
    cx = pct.counterexamples["lost_write"]
    assert replay_violations(sc.with_policy("spf-refetch-vma"), cx)[0][:2] == (cx.stop_at - 1, "lost_write")


def test_two_jobs_give_the_same_random_result_as_one() -> None:
    sc = seed().with_policy("spf-refetch-vma")
    one = random_search(sc, runs=96, seed=3, jobs=1, narrate=False, measure_aborts=True)
    two = random_search(sc, runs=96, seed=3, jobs=2, narrate=False, measure_aborts=True)
    assert one.verdicts == two.verdicts
    assert (one.states, one.schedules, one.extra) == (two.states, two.schedules, two.extra)
    assert {k: c.choices for k, c in one.counterexamples.items()} == {
        k: c.choices for k, c in two.counterexamples.items()
    }


def test_policies_explored_in_parallel_match_the_sequential_results() -> None:
    sc = load_scenario(SCENARIOS / "spf_abort_munmap.toml")
    opts: dict[str, Any] = {"narrate": False}
    par = explore_policies(sc, POLICIES, None, 2, opts)
    seq = [explore(sc, p, narrate=False) for p in POLICIES]
    assert [(r.policy, r.verdicts, r.states, r.transitions) for r in par] == [
        (r.policy, r.verdicts, r.states, r.transitions) for r in seq
    ]


def test_fingerprints_do_not_depend_on_the_hash_seed() -> None:
    code = (
        "from spftui.scenario import load_scenario\n"
        "from spftui.engine.explorer import explore\n"
        "r = explore(load_scenario('scenarios/spf_abort_munmap.toml'), 'spf-mm-seq', narrate=False)\n"
        "print(r.states, r.transitions, r.schedules)\n"
    )
    outs = set()
    for hashseed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        outs.add(
            subprocess.run(
                [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout
        )
    assert len(outs) == 1
    m = build_machine(seed())
    assert Fingerprinter()(m.snapshot()) == Fingerprinter()(build_machine(seed()).snapshot())


# --------------------------------------------------------- aborts, matrix
def test_unnecessary_aborts_are_counted_on_the_false_abort_scenario() -> None:
    sc = load_scenario(SCENARIOS / "false_abort_unrelated_vma.toml")
    r = random_search(sc.with_policy("spf-mm-seq"), runs=64, seed=1, measure_aborts=True, narrate=False)
    a = r.extra["aborts"]
    assert a["faults"] > 0 and a["aborts"] > 0
    assert 0 < a["unnecessary"] <= a["aborts"]
    classic = random_search(sc.with_policy("classic"), runs=16, measure_aborts=True, narrate=False)
    assert classic.extra["aborts"]["aborts"] == 0 and classic.extra["aborts"]["abort_rate"] is None


def test_the_matrix_tabulates_scenarios_by_policies() -> None:
    scs = [load_scenario(SCENARIOS / f"{n}.toml") for n in ("spf_abort_munmap", "false_abort_unrelated_vma")]
    rows = policy_matrix(scs, ("classic", "spf-mm-seq"), runs=16)
    assert [(r.scenario, r.policy) for r in rows] == [
        ("spf_abort_munmap", "classic"),
        ("spf_abort_munmap", "spf-mm-seq"),
        ("false_abort_unrelated_vma", "classic"),
        ("false_abort_unrelated_vma", "spf-mm-seq"),
    ]
    md = matrix_markdown(rows)
    assert md.splitlines()[0].startswith("| scenario | policy | lost_write |")
    assert len(md.splitlines()) == 2 + len(rows)
    data = rows[1].to_json()
    assert data["aborts"]["aborts"] > 0 and data["verdicts"]["lost_write"] == "never"


def test_narrate_handles_an_empty_run() -> None:
    assert narrate(seed(), []) == "Nothing runs."


# ------------------------------------------------------------------- CLI


def test_cli_explore_finds_saves_and_replays_the_lost_write(tmp_path: Path) -> None:
    r = spftui("explore", str(SEED), "--policy", "spf-refetch-vma", "--first", "--save", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "lost_write:     Sometimes  ✓ expected" in r.stdout
    saved = tmp_path / "cow_lost_write.spf-refetch-vma.schedule.toml"
    assert f"saved to {saved}" in r.stdout
    check = spftui("check", str(SEED), "--schedule", str(saved), "--json")
    data = json.loads(check.stdout)
    assert data["policy"] == "spf-refetch-vma"
    assert [v["kind"] for v in data["violations"]] == ["lost_write"]


def test_cli_explore_json_has_the_documented_fields(tmp_path: Path) -> None:
    path = str(SCENARIOS / "spf_abort_munmap.toml")
    r = spftui("explore", path, "--policy", "all", "--json", "--no-save")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["scenario"] == path and data["expect_ok"] is True
    assert sorted(data["policies"]) == sorted(POLICIES)
    for p in data["policies"].values():
        for key in ("verdicts", "states", "schedules", "seconds", "complete", "counterexample"):
            assert key in p
        assert p["complete"] is True and set(p["verdicts"]) == set(ORACLE_KINDS)
    r = spftui("explore", str(SEED), "--policy", "spf-refetch-vma", "--first", "--json", "--save", ".", cwd=tmp_path)
    cx = json.loads(r.stdout)["policies"]["spf-refetch-vma"]["counterexample"]
    assert cx["kind"] == "lost_write" and cx["preemptions"] == 1 and cx["steps"][0].startswith("A1 ")
    assert (tmp_path / cx["schedule_file"]).exists()


def test_cli_explore_writes_nothing_unless_asked_and_says_how_to_save(tmp_path: Path) -> None:
    r = spftui("explore", str(SEED), "--policy", "spf-refetch-vma", "--first", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert list(tmp_path.iterdir()) == []
    assert "Counterexamples are not saved: `--save DIR` writes each as a schedule file" in r.stdout
    r = spftui("explore", str(SEED), "--policy", "spf-refetch-vma", "--first", "--json", cwd=tmp_path)
    assert json.loads(r.stdout)["policies"]["spf-refetch-vma"]["counterexample"]["schedule_file"] is None
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("")
    r = spftui("explore", str(SEED), "--save", str(tmp_path / "file" / "out"), cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("spftui: error: --save: "), r.stderr  # (a missing folder is made)


def test_cli_explore_exits_1_when_an_expectation_fails(tmp_path: Path) -> None:
    text = (
        (SCENARIOS / "spf_abort_munmap.toml").read_text().replace('stray_pte = "never"', 'stray_pte = "sometimes"', 1)
    )
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    r = spftui("explore", str(bad), "--no-save")
    assert r.returncode == 1, r.stderr
    assert "✗ expected Sometimes" in r.stdout and "Expectations do not hold" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "bogus"], "--policy: unknown policy 'bogus'"),
        (["--max-states", "lots"], "--max-states: expected a whole number, found 'lots'"),
        (["--timeout", "-1"], "--timeout: expected a positive number of seconds"),
        (["--mode", "dfs"], "--mode: unknown mode 'dfs'"),
    ],
)
def test_cli_explore_rejects_bad_input_with_status_2(args: list[str], message: str) -> None:
    r = spftui("explore", str(SEED), *args)
    assert r.returncode == 2
    assert r.stderr.startswith(f"spftui: error: {message}")
    assert "Traceback" not in r.stderr


def test_cli_explore_reports_scenario_errors_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('title = "x"\n[[thread]]\nname = "T"\nprocess = "A"\nops = ["fly 0x10000"]\n')
    r = spftui("explore", str(bad))
    assert r.returncode == 2 and r.stderr.startswith(f"spftui: error: {bad}:")
    r = spftui("matrix", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and "cannot read the file" in r.stderr


def test_cli_matrix_prints_markdown_and_json() -> None:
    small = [str(SCENARIOS / "spf_abort_munmap.toml"), str(SCENARIOS / "false_abort_unrelated_vma.toml")]
    r = spftui("matrix", *small, "--policies", "classic,spf-mm-seq", "--runs", "8")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("| scenario | policy |") and "| spf_abort_munmap | spf-mm-seq (page-count) |" in r.stdout
    r = spftui("matrix", *small, "--policies", "spf-mm-seq", "--runs", "8", "--json")
    data = json.loads(r.stdout)
    assert data["expect_ok"] is True and len(data["rows"]) == 2
    assert {"abort_rate", "unnecessary_share"} <= set(data["rows"][0]["aborts"])


def test_cli_matrix_lists_undecided_cells_exits_0_for_them_and_prints_progress_lines_when_piped(
    tmp_path: Path,
) -> None:
    cells = [str(SCENARIOS / "fork_cow_isolation.toml"), str(SCENARIOS / "spf_abort_munmap.toml")]
    r = spftui("matrix", *cells, "--policies", "classic", "--runs", "4", "--max-states", "2000")
    assert r.returncode == 0, r.stderr
    assert "Undecided (1; raise --max-states or --timeout" in r.stdout and "fork_cow_isolation × classic." in r.stdout
    assert "cut after 2,000 states or 10 s" in r.stdout
    # stderr is a pipe here: one plain line per cell, no Rich
    lines = r.stderr.splitlines()
    assert lines[0] == "matrix: 2 cells (2 scenarios × 1 policy)" and len(lines) == 3
    # cells run side by side (one process per CPU): a line per cell as each ends, counted in that order
    assert [line[:12] for line in lines[1:]] == ["matrix: 1/2 ", "matrix: 2/2 "]
    fork, munmap = sorted(lines[1:], key=lambda line: "spf_abort_munmap" in line)
    assert fork[12:].startswith("fork_cow_isolation × classic: undecided (max-states), 2,000 states, "), fork
    assert re.match(r"matrix: \d/2 spf_abort_munmap × classic: complete, \d+ states, [\d.]+ s$", munmap), munmap
    data = json.loads(
        spftui("matrix", *cells, "--policies", "classic", "--runs", "4", "--max-states", "2000", "--json").stdout
    )
    assert data["undecided"] == ["fork_cow_isolation × classic"] and data["expect_ok"] is True
    bad = tmp_path / "bad.toml"
    bad.write_text(
        (SCENARIOS / "spf_abort_munmap.toml").read_text().replace('stray_pte = "never"', 'stray_pte = "sometimes"')
    )
    r = spftui("matrix", str(bad), "--policies", "classic", "--runs", "4")
    assert r.returncode == 1 and "Expectations do not hold: bad × classic." in r.stdout


@pytest.mark.slow
def test_a_bare_matrix_finishes_in_under_a_minute_of_cpu() -> None:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = spftui("matrix")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert r.returncode == 0, r.stdout[-2000:]
    assert cpu < 60, cpu
    assert "Undecided (" in r.stdout and "fork_cow_isolation × classic" in r.stdout


def test_the_explorer_does_not_import_rich_or_textual() -> None:
    code = (
        "import sys\n"
        "from spftui.scenario import load_scenario\n"
        "from spftui.engine.explorer import explore\n"
        "from spftui.engine.matrix import policy_matrix\n"
        "import spftui.explore_cli\n"
        "explore(load_scenario('scenarios/swap_cache_hit.toml'))\n"
        "bad = [m for m in ('textual', 'rich') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
