"""Run the command line as a user does and get what they would see.

`spftui(...)` runs `spftui.cli.main` (the code `python -m spftui` runs) in this
process, with its own stdout, stderr, empty stdin, working directory and
environment, and returns what a subprocess would: the exit status, stdout and
stderr (an exception that escapes main is a traceback on stderr and status 1,
as in a process). A subprocess per call costs about half a second of
interpreter start and imports, most of the command-line tests' time.

`spftui_process(...)` starts a real `python -m spftui`: for what only a process
shows (the entry point itself, signals, PYTHONHASHSEED, a killed search).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import traceback
from pathlib import Path

from spftui.cli import main

ROOT = Path(__file__).resolve().parents[1]

Completed = subprocess.CompletedProcess[str]


def spftui(*args: str, cwd: Path | str | None = ROOT, env: dict[str, str] | None = None) -> Completed:
    """`spftui ARGS` in this process, in `cwd` (None: this one); `env` replaces the
    environment while it runs."""
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    environ = dict(os.environ)
    sigterm = signal.getsignal(signal.SIGTERM)  # (main installs its own)
    stdin = sys.stdin
    try:
        if cwd is not None:
            os.chdir(cwd)
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        sys.stdin = io.StringIO("")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(list(args))
            except SystemExit as e:  # argparse
                status = e.code if isinstance(e.code, int) else (e.code is not None)
                if isinstance(e.code, str):
                    print(e.code, file=sys.stderr)
            except Exception:
                traceback.print_exc()
                status = 1
    finally:
        sys.stdin = stdin
        signal.signal(signal.SIGTERM, sigterm)
        if env is not None:
            os.environ.clear()
            os.environ.update(environ)
        os.chdir(here)
    return subprocess.CompletedProcess(["spftui", *args], int(status), out.getvalue(), err.getvalue())


def spftui_process(
    *args: str, cwd: Path | str = ROOT, env: dict[str, str] | None = None, timeout: float = 300
) -> Completed:
    """`python -m spftui ARGS` in a new process (this checkout first on its path)."""
    env = {**(os.environ if env is None else env)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-m", "spftui", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout
    )
