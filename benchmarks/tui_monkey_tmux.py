"""Acceptance monkey: random keys into `python -m spftui <scenario>` in a real terminal (tmux).

Each run starts the TUI in a fresh tmux session (alternating 120x40 and
80x24), sends N random keys (every debugger binding, Ctrl+P and what the
palette takes, paging keys, Esc, Enter, Tab, letters, digits), and watches
for the failures a user would see:

- a traceback (or any non-zero exit) in the pane;
- a hang: after the keys, Esc (to close any dialog) then Ctrl+P must open
  the palette within a few seconds (checked every `--probe-every` keys too).

Quitting is not a failure: `q` is not sent, but the palette's "Quit" can be
picked by chance; the run then restarts the app and goes on with its keys.

    python benchmarks/tui_monkey_tmux.py --runs 20 --keys 2000 --seed 1

prints one JSON line per run and a summary. Needs tmux (apt-get install tmux).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXIT_MARK = "SPFTUI-EXIT:"
PALETTE_PROMPT = "Search for commands"

# tmux key names; single characters are sent literally.
BINDINGS = [*"s123456789cSCgbwBpkrovzemtynNxuf?/", "C-s"]
PAGING = ["PageUp", "PageDown", "Home", "End", "C-Home", "C-End"]
MOVES = ["Up", "Down", "Left", "Right", "Tab", "BTab", "Escape", "Enter", "Space", "BSpace", "DC"]
TYPING = [*"abcdefghijklmnoptuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.[]_-+ \"'"]
WEIGHTED = BINDINGS * 4 + ["C-p"] * 12 + PAGING * 6 + MOVES * 4 + TYPING + ["C-c"]


SOCKET = f"spftui-monkey-{os.getpid()}"
"""A tmux server of our own: other sessions (and their ending) cannot disturb the runs."""


def tmux(*args: str, check: bool = True) -> str:
    out = subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True, check=check)
    return out.stdout


def capture(name: str) -> str:
    return tmux("capture-pane", "-p", "-J", "-S", "-2000", "-t", name, check=False)


def send(name: str, key: str) -> None:
    if len(key) == 1:
        tmux("send-keys", "-t", name, "-l", key, check=False)
    else:
        tmux("send-keys", "-t", name, key, check=False)


def start(name: str, size: tuple[int, int], scenario: str, workdir: str) -> None:
    env = f"PYTHONPATH={shlex.quote(str(ROOT))}"
    cmd = (
        f"cd {shlex.quote(workdir)} && {env} {shlex.quote(sys.executable)} -m spftui {shlex.quote(scenario)}; "
        f"echo {EXIT_MARK}$?; trap '' INT; sleep 100000"  # Ctrl+C after the exit must not end the pane
    )
    tmux("kill-session", "-t", name, check=False)
    for attempt in range(3):  # (the server may be exiting as the previous session ends)
        try:
            tmux("new-session", "-d", "-s", name, "-x", str(size[0]), "-y", str(size[1]), cmd)
            break
        except subprocess.CalledProcessError:
            if attempt == 2:
                raise
            time.sleep(0.5)
    wait_for(name, lambda text: "step " in text, 20)


def wait_for(name: str, ok: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = capture(name)
        if ok(text):  # type: ignore[operator]
            return True
        if EXIT_MARK in text:
            return False
        time.sleep(0.1)
    return False


def exited(text: str) -> str | None:
    """The exit status printed after the app ended, if it has."""
    for line in text.splitlines():
        if EXIT_MARK in line:  # (keys typed after the exit are echoed before it)
            return line.split(EXIT_MARK, 1)[1].split()[0] if line.split(EXIT_MARK, 1)[1].split() else ""
    return None


def responds(name: str, timeout: float) -> bool:
    """Esc closes what is open (dialogs are modal: they keep Ctrl+P out), then Ctrl+P opens the palette."""
    for _ in range(2):
        for _ in range(4):
            send(name, "Escape")
            time.sleep(0.15)
        send(name, "C-p")
        if wait_for(name, lambda text: PALETTE_PROMPT in text, timeout / 2):
            send(name, "Escape")
            time.sleep(0.2)
            return True
    return False


def clean_exit(name: str) -> bool:
    text = capture(name)
    return exited(text) == "0" and "Traceback" not in text


def fail(result: dict[str, object], text: str) -> dict[str, object]:
    status = exited(text)
    result["failure"] = "traceback" if "Traceback" in text else "hang" if status is None else f"exit {status}"
    result["screen"] = text[-6000:]
    return result


def one_run(index: int, args: argparse.Namespace, workdir: str) -> dict[str, object]:
    rng = random.Random(args.seed * 1000 + index)
    size = (120, 40) if index % 2 == 0 else (80, 24)
    name = f"spftui-monkey-{os.getpid()}-{index}"
    result: dict[str, object] = {"run": index, "size": f"{size[0]}x{size[1]}", "keys": 0, "restarts": 0}
    t0 = time.monotonic()
    start(name, size, args.scenario, workdir)
    try:
        for k in range(args.keys):
            send(name, rng.choice(WEIGHTED))
            result["keys"] = k + 1
            time.sleep(rng.choice((0.0, 0.0, 0.005, 0.01, 0.02, 0.05)))
            if k % 50 == 49 or k == args.keys - 1:
                text = capture(name)
                status = exited(text)
                if status is not None:
                    if status != "0" or "Traceback" in text:
                        return fail(result, text)
                    result["restarts"] = int(result["restarts"]) + 1  # the palette's Quit: start again
                    start(name, size, args.scenario, workdir)
                    continue
            if k % args.probe_every == args.probe_every - 1 and not responds(name, args.hang):
                if clean_exit(name):  # it quit during the probe: start again
                    result["restarts"] = int(result["restarts"]) + 1
                    start(name, size, args.scenario, workdir)
                    continue
                return fail(result, capture(name))
        if not responds(name, args.hang) and not clean_exit(name):
            return fail(result, capture(name))
        return result
    finally:
        result["seconds"] = round(time.monotonic() - t0, 1)
        tmux("kill-session", "-t", name, check=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--keys", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scenario", default="cow_lost_write")
    ap.add_argument("--probe-every", type=int, default=500, help="check that the app responds every N keys")
    ap.add_argument("--hang", type=float, default=10.0, help="seconds without a response that count as a hang")
    args = ap.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is not installed (apt-get install -y tmux)", file=sys.stderr)
        return 2
    failures = 0
    keys = 0
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="spftui-monkey-") as workdir:  # saved schedules land here
        for i in range(args.runs):
            r = one_run(i, args, workdir)
            keys += int(r["keys"])  # type: ignore[call-overload]
            failures += "failure" in r
            print(json.dumps(r), flush=True)
    summary = {"runs": args.runs, "keys": keys, "failures": failures, "seconds": round(time.monotonic() - t0, 1)}
    print(json.dumps({"summary": summary}), flush=True)
    tmux("kill-server", check=False)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
