"""Hash compaction's visited store: a dict's behaviour in ≤ 40 bytes a state."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from spftui.engine.explorer import explore
from spftui.engine.store import CompactStore
from spftui.scenario import load_scenario

SEED = Path(__file__).resolve().parents[2] / "scenarios" / "cow_lost_write.toml"


def test_the_store_behaves_like_a_dict_across_growth() -> None:
    rng = random.Random(7)
    store = CompactStore(threads=3, capacity=8)
    ref: dict[int, int] = {}
    for _ in range(5000):
        k = rng.getrandbits(64) or 1
        if ref and rng.random() < 0.3:
            k = rng.choice(list(ref))  # an update of a key already there
        v = rng.randrange(8)
        store[k] = v
        ref[k] = v
    assert len(store) == len(ref)
    assert all(store.get(k) == v for k, v in ref.items())
    assert store.get(12345) is None and 12345 not in store
    assert dict(store.items()) == ref


def test_masks_wider_than_64_threads_are_refused() -> None:
    with pytest.raises(ValueError, match="64 threads"):
        CompactStore(threads=65)


def test_compaction_stores_a_state_in_at_most_40_bytes_with_the_same_result() -> None:
    sc = load_scenario(SEED)
    full = explore(sc, "spf-mm-seq", mode="exhaustive", narrate=False, max_states=3000)
    small = explore(sc, "spf-mm-seq", mode="exhaustive", narrate=False, max_states=3000, compact=True)
    assert (small.states, small.transitions, small.verdicts) == (full.states, full.transitions, full.verdicts)
    assert small.extra["store"]["digest_bits"] == 64
    assert small.extra["store"]["bytes_per_state"] <= 40 < full.extra["store"]["bytes_per_state"]
