"""`spftui serve [SCENARIO]`: the debugger in a web browser, through textual-serve.

textual-serve runs `python -m spftui [SCENARIO ...]` afresh for every browser
tab that connects and streams its screen over a websocket, so each viewer
gets a debugger of their own. The scenario, the options and the address
(a host that does not resolve, a port in use) are checked here, once, before
the server starts (bad input: exit 2, nothing served).
textual-serve is an optional dependency: `pip install 'spftui[serve]'`.
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
    p.add_argument("--public-url", metavar="URL", help="the URL browsers reach the server at (behind a proxy)")
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


def debugger_command(args: argparse.Namespace) -> str:
    """The command textual-serve runs per browser tab: this Python, this spftui, the same options."""
    words = [sys.executable, "-m", "spftui"]
    if args.scenario:
        words.append(args.scenario)
    for option in ("policy", "reuse", "schedule", "seed"):
        value = getattr(args, option)
        if value is not None:
            words += [f"--{option}", str(value)]
    return shlex.join(words)


def run_serve(args: argparse.Namespace) -> int:
    if args.schedule and not args.scenario:
        print("spftui: error: --schedule needs a scenario", file=sys.stderr)
        return 2
    if args.scenario:
        import os

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
    server = _server(Server)(
        debugger_command(args), host=args.host, port=args.port, title=title, public_url=args.public_url
    )
    url = args.public_url or f"http://{args.host}:{args.port}"
    print(f"spftui: serving the debugger at {url} (Ctrl-C stops)", flush=True)
    server.serve()
    # serve() returns only when a signal stopped it: exit as every command does then
    terminated = server.stopped_by == signal.SIGTERM
    print("spftui: terminated" if terminated else "spftui: interrupted", file=sys.stderr)
    return 143 if terminated else 130


def _server(base: Any) -> Any:
    """textual-serve's Server, telling SIGTERM from Ctrl-C. It stops on both the same way (and
    serve() returns as if nothing happened); this keeps that graceful stop, in which each tab's
    debugger is told to quit and waited for, and records which signal asked for it."""

    class Server(base):  # type: ignore[misc,valid-type]
        stopped_by = signal.SIGINT  # (a signal before startup reaches textual-serve's own handlers)
        tabs: set[Any]  # the handler task of each open tab

        async def handle_websocket(self, request: Any) -> Any:
            import asyncio

            tab = asyncio.current_task()
            self.tabs.add(tab)
            try:
                return await super().handle_websocket(request)
            finally:
                self.tabs.discard(tab)

        async def on_shutdown(self, app: Any) -> None:
            # aiohttp waits up to a minute for an open websocket to end by itself: cancelling a
            # tab's handler takes textual-serve's own way out, which tells the debugger to quit
            # and waits for it, then closes the socket
            await super().on_shutdown(app)
            for tab in list(self.tabs):
                tab.cancel()

        async def on_startup(self, app: Any) -> None:
            import asyncio  # (here: every command builds this parser, only serve needs asyncio)

            await super().on_startup(app)
            self.tabs = set()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.stop_on, sig)  # (replaces request_exit, set in serve())

        def stop_on(self, sig: int) -> None:
            self.stopped_by = sig
            self.request_exit()

    return Server
