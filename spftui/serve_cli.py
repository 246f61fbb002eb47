"""`spftui serve [SCENARIO]`: the debugger in a web browser, through textual-serve.

textual-serve runs `python -m spftui [SCENARIO ...]` afresh for every browser
tab that connects and streams its screen over a websocket, so each viewer
gets a debugger of their own. The scenario, the options and the address
(a host that does not resolve, a port in use) are checked here, once, before
the server starts (bad input: exit 2, nothing served).
textual-serve is an optional dependency: `pip install 'spftui[serve]'`.

Viewers write to the server's disk: a tab's exported traces and saved sessions
and schedules go to one folder (`--write-dir`, else the server's current
folder; tui/places.py refuses any path out of it), and its unsaved session is
saved to the state directory when the server stops it.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from typing import Any

from .tool_options import seed


def add_serve_parser(sub: Any) -> None:
    from .scenario.model import POLICIES, REUSE_RULES

    p = sub.add_parser(
        "serve",
        help="serve the debugger to a web browser (textual-serve)",
        description="Serve the debugger over HTTP: every browser tab that opens the page gets its own debugger "
        "on SCENARIO (or the scenario picker). Needs textual-serve: pip install 'spftui[serve]'. Ctrl-C stops it "
        "(exit status 130; 143 on SIGTERM; 2 on bad input).",
    )
    p.add_argument("scenario", nargs="?", help="a scenario file or bundled scenario name (default: the picker)")
    p.add_argument("--policy", choices=POLICIES)
    p.add_argument("--reuse", choices=REUSE_RULES)
    p.add_argument("--schedule", metavar="FILE", help="replay this schedule (opens at its stop_at step)")
    p.add_argument("--seed", type=seed)
    p.add_argument("--host", default="localhost", help="the address to listen on (default localhost)")
    p.add_argument("--port", type=_port, default=8000, help="the port (default 8000)")
    p.add_argument(
        "--public-url",
        metavar="URL",
        help="the URL browsers reach the server at (behind a proxy; with --host 0.0.0.0 when the machine's "
        "name is not the one they use)",
    )
    p.add_argument(
        "--write-dir",
        metavar="DIR",
        help="the folder the viewers' exports and saved files go to (default: the current folder); "
        "no path out of it is written",
    )
    p.set_defaults(func=run_serve)


def _port(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < n < 65536:
        raise argparse.ArgumentTypeError(f"not a port number (1-65535): {n}")
    return n


def listen_problem(host: str, port: int) -> str | None:
    """Why a server could not listen on host:port, or None. Found by binding (and closing) a
    socket for each address the host resolves to, as asyncio's create_server does: the web
    server itself would only fail after its banner, with a traceback."""
    import socket

    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        return f"unknown host ({_lower(e.strerror)})"
    for family, kind, proto, _, address in addresses:
        try:
            sock = socket.socket(family, kind, proto)
        except OSError:
            continue  # a family this machine lacks (IPv6): create_server skips it too
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as create_server: TIME_WAIT is free
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as e:
                return _lower(e.strerror or str(e))
    return None


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]


WRITE_DIR_ENV = "SPFTUI_SERVE_WRITE_DIR"
"""Set for each tab's debugger: the one folder it writes exports and saved files in (tui/places.py)."""

WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def public_url_problem(url: str) -> str | None:
    """Why `url` cannot be the address browsers reach the server at, or None."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError as e:
        return str(e)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "expected an http:// or https:// URL with a host, e.g. https://example.org/spftui"
    if parts.query or parts.fragment:
        return "expected a URL without a query or fragment"
    return None


def reachable_name() -> str:
    """This machine's name as other machines may know it: its fully qualified name, else its host name."""
    import socket

    for name in (socket.getfqdn(), socket.gethostname()):
        if name and not name.startswith("localhost") and name not in WILDCARD_HOSTS:
            return name
    return "localhost"


def public_url(args: argparse.Namespace) -> tuple[str, str]:
    """The URL the page points its script and websocket at, and a note on it ("" if none).

    textual-serve builds it from the host it listens on: a wildcard host (0.0.0.0, ::) is no
    address a browser can load from, and an IPv6 literal needs brackets in a URL."""
    if args.public_url:
        return args.public_url.rstrip("/"), ""
    host, note = args.host, ""
    if host in WILDCARD_HOSTS:
        host = reachable_name()
        note = f"listening on every interface; if browsers reach this machine by another name than {host}, give --public-url"
    if ":" in host:
        host = f"[{host}]"
    return (f"http://{host}" if args.port == 80 else f"http://{host}:{args.port}"), note


