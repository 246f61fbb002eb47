"""The `slow` fuzz variants run only when asked for (`pytest -m slow tests/fuzz`)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="long fuzz run: select it with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
