"""Where a fault starts under each validation policy.

The policies themselves (name, description, what they snapshot and check,
what writers do for them) are records in `spftui.scenario.policies`; the
kernel paths ask those records (`m.policy.check`, `m.policy.write_locks_vmas`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..scenario.policies import POLICY, POLICY_LIST, REUSE, REUSE_LIST, Policy, ReuseRule

if TYPE_CHECKING:
    from .machine import Machine
    from .state import Thread

__all__ = ["POLICY", "POLICY_LIST", "REUSE", "REUSE_LIST", "Policy", "ReuseRule", "fault_entry"]


def fault_entry(m: Machine, t: Thread) -> dict[str, Any]:
    """The vmf fields and the first step of a fault under the machine's policy."""
    t.pc = m.policy.entry
    return {"mode": m.policy.mode}