def debugger_command(args: argparse.Namespace) -> str:
    """The command textual-serve runs per browser tab: this Python, this spftui, the same options
    (`exec`: the shell textual-serve starts it with is replaced, so the process it waits for and
    stops is the debugger itself)."""
    words = [sys.executable, "-m", "spftui"]
    if args.scenario:
        words.append(args.scenario)
    for option in ("policy", "reuse", "schedule", "seed"):
        value = getattr(args, option)
        if value is not None:
            words += [f"--{option}", str(value)]
    return "exec " + shlex.join(words)


def write_dir_problem(folder: str) -> str | None:
    import os

    if not os.path.isdir(folder):
        return "no such directory" if not os.path.lexists(folder) else "not a directory"
    if not os.access(folder, os.W_OK | os.X_OK):
        return "permission denied"
    return None


def run_serve(args: argparse.Namespace) -> int:
    import os

    if args.schedule and not args.scenario:
        print("spftui: error: --schedule needs a scenario", file=sys.stderr)
        return 2
    if args.public_url is not None:
        problem = public_url_problem(args.public_url)
        if problem is not None:
            print(f"spftui: error: --public-url {args.public_url!r}: {problem}", file=sys.stderr)
            return 2
    write_dir = os.path.realpath(os.path.expanduser(args.write_dir or os.getcwd()))
    problem = write_dir_problem(write_dir)
    if problem is not None:
        print(f"spftui: error: --write-dir {args.write_dir or write_dir}: {problem}", file=sys.stderr)
        return 2
    if args.scenario:
        from .run_options import open_with

        args.force = False
        open_with(args)  # the same checks as the debugger's, before anything is served
        if os.path.exists(args.scenario):
            args.scenario = os.path.abspath(args.scenario)  # each tab's process runs from the server's cwd anyway
        if args.schedule:
            args.schedule = os.path.abspath(args.schedule)
    try:
        from textual_serve.server import Server
    except ImportError:
        print("spftui: error: spftui serve needs textual-serve: pip install 'spftui[serve]'", file=sys.stderr)
        return 2
    problem = listen_problem(args.host, args.port)
    if problem is not None:
        print(f"spftui: error: cannot listen on {args.host}:{args.port}: {problem}", file=sys.stderr)
        return 2
    title = f"spftui {args.scenario}" if args.scenario else "spftui"
    url, note = public_url(args)
    server = _server(Server)(debugger_command(args), host=args.host, port=args.port, title=title, public_url=url)
    server.tab_check = lambda: _tab_problem(args)
    print(f"spftui: serving the debugger at {url} (Ctrl-C stops)", flush=True)
    if note:
        print(f"spftui: {note}", flush=True)
    print(f"spftui: the viewers' exports and saved files are written in {write_dir}", flush=True)
    before = os.environ.get(WRITE_DIR_ENV)
    os.environ[WRITE_DIR_ENV] = write_dir  # (each tab's process inherits the server's environment)
    try:
        server.serve()
    except (KeyboardInterrupt, SystemExit):  # a signal during the stop (aiohttp's GracefulExit is a SystemExit)
        pass
    finally:
        if before is None:
            os.environ.pop(WRITE_DIR_ENV, None)
        else:
            os.environ[WRITE_DIR_ENV] = before
    # serve() returns only when a signal stopped it: exit as every command does then
    terminated = server.stopped_by == signal.SIGTERM
    print("spftui: terminated" if terminated else "spftui: interrupted", file=sys.stderr)
    return 143 if terminated else 130


def _tab_problem(args: argparse.Namespace) -> str | None:
    """Why a new tab's debugger would not start (the scenario or schedule file was deleted or
    broken since the server started), or None: said in the tab, which otherwise stayed blank."""
    from .run_options import BadInput, open_with
    from .scenario import ScenarioError

    try:
        open_with(args)
    except (ScenarioError, BadInput, OSError) as e:
        return str(e)
    return None


STOP_TIMEOUT = 10.0
"""Seconds a tab's debugger has to save and quit when the server stops, before it is killed."""


