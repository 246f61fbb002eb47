"""`spftui serve` through what a user touches: the command, its output and exit status, and a
browser tab (a websocket client speaking textual-serve's protocol, as the page's script does).

A tab's unsaved work survives the server's stop; a second Ctrl-C during the stop is still
`interrupted` (130); every tab's debugger is reaped before the server exits, without a warning
or traceback; /ws without a websocket is a 400; the URL printed and put in the page is one a
browser can load; a tab whose scenario was deleted says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from spftui.cli import main
from spftui.engine.session_file import load_session

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(rb"\x1b(\[[0-9;?$<>=]*[A-Za-z~]|\][^\x07]*\x07|[()][0-9A-Z])")

pytest.importorskip("textual_serve", reason="textual-serve is not installed (pip install 'spftui[serve]')")
aiohttp = pytest.importorskip("aiohttp")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@contextlib.contextmanager
def server(*args: str, cwd: Path = ROOT):  # type: ignore[no-untyped-def]
    """`spftui serve ARGS` on a free port of 127.0.0.1; yields (process, port) once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "spftui", "serve", *args, "--host", "127.0.0.1", "--port", str(port)],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "spftui serve did not answer"
                time.sleep(0.1)
        yield proc, port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


class Tab:
    """A browser tab: what the page's script sends and receives on /ws."""

    def __init__(self, ws) -> None:  # type: ignore[no-untyped-def]
        self.ws = ws
        self.seen = b""

    async def wait_for(self, needle: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while needle.encode() not in ANSI.sub(b"", self.seen):
            assert time.monotonic() < deadline, f"the tab never showed {needle!r}: {ANSI.sub(b'', self.seen)[-1500:]!r}"
            with contextlib.suppress(asyncio.TimeoutError):
                msg = await asyncio.wait_for(self.ws.receive(), 0.5)
                if msg.type == aiohttp.WSMsgType.BINARY:
                    self.seen += msg.data
                elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    assert needle.encode() in ANSI.sub(b"", self.seen), ANSI.sub(b"", self.seen)[-1500:]

    async def press(self, *keys: str, then: str) -> None:
        mark = len(self.seen)
        for key in keys:
            await self.ws.send_json(["stdin", key])
        deadline = time.monotonic() + 20
        while then.encode() not in ANSI.sub(b"", self.seen[mark:]):
            assert time.monotonic() < deadline, f"no {then!r} after {keys}: {ANSI.sub(b'', self.seen[mark:])[-1500:]!r}"
            with contextlib.suppress(asyncio.TimeoutError):
                msg = await asyncio.wait_for(self.ws.receive(), 0.5)
                if msg.type == aiohttp.WSMsgType.BINARY:
                    self.seen += msg.data


def output(proc: subprocess.Popen[bytes]) -> tuple[str, str]:
    out, err = proc.communicate(timeout=30)
    return out.decode(), err.decode()


def test_stopping_the_server_saves_each_tabs_unsaved_work_and_a_second_ctrl_c_is_still_interrupted(
    state_dir: Path,
) -> None:
    """Two Ctrl-C's 0.2 s apart while a tab shuts down: exit 130 and `spftui: interrupted` (a
    second one exited 1 silently); the tab's bookmark is in the state directory, which the next
    tab's debugger offers back; its process was reaped, with no asyncio warning or traceback."""

    async def work_then_two_ctrl_cs(proc: subprocess.Popen[bytes], port: int) -> list[int]:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"ws://127.0.0.1:{port}/ws?width=120&height=40") as ws:
                tab = Tab(ws)
                await tab.wait_for("step 0 of 0")
                await tab.press("s", "s", then="step 2 of 2")
                await tab.press("m", then="Bookmark")
                await tab.press("b", "k", "1", "\r", then="bk1")
                debuggers = children(proc.pid)
                proc.send_signal(signal.SIGINT)
                await asyncio.sleep(0.2)
                proc.send_signal(signal.SIGINT)
                with contextlib.suppress(Exception):
                    while not ws.closed:
                        await asyncio.wait_for(ws.receive(), 15)
                return debuggers

    with server("cow_lost_write") as (proc, port):
        debuggers = asyncio.run(work_then_two_ctrl_cs(proc, port))
        out, err = output(proc)
    assert proc.returncode == 130, (out, err)
    assert err.rstrip().endswith("spftui: interrupted"), err
    assert debuggers and not any(alive(pid) for pid in debuggers)
    for noise in ("Traceback", "Exception ignored", "Event loop is closed", "WARNING", "ERROR"):
        assert noise not in out + err, out + err
    saved = list((state_dir / "sessions").glob("cow_lost_write.*.session.toml"))
    assert len(saved) == 1 and [b[0] for b in load_session(str(saved[0])).bookmarks] == ["bk1"]
    assert f"saved the unsaved session of cow_lost_write to {saved[0]}" in out

    async def next_tab(port: int) -> None:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"ws://127.0.0.1:{port}/ws?width=120&height=40") as ws:
                await Tab(ws).wait_for("Restore your last session of cow_lost_write?")

    with server("cow_lost_write") as (proc, port):
        asyncio.run(next_tab(port))


