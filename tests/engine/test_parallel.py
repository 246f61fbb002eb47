"""One exhaustive search split across processes (`explore --jobs N --mode
exhaustive`) or a Ray cluster (`--ray`): the same states and verdicts as the
single-process search, counterexamples that replay, a killed worker reported
(not waited for), every worker joined."""

from __future__ import annotations

import json
import os
import pickle
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from cli_run import spftui, spftui_process
from engine_helpers import stop_after

from spftui.engine.explorer import ExploreError, explore
from spftui.engine.parallel import Processes, owner
from spftui.engine.workers import WorkerLost
from spftui.kernel import build_machine
from spftui.kernel.events import Violation
from spftui.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "scenarios" / "cow_lost_write.toml"
DONTNEED = ROOT / "scenarios" / "dontneed_race.toml"
DIRTY_COW = ROOT / "scenarios" / "history_dirty_cow.toml"


def dirty_cow() -> Any:
    """Dirty COW with its fix off: a search of 292 states with a Sometimes (file_integrity)."""
    return load_scenario(DIRTY_COW).with_fixes({"foll_cow": False})


def replays_to(sc: Any, policy: str, choices: tuple[int, ...]) -> set[str]:
    """The oracle kinds the last of `choices` reports when replayed on a fresh machine."""
    m = build_machine(sc.with_policy(policy, None))
    events: list[Any] = []
    for c in choices:
        events = m.step(c)
    return {e.oracle for e in events if isinstance(e, Violation)}


@pytest.mark.parametrize(
    ("scenario", "policy", "sometimes"),
    [
        pytest.param(lambda: load_scenario(SEED), "spf-mm-seq", set(), marks=pytest.mark.slow, id="seed-mm-seq"),
        pytest.param(lambda: load_scenario(SEED), "spf-refetch-vma", {"lost_write"}, marks=pytest.mark.slow, id="seed"),
        pytest.param(dirty_cow, "spf-refetch-vma", {"file_integrity"}, id="dirty-cow"),
    ],
)
def test_two_processes_visit_the_same_states_as_one(scenario: Any, policy: str, sometimes: set[str]) -> None:
    sc = scenario()
    one = explore(sc, policy, mode="exhaustive", narrate=False)
    two = explore(sc, policy, mode="exhaustive", jobs=2, narrate=False)
    assert two.complete and two.extra["parallel"]["workers"] == 2
    assert two.states == one.states and two.verdicts == one.verdicts
    on = {k: v for k, v in two.extra["reductions"].items() if k != "merged"}
    assert on == {"sleep_sets": True, "thread_local": True, "symmetry": True}  # all stay on, as with --jobs 1
    assert two.extra["reductions"]["merged"] > 0
    assert {k for k, v in two.verdicts.items() if v == "sometimes"} == sometimes == set(two.counterexamples)
    assert all(n > 0 for n in two.extra["parallel"]["states_per_worker"])  # the work was split
    for kind, cx in two.counterexamples.items():
        assert kind in replays_to(sc, policy, cx.choices)
        assert cx.preemptions == one.counterexamples[kind].preemptions  # minimised like --jobs 1


@pytest.mark.parametrize("compact", [False, True], ids=["dict", "compact"])
def test_any_number_of_workers_gives_the_same_states_under_every_policy(compact: bool) -> None:
    sc = load_scenario(DONTNEED)
    for policy in ("classic", "spf-mm-seq", "vma-lock"):
        one = explore(sc, policy, mode="exhaustive", compact=compact, narrate=False)
        three = explore(sc, policy, mode="exhaustive", jobs=3, compact=compact, narrate=False)
        assert (three.states, three.verdicts) == (one.states, one.verdicts), policy
        assert three.extra["store"]["bytes_per_state"] > 0


def test_explore_jobs_2_on_the_command_line_matches_jobs_1() -> None:
    args = ("explore", str(DONTNEED), "--mode", "exhaustive", "--policy", "spf-mm-seq", "--json")
    one = spftui(*args)
    two = spftui(*args, "--jobs", "2")
    assert one.returncode == two.returncode == 0, two.stderr
    a = json.loads(one.stdout)["policies"]["spf-mm-seq"]
    b = json.loads(two.stdout)["policies"]["spf-mm-seq"]
    assert (b["states"], b["verdicts"], b["complete"]) == (a["states"], a["verdicts"], True)
    assert b["parallel"]["workers"] == 2 and "parallel" not in a


def test_a_cut_partitioned_search_says_so_and_decides_nothing_it_did_not_see() -> None:
    r = explore(load_scenario(SEED), "spf-mm-seq", mode="exhaustive", jobs=2, max_states=2000, narrate=False)
    assert not r.complete and r.stop == "max-states" and 2000 <= r.states < 38_000
    assert set(r.verdicts.values()) == {"unknown"}
    # the workers' figures are in, cut or not (they read 0 before)
    assert r.extra["store"]["bytes_per_state"] > 0 and r.extra["step_cache"]["hits"] > 0


