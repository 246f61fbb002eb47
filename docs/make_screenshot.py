"""Regenerate docs/lost-write.svg: the debugger at the seed race's lost write (120x40).

python docs/make_screenshot.py
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from spftui.tui.app import SpftuiApp

HERE = Path(__file__).resolve().parent
SEED = str(HERE.parent / "scenarios" / "cow_lost_write.toml")


async def main() -> None:
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("c")  # continue: stops at the lost_write violation
        await pilot.pause(0.5)
        app.save_screenshot("lost-write.svg", str(HERE))


if __name__ == "__main__":
    asyncio.run(main())