def test_ws_without_a_websocket_is_a_400_and_one_log_line() -> None:
    with server("cow_lost_write") as (proc, port):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ws", timeout=5)
        assert refused.value.code == 400
        assert "open the page at /" in refused.value.read().decode()
        refused.value.close()
        proc.send_signal(signal.SIGTERM)
        out, _ = output(proc)
    assert proc.returncode == 143
    assert "Traceback" not in out and "not a websocket request (answered 400)" in out, out


def test_a_tab_on_a_scenario_deleted_since_the_server_started_says_why(tmp_path: Path) -> None:
    scenario = tmp_path / "mine.toml"
    scenario.write_text((ROOT / "scenarios" / "cow_lost_write.toml").read_text())

    async def open_tab(port: int) -> None:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"ws://127.0.0.1:{port}/ws?width=120&height=40") as ws:
                await Tab(ws).wait_for(f"spftui: error: {scenario}: cannot read the file")

    with server(str(scenario), cwd=tmp_path) as (_, port):
        scenario.unlink()
        asyncio.run(open_tab(port))


def test_the_public_url_is_the_pages_base_and_a_bad_one_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with server("cow_lost_write", "--public-url", "https://example.org/spf/") as (_, port):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
            html = page.read().decode()
    assert "https://example.org/spf/static/" in html and "wss://example.org/spf/ws" in html
    assert "//static" not in html and "//ws" not in html.replace("wss://", "")
    for bad in ("not a url", "ftp://example.org", "http://"):
        assert main(["serve", "--public-url", bad]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"spftui: error: --public-url {bad!r}: expected an http:// or https:// URL"), err


@pytest.mark.parametrize(
    ("host", "url"),
    [("0.0.0.0", "http://{name}:{port}"), ("::", "http://{name}:{port}"), ("::1", "http://[::1]:{port}")],
)
def test_a_wildcard_or_ipv6_host_is_served_at_a_url_a_browser_can_load(
    host: str, url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from textual_serve.server import Server

    from spftui import serve_cli

    given: list[str] = []
    monkeypatch.setattr(Server, "serve", lambda self: given.append(self.public_url))
    monkeypatch.setattr(serve_cli, "listen_problem", lambda host, port: None)  # (this machine may lack IPv6)
    port = free_port()
    assert main(["serve", "cow_lost_write", "--host", host, "--port", str(port)]) == 130
    out = capsys.readouterr().out
    expected = url.format(name=serve_cli.reachable_name(), port=port)
    assert given == [expected]
    assert out.startswith(f"spftui: serving the debugger at {expected} (Ctrl-C stops)\n"), out
    if host != "::1":
        assert "listening on every interface" in out and "--public-url" in out
        assert "0.0.0.0" not in expected and "[::]" not in expected


def test_serve_refuses_a_write_dir_that_is_not_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--write-dir", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err == f"spftui: error: --write-dir {tmp_path / 'nowhere'}: no such directory\n"
