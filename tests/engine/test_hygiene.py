"""The headless core never imports Textual or Rich (DESIGN.md contract 1)."""

from __future__ import annotations

import subprocess
import sys


def test_engine_kernel_scenario_and_cli_import_without_textual_or_rich() -> None:
    code = (
        "import sys, spftui.kernel, spftui.engine, spftui.engine.session, spftui.scenario, spftui.cli\n"
        "s = spftui.engine.Session(spftui.scenario.load_scenario('scenarios/cow_lost_write.toml'))\n"
        "s.run()\n"
        "bad = [m for m in ('textual', 'rich') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_version_does_not_import_textual() -> None:
    code = (
        "import sys\nfrom spftui.cli import main\nassert main(['--version']) == 0\n"
        "assert 'textual' not in sys.modules and 'rich' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