def _server(base: Any) -> Any:
    """textual-serve's Server, with the tab's life in our hands.

    - It tells SIGTERM from Ctrl-C (textual-serve stops on both the same way and serve()
      returns as if nothing happened), and a second signal during the stop changes nothing
      (textual-serve's raised GracefulExit again, out of the stop: exit status 1).
    - When it stops, each tab's debugger is told to quit (it saves unsaved work), waited for
      and reaped before the event loop closes (else asyncio warned, or printed a traceback,
      about a child whose loop was gone); one that does not quit in time is killed.
    - A request for /ws that is not a websocket is a 400 and one log line (textual-serve
      logged a traceback and sent nothing); a tab whose debugger cannot start says why.
    """
    import asyncio
    import contextlib
    import logging

    from aiohttp import web
    from textual_serve.app_service import AppService

    log = logging.getLogger("textual-serve")

    class Tab(AppService):  # type: ignore[misc,valid-type]
        started = False

        async def on_data(self, payload: bytes) -> None:
            self.started = True
            await super().on_data(payload)

        async def run(self) -> None:
            await super().run()  # (it logs the debugger's stderr on the server's output)
            if not self.started:  # (else the tab stayed blank: say so in it, and keep it open to be read)
                with contextlib.suppress(Exception):
                    await self.remote_write_bytes(
                        b"spftui: the debugger did not start (the server's output says why)\r\n"
                    )

        async def end(self) -> None:
            """Tell the debugger to quit, wait for it to save and go, and reap it."""
            process = self._process
            try:
                await asyncio.wait_for(self.stop(), STOP_TIMEOUT)
            except (TimeoutError, OSError):
                pass
            if process is None:
                return
            if process.returncode is None:
                try:
                    await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
                except TimeoutError:
                    log.warning("a tab's debugger (pid %s) did not quit in %ss: killed", process.pid, STOP_TIMEOUT)
                    process.kill()
                    await process.wait()
            if self._task is not None:  # (stop() timed out: the reader ends at the pipe's end)
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    class Server(base):  # type: ignore[misc,valid-type]
        stopped_by = signal.SIGINT  # (a signal before startup reaches textual-serve's own handlers)
        stopping = False
        tabs: set[Any]  # the handler task of each open tab
        tab_check: Any = None

        async def handle_websocket(self, request: Any) -> Any:
            websocket = web.WebSocketResponse(heartbeat=15)
            if not websocket.can_prepare(request).ok:
                log.warning(
                    "%s %s from %s: not a websocket request (answered 400)",
                    request.method,
                    request.path,
                    request.remote,
                )
                return web.Response(
                    status=400, text="spftui serve: /ws takes a websocket; open the page at / instead\n"
                )
            if self.stopping:
                return web.Response(status=503, text="spftui serve: stopping\n")
            width = _to_int(request.query.get("width"), 80)
            height = _to_int(request.query.get("height"), 24)
            tab = asyncio.current_task()
            self.tabs.add(tab)
            service: Tab | None = None
            try:
                await websocket.prepare(request)
                problem = self.tab_check() if self.tab_check is not None else None
                if problem is not None:  # said in the tab, left open to be read (a closed one is hidden)
                    await websocket.send_bytes((f"spftui: error: {problem}".replace("\n", "\r\n") + "\r\n").encode())
                    async for _ in websocket:
                        pass
                    return websocket
                service = Tab(
                    self.command,
                    write_bytes=websocket.send_bytes,
                    write_str=websocket.send_str,
                    close=websocket.close,
                    download_manager=self.download_manager,
                    debug=self.debug,
                )
                await service.start(width, height)
                await self._process_messages(websocket, service)
            except (asyncio.CancelledError, ConnectionError):
                pass  # the server stops, or the browser went away
            except Exception as error:
                log.error("a tab failed: %s: %s", type(error).__name__, error)
            finally:
                if service is not None:
                    ending = asyncio.ensure_future(service.end())
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.shield(ending)  # (a second cancel does not leave the debugger behind)
                self.tabs.discard(tab)
                with contextlib.suppress(Exception):
                    await websocket.close()
            return websocket

        async def on_shutdown(self, app: Any) -> None:
            # aiohttp waits up to a minute for an open websocket to end by itself: cancelling a
            # tab's handler ends its debugger (quit, save, reaped) and closes the socket; the stop
            # waits for every tab, so no debugger outlives the loop that started it
            await super().on_shutdown(app)
            self.stopping = True
            tabs = list(self.tabs)
            for tab in tabs:
                tab.cancel()
            if tabs:
                await asyncio.wait(tabs, timeout=2 * STOP_TIMEOUT + 5)

        async def on_startup(self, app: Any) -> None:
            await super().on_startup(app)
            self.tabs = set()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.stop_on, sig)  # (replaces request_exit, set in serve())

        def stop_on(self, sig: int) -> None:
            if self.stopping:
                return  # already stopping: the tabs are saving their work
            self.stopping = True
            self.stopped_by = sig
            self.request_exit()

    return Server


def _to_int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default
