"""`spftui serve`: the debugger over HTTP through textual-serve, checked in a real headless Chromium.

The browser test needs textual-serve and playwright (both in the `test` extra) and Debian's
chromium (`apt-get install chromium`); `.ci/run` installs all three and sets SPFTUI_REQUIRE_BROWSER=1,
so there a missing piece fails the test instead of skipping it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from spftui.cli import main

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = os.environ.get("SPFTUI_REQUIRE_BROWSER") == "1"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ANSI = re.compile(r"\x1b(\[[0-9;?$]*[A-Za-z]|\][^\x07]*\x07)")


def need(ok: bool, reason: str) -> None:
    if not ok:
        if REQUIRED:
            pytest.fail(reason + " (SPFTUI_REQUIRE_BROWSER=1: .ci/run installs it)")
        pytest.skip(reason)


def has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def descendants(pid: int) -> list[int]:
    """The processes below `pid` (from /proc), children first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


@contextlib.contextmanager
def serving(*args: str) -> Iterator[str]:
    """`spftui serve ARGS` on a free port, in its own process group (ended with everything it started)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "spftui", "serve", *args, "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode() if proc.stdout else ""
                    pytest.fail(f"spftui serve did not answer on {url}: {out[-2000:]}")
                time.sleep(0.2)
        yield url
    finally:
        apps = descendants(proc.pid)  # textual-serve runs each tab's debugger in a session of its own
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        for pid in apps:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        if proc.stdout:
            proc.stdout.close()


def test_serve_answers_http_on_its_port() -> None:
    need(has_module("textual_serve"), "textual-serve is not installed (pip install 'spftui[serve]')")
    with serving("cow_lost_write") as url, urllib.request.urlopen(url, timeout=5) as page:
        html = page.read().decode()
    assert page.status == 200 and "textual.js" in html and "/ws" in html


def test_serve_checks_the_scenario_before_serving(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "no_such_scenario", "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert "no_such_scenario: no such file, nor a bundled scenario of that name" in err
    assert main(["serve", "--schedule", "x.toml"]) == 2
    assert "--schedule needs a scenario" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("host", "reason"), [("999.1.1.1", "unknown host ("), ("192.0.2.1", "cannot assign requested address")]
)
def test_serve_on_an_address_it_cannot_listen_on_says_so_before_serving(
    host: str, reason: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A host that does not resolve, and one that is no address of this machine (TEST-NET-1)."""
    need(has_module("textual_serve"), "textual-serve is not installed (pip install 'spftui[serve]')")
    from textual_serve.server import Server

    monkeypatch.setattr(Server, "serve", lambda self: pytest.fail("it served"))
    port = free_port()
    assert main(["serve", "--host", host, "--port", str(port)]) == 2
    out = capsys.readouterr()
    assert out.err.startswith(f"spftui: error: cannot listen on {host}:{port}: {reason}"), out.err
    assert out.out == ""


def test_serve_on_a_port_in_use_says_so_before_serving(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    need(has_module("textual_serve"), "textual-serve is not installed (pip install 'spftui[serve]')")
    from textual_serve.server import Server

    monkeypatch.setattr(Server, "serve", lambda self: pytest.fail("it served"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--host", "127.0.0.1", "--port", str(port)]) == 2
    out = capsys.readouterr()
    assert out.err == f"spftui: error: cannot listen on 127.0.0.1:{port}: address already in use\n"
    assert out.out == ""


def test_serve_without_textual_serve_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "textual_serve", None)
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)
    assert main(["serve", "cow_lost_write"]) == 2
    assert "pip install 'spftui[serve]'" in capsys.readouterr().err


def test_the_debugger_in_a_headless_browser_shows_the_seed_race_and_steps(tmp_path: Path) -> None:
    need(has_module("textual_serve"), "textual-serve is not installed (pip install 'spftui[serve]')")
    need(has_module("playwright"), "playwright is not installed (pip install '.[test]')")
    need(CHROMIUM is not None, "no chromium on PATH (Debian: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    screen: list[str] = []  # what the app sent, escape sequences stripped

    def received(payload: str | bytes) -> None:
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
        screen.append(ANSI.sub("", text))

    def wait_for(*needles: str, since: int = 0) -> None:
        deadline = time.monotonic() + 30
        while not all(n in "".join(screen[since:]) for n in needles):
            assert time.monotonic() < deadline, f"the page never showed {needles}: {''.join(screen)[-3000:]}"
            page.wait_for_timeout(200)  # lets playwright deliver the websocket frames

    with serving("cow_lost_write") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("websocket", lambda ws: ws.on("framereceived", received))
            page.goto(url, timeout=30_000)
            wait_for("Threads · 3", "mm / seqcounts", "Page tables & VMAs", "step 0 of 0", "A1", "A2")
            page.screenshot(path=str(tmp_path / "start.png"))
            before = len(screen)
            page.locator(".xterm-helper-textarea").focus()
            page.keyboard.press("s")  # one step: A1 starts its write
            wait_for("step 1 of 1", since=before)
            page.wait_for_timeout(300)
            page.screenshot(path=str(tmp_path / "step1.png"))
        finally:
            browser.close()
    assert (tmp_path / "start.png").read_bytes() != (tmp_path / "step1.png").read_bytes()


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_serve_stopped_by_a_signal_exits_as_every_command_does_and_its_tabs_quit(sig: int, status: int) -> None:
    """textual-serve stops on SIGINT and SIGTERM alike and serve() returned 0 for both. With a tab
    open, the stop is still the graceful one (the tab's debugger is told to quit and is gone) and
    prompt (aiohttp waited for the tab's socket to end by itself)."""
    need(has_module("textual_serve"), "textual-serve is not installed (pip install 'spftui[serve]')")
    import asyncio

    import aiohttp

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "spftui", "serve", "cow_lost_write", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip

    async def a_tab_then_the_signal() -> list[int]:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 20
            while True:
                try:
                    ws = await http.ws_connect(f"ws://127.0.0.1:{port}/ws?width=100&height=30")
                    break
                except aiohttp.ClientError:
                    assert proc.poll() is None and time.monotonic() < deadline, "spftui serve did not answer"
                    await asyncio.sleep(0.2)
            seen = b""
            while b"step 0" not in seen:  # the tab's debugger is up
                assert time.monotonic() < deadline, seen[-2000:]
                with contextlib.suppress(asyncio.TimeoutError):
                    msg = await asyncio.wait_for(ws.receive(), 1)
                    if isinstance(msg.data, (bytes, str)):
                        seen += msg.data if isinstance(msg.data, bytes) else msg.data.encode()
            apps = descendants(proc.pid)
            proc.send_signal(sig)
            stop_by = time.monotonic() + 10  # (it waited half a minute for the open tab's socket)
            while proc.poll() is None and time.monotonic() < stop_by:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(ws.receive(), 0.5)
            assert proc.poll() is not None, "spftui serve did not stop promptly with a tab open"
            await ws.close()
            return apps

    try:
        apps = asyncio.run(a_tab_then_the_signal())
        _, err = proc.communicate(timeout=15)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == status, err
    assert err.rstrip().endswith("spftui: terminated" if sig == signal.SIGTERM else "spftui: interrupted")
    assert apps and not any(_alive(pid) for pid in apps), apps
