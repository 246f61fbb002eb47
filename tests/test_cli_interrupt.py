"""Ctrl-C at any moment of a command, its start too (the modules of the command line
loading), is `spftui: interrupted` and exit 130: never a traceback, never exit 1."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

from cli_run import ROOT
from test_jobs import reap


def _startup() -> float:
    """Seconds a bare interpreter takes to start here (site and its .pth files)."""
    took = []
    for _ in range(3):
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        took.append(time.monotonic() - t0)
    return sorted(took)[1]


def _interrupted_after(delay: float) -> tuple[int, str, str]:
    p = subprocess.Popen(
        [sys.executable, "-m", "spftui", "check", "cow_lost_write"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        time.sleep(delay)
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        return p.returncode, out, err
    finally:
        reap(p)


def test_ctrl_c_at_any_moment_of_the_start_is_a_clean_interrupt() -> None:
    """SIGINT at delays from the interpreter's own start to the end of the run: each run ends
    either as a whole run or as the clean interrupt. (A signal during the interpreter's own
    start, before it runs any of spftui, is the interpreter's: no frame of spftui in it.)"""
    base = _startup()
    outcomes = []
    for k in range(16):
        status, out, err = _interrupted_after(base * 0.8 + 0.025 * k)
        python_s = status < 0 or any(w in err for w in ("Traceback", "Fatal Python error", "Could not import"))
        if python_s and not re.search(r'File "[^"]*/spftui/', err):
            continue  # (Python's own start: `Fatal Python error: init_import_site`, site's .pth files: an
            # editable install's `__editable___spftui_…_finder.py` among them, no module of spftui's)
        # (-2: the signal came after the whole report, as the interpreter exited: the run was whole)
        clean_run = status in (0, 1, -signal.SIGINT) and "Traceback" not in err and "expectations hold" in out
        clean_interrupt = status == 130 and "interrupted" in err and "Traceback" not in err
        assert clean_run or clean_interrupt, (k, status, err[-2000:])
        outcomes.append("run" if clean_run else "interrupt")
    assert "interrupt" in outcomes, outcomes
