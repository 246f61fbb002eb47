"""The snapshot layout is declared once (each class's SNAP_FIELDS, the
machine's SNAPSHOT_PARTS); __slots__, snap(), from_snap(), restore() and the
explorer's indices must all agree with it."""

from __future__ import annotations

from typing import Any

import pytest

from spftui.engine import SeededRandom, Session, por
from spftui.kernel.machine import SNAPSHOT_FIELDS, SNAPSHOT_PARTS, Machine
from spftui.kernel.state import Frame, Mm, PteTable, Thread, Vma
from spftui.scenario import load_scenario
from spftui.scenario.loader import bundled_scenarios_dir

MAKE: dict[type, Any] = {
    Frame: lambda s: Frame.from_snap(0, s),
    PteTable: lambda s: PteTable.from_snap(0, s),
    Vma: lambda s: Vma.from_snap(0, s),
    Mm: lambda s: Mm.from_snap("", s),
    Thread: lambda s: Thread.from_snap(0, "", "", s),
}
FRESH: dict[type, Any] = {Frame: Frame(0, 4), PteTable: PteTable(0), Vma: Vma(0), Mm: Mm(""), Thread: Thread(0, "", "")}


def holds(value: Any, marker: str) -> bool:
    if value == marker:
        return True
    if isinstance(value, dict):
        return any(holds(k, marker) or holds(v, marker) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(holds(v, marker) for v in value)
    return False


@pytest.mark.parametrize("cls", list(MAKE), ids=lambda c: c.__name__)
def test_each_class_declares_every_slot_once(cls: type) -> None:
    declared = cls.KEY_FIELDS + cls.SNAP_FIELDS  # type: ignore[attr-defined]
    assert len(set(declared)) == len(declared)
    assert set(declared) == set(cls.__slots__)
    assert len(FRESH[cls].snap()) == len(cls.SNAP_FIELDS)  # type: ignore[attr-defined]


@pytest.mark.parametrize("cls", list(MAKE), ids=lambda c: c.__name__)
def test_snap_and_from_snap_put_each_position_in_the_declared_field(cls: type) -> None:
    """A marker at position k of a snapshot lands in SNAP_FIELDS[k], and nowhere else, and snap() gives it back."""
    snap = FRESH[cls].snap()
    fields = cls.SNAP_FIELDS  # type: ignore[attr-defined]
    for k, name in enumerate(fields):
        marker = f"\0marker{k}"
        value: Any = ((marker, ()),) if isinstance(snap[k], tuple) else marker
        obj = MAKE[cls]((*snap[:k], value, *snap[k + 1 :]))
        hits = [n for n in cls.__slots__ if holds(getattr(obj, n, None), marker)]
        assert hits == [name], (cls.__name__, k, hits)
        again = obj.snap()
        assert holds(again[k], marker) and not any(holds(x, marker) for i, x in enumerate(again) if i != k)


def run_machine() -> Machine:
    sc = load_scenario(bundled_scenarios_dir() / "fork_cow_isolation.toml")
    s = Session(sc, strategy=SeededRandom(3))
    s.run(limit=40)
    return s.machine


def test_machine_snapshot_follows_the_declared_parts_and_restores_exactly() -> None:
    m = run_machine()
    snap = m.snapshot()
    assert len(snap) == len(SNAPSHOT_FIELDS)
    for i, name in enumerate(SNAPSHOT_FIELDS):
        assert hasattr(m, name)
        assert snap[i] == SNAPSHOT_PARTS[name][0](m), name
    other = run_machine()
    for _ in range(5):
        runnable = other.runnable()
        if runnable:
            other.step(runnable[0])
    assert other.snapshot() != snap
    other.restore(snap)
    assert other.snapshot() == snap


def test_the_explorer_reads_the_declared_layout() -> None:
    m = run_machine()
    assert por.layout_ok(m)
    names = {
        "frames": por._FRAMES,
        "free_pfns": por._FREE_PFNS,
        "tables": por._TABLES,
        "vmas": por._VMAS,
        "mms": por._MMS,
        "threads": por._THREADS,
        "tlbs": por._TLBS,
        "reported": por._REPORTED,
        "steps": por._STEPS,
    }
    for name, index in names.items():
        assert SNAPSHOT_FIELDS[index] == name
    assert [k.fields for k in por._kinds()] == [
        Frame.SNAP_FIELDS,
        PteTable.SNAP_FIELDS,
        Vma.SNAP_FIELDS,
        Mm.SNAP_FIELDS,
    ]
    assert m.state_key() == m.snapshot()[: por.KEY_LEN]