def test_a_split_search_interrupted_twice_resumes_to_the_result_of_one_never_stopped(tmp_path: Path) -> None:
    sc = dirty_cow()
    kw: dict[str, Any] = {"mode": "exhaustive", "jobs": 2, "narrate": False}
    ref = explore(sc, "spf-refetch-vma", **kw)
    ck = str(tmp_path / "split.ckpt")
    first = explore(sc, "spf-refetch-vma", checkpoint=ck, cancelled=stop_after(3), **kw)
    assert first.stop == "interrupted" and 0 < first.states < ref.states and os.path.exists(ck)
    again = explore(sc, "spf-refetch-vma", checkpoint=ck, resume=ck, cancelled=stop_after(3), **kw)
    assert again.stop == "interrupted" and first.states < again.states < ref.states
    done = explore(sc, "spf-refetch-vma", resume=ck, **kw)
    assert (done.states, done.transitions, done.verdicts, done.complete) == (
        ref.states, ref.transitions, ref.verdicts, True
    )  # fmt: skip
    cx = done.counterexamples["file_integrity"]
    assert "file_integrity" in replays_to(sc, "spf-refetch-vma", cx.choices)
    # split two ways, it resumes two ways only, and never as the single-process search
    for jobs in (3, 1):
        with pytest.raises(ExploreError, match="same --jobs N"):
            explore(sc, "spf-refetch-vma", mode="exhaustive", jobs=jobs, resume=ck, narrate=False)


def test_a_split_search_cut_at_its_state_cap_writes_its_checkpoint(tmp_path: Path) -> None:
    sc = load_scenario(DONTNEED)
    ck = tmp_path / "cap.ckpt"
    cut = explore(sc, "spf-mm-seq", mode="exhaustive", jobs=2, max_states=500, checkpoint=str(ck), narrate=False)
    assert cut.stop == "max-states" and ck.exists()
    done = explore(sc, "spf-mm-seq", mode="exhaustive", jobs=2, resume=str(ck), narrate=False)
    assert done.complete and done.states == explore(sc, "spf-mm-seq", mode="exhaustive", narrate=False).states


def test_a_killed_worker_is_reported_and_every_worker_is_joined() -> None:
    sc = load_scenario(SEED).with_policy("spf-mm-seq", None)
    config = {"scenario": sc, "workers": 2, "reduction": True, "local": True, "compact": False, "incremental": True}
    backend = Processes(config, 2)
    procs = [w.proc for w in backend.workers]
    try:
        m = build_machine(sc)
        from spftui.engine.por import Fingerprinter

        snap = m.snapshot()
        key = Fingerprinter()(snap)
        inbox: list[list[bytes]] = [[], []]
        inbox[owner(key, 2)].append(pickle.dumps([(key, snap, b"", (), 0)], 5))
        answers = backend.call([("round", box) for box in inbox])
        assert sum(r["states"] for _, r in answers) >= 1
        os.kill(procs[1].pid, signal.SIGKILL)
        t = time.monotonic()
        with pytest.raises(WorkerLost, match=r"was killed by SIGKILL.*partition 2 of 2"):
            backend.call([("round", []), ("round", [])])
        assert time.monotonic() - t < 10
    finally:
        backend.close()
    assert all(p.exitcode is not None for p in procs)  # joined: no live or defunct children


def test_ray_missing_is_a_clear_error_with_exit_status_2(tmp_path: Path) -> None:
    fake = tmp_path / "ray"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('no ray here')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}  # (a process: its `import ray` meets the fake)
    r = spftui_process("explore", str(DONTNEED), "--mode", "exhaustive", "--ray", "local", env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert 'pip install "spftui[ray]"' in r.stderr


def test_ray_needs_an_exhaustive_search() -> None:
    r = spftui("explore", str(DONTNEED), "--ray", "local", "--mode", "random")
    assert r.returncode == 2 and "not with --mode random" in r.stderr


def test_jobs_2_splits_the_default_modes_exhaustive_search_too() -> None:
    r = spftui("explore", str(DONTNEED), "--policy", "spf-mm-seq", "--jobs", "2", "--json")
    assert r.returncode == 0, r.stderr
    (cell,) = json.loads(r.stdout)["policies"].values()
    assert cell["complete"] and cell["parallel"]["workers"] == 2


# ---------------------------------------------------------------- Ray
@pytest.fixture(scope="module")
def local_ray() -> Any:
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'spftui[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.mark.parametrize(  # about 10 s with Ray's start-up: not marked slow
    ("name", "policy"), [("dirty_cow", "spf-refetch-vma"), ("dontneed", "spf-mm-seq")]
)
def test_a_local_ray_cluster_gives_the_single_process_states_and_verdicts(
    local_ray: Any, name: str, policy: str
) -> None:
    sc = dirty_cow() if name == "dirty_cow" else load_scenario(DONTNEED)
    one = explore(sc, policy, mode="exhaustive", narrate=False)
    on_ray = explore(sc, policy, mode="exhaustive", jobs=2, ray="local", narrate=False)
    assert on_ray.extra["parallel"]["backend"] == "ray" and on_ray.complete
    assert (on_ray.states, on_ray.verdicts) == (one.states, one.verdicts)
    assert set(on_ray.counterexamples) == {k for k, v in one.verdicts.items() if v == "sometimes"}
    for kind, cx in on_ray.counterexamples.items():
        assert kind in replays_to(sc, policy, cx.choices)


def test_a_search_split_on_processes_resumes_on_ray(local_ray: Any, tmp_path: Path) -> None:
    sc = load_scenario(DONTNEED)
    ck = str(tmp_path / "split.ckpt")
    kw: dict[str, Any] = {"mode": "exhaustive", "jobs": 2, "narrate": False}
    first = explore(sc, "spf-mm-seq", checkpoint=ck, cancelled=stop_after(3), **kw)
    assert first.stop == "interrupted"
    on_ray = explore(sc, "spf-mm-seq", ray="local", resume=ck, **kw)
    assert on_ray.extra["parallel"]["backend"] == "ray" and on_ray.complete
    assert on_ray.states == explore(sc, "spf-mm-seq", mode="exhaustive", narrate=False).states
