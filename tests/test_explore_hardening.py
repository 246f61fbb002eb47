"""`spftui explore` on bad input: a Ray address where no cluster answers is a
one-line error within seconds (not Ray's minutes of retries), and --timeout
takes the spellings `spftui matrix` takes."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from cli_run import spftui

ROOT = Path(__file__).resolve().parents[1]
DONTNEED = ROOT / "scenarios" / "dontneed_race.toml"


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound by the system, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def ray_installed() -> None:
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'spftui[ray]')")


@pytest.mark.usefixtures("ray_installed")
@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_unreachable_ray_address_is_a_clear_error_within_seconds(scheme: str) -> None:
    address = f"{scheme}127.0.0.1:{closed_port()}"
    start = time.monotonic()
    r = spftui("explore", "cow_lost_write", "--mode", "exhaustive", "--ray", address, "--max-states", "3000")
    assert time.monotonic() - start < 10
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines() == [
        f"spftui: error: --ray: cannot reach a Ray cluster at {address}: Connection refused"
    ]


@pytest.mark.usefixtures("ray_installed")
@pytest.mark.parametrize("address", ["head", "head:port", "head:99999", ":6379"])
def test_a_ray_address_without_a_host_and_port_is_refused(address: str) -> None:
    r = spftui("explore", "cow_lost_write", "--ray", address)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        f"spftui: error: --ray: '{address}' is not a Ray address (expected local, auto, HOST:PORT or ray://HOST:PORT)"
    ]


def test_the_engine_checks_the_address_too() -> None:
    """`explore(ray=...)` from Python, without the command line's check first."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'spftui[ray]')")
    if ray.is_initialized():  # (another test's Ray: the backend would use it and not connect)
        pytest.skip("a Ray instance is running in this process")
    from spftui.engine.explorer import explore
    from spftui.engine.ray_backend import ClusterError
    from spftui.scenario import load_scenario

    port = closed_port()
    with pytest.raises(ClusterError, match=f"cannot reach a Ray cluster at 127.0.0.1:{port}"):
        explore(load_scenario(DONTNEED), "spf-mm-seq", mode="exhaustive", ray=f"127.0.0.1:{port}", narrate=False)


@pytest.mark.parametrize("none", ["none", "None"])
def test_explore_timeout_none_means_no_limit_as_in_matrix(none: str) -> None:
    r = spftui("explore", str(DONTNEED), "--policy", "spf-mm-seq", "--timeout", none, "--json")
    assert r.returncode == 0, r.stderr
    (cell,) = json.loads(r.stdout)["policies"].values()
    assert cell["complete"]
    m = spftui("matrix", str(DONTNEED), "--policies", "spf-mm-seq", "--runs", "0", "--timeout", none, "--json")
    assert m.returncode == 0, m.stderr
    assert json.loads(m.stdout)["timeout"] is None


@pytest.mark.parametrize("command", [["explore", str(DONTNEED)], ["matrix", str(DONTNEED), "--runs", "0"]])
@pytest.mark.parametrize("bad", ["soon", "0", "-1", "nan"])
def test_a_bad_timeout_is_the_same_error_in_explore_and_matrix(command: list[str], bad: str) -> None:
    r = spftui(*command, "--timeout", bad)
    assert r.returncode == 2 and r.stdout == ""
    (line,) = r.stderr.splitlines()
    assert line.startswith("spftui: error: --timeout: expected a ")


def test_ctrl_c_while_a_find_is_minimised_keeps_the_find_and_says_interrupted(monkeypatch: pytest.MonkeyPatch) -> None:
    """shrink's searches (`first`) must see the Ctrl-C: "found" would let it carry on."""
    from spftui.engine import explorer
    from spftui.scenario import load_scenario

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(explorer, "_minimise", interrupted)
    sc = load_scenario(ROOT / "scenarios" / "cow_lost_write.toml")
    r = explorer.explore(sc, "spf-refetch-vma", first=True, narrate=False)
    assert r.stop == "interrupted" and "lost_write" in r.counterexamples


def test_a_cut_search_is_not_decided_not_a_contradiction() -> None:
    """An Unknown verdict against an [expect] is '?' and listed as not decided; ✗ is for a found contradiction."""
    r = spftui("explore", "cow_lost_write", "--policy", "spf-mm-seq", "--max-states", "300")
    assert r.returncode == 1, r.stderr  # (explore --help: 1 when the expectations do not hold, or undecided)
    assert "✗" not in r.stdout and "Expectations do not hold" not in r.stdout
    assert "? expected Never (undecided)" in r.stdout
    assert (
        "Not decided:\n  spf-mm-seq lost_write: expected never, undecided (the search hit its state limit)" in r.stdout
    )
    j = json.loads(
        spftui("explore", "cow_lost_write", "--policy", "spf-mm-seq", "--max-states", "300", "--json").stdout
    )
    p = j["policies"]["spf-mm-seq"]
    assert p["expect_ok"] is False and p["expect_contradicted"] == [] and "lost_write" in p["expect_undecided"]


def test_a_contradiction_and_an_undecided_entry_are_told_apart() -> None:
    from spftui.engine.narrate import Result

    r = Result("s", "p", "mapcount", "exhaustive", False, "timeout", 1, 1, 1, 0.1)
    r.verdicts = {"lost_write": "sometimes", "refcount": "unknown"}
    r.expectations = {"lost_write": "never", "refcount": "never"}
    assert r.contradictions() == ["lost_write: expected never, found sometimes"]
    assert r.undecided_expectations() == ["refcount: expected never, undecided (the search timed out)"]
    assert r.expectation_failures() == r.contradictions() + r.undecided_expectations() and not r.expect_ok
    assert r.to_json()["expect_contradicted"] == ["lost_write"] and r.to_json()["expect_undecided"] == ["refcount"]
