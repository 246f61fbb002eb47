"""The visited-state store of hash compaction (`explore --compact`).

A Python dict of 8-byte digests costs about 76 bytes a state (a bytes object
per key plus the dict's entry and index). This store keeps the 64-bit digests
in one `array('Q')` and each state's sleep mask in a parallel array of the
narrowest unsigned type that holds one bit per thread: open addressing with
linear probing, grown ×2 at a load of 3/4, so 9–12 bytes a slot and about
12–24 bytes a stored state. Digest 0 marks an empty slot (a digest that is 0
is stored as 1: one more way to collide, counted in the estimate's noise).

Standard library only (DESIGN.md contract 1).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator

_CODES = (("B", 8), ("H", 16), ("I", 32), ("Q", 64))


class CompactStore:
    """A dict-like map from nonzero 64-bit ints (digests) to small masks."""

    def __init__(self, threads: int, capacity: int = 1 << 12) -> None:
        code = next((c for c, bits in _CODES if threads <= bits), None)
        if code is None:
            raise ValueError(f"hash compaction holds sleep masks of up to 64 threads, not {threads}")
        self._code = code
        self._n = 0
        self._alloc(capacity)

    def _alloc(self, capacity: int) -> None:
        self._mask = capacity - 1
        self._limit = capacity * 3 // 4
        self._keys = array("Q", bytes(8 * capacity))
        self._vals = array(self._code, bytes(array(self._code).itemsize * capacity))

    def __len__(self) -> int:
        return self._n

    def get(self, key: int, default: int | None = None) -> int | None:
        keys = self._keys
        mask = self._mask
        h = key & mask
        while True:
            k = keys[h]
            if k == key:
                return self._vals[h]
            if not k:
                return default
            h = (h + 1) & mask

    def __contains__(self, key: object) -> bool:
        return isinstance(key, int) and self.get(key) is not None

    def __setitem__(self, key: int, value: int) -> None:
        keys = self._keys
        mask = self._mask
        h = key & mask
        while True:
            k = keys[h]
            if k == key:
                self._vals[h] = value
                return
            if not k:
                break
            h = (h + 1) & mask
        keys[h] = key
        self._vals[h] = value
        self._n += 1
        if self._n > self._limit:
            self._grow()

    def _grow(self) -> None:
        old = list(self.items())
        self._alloc(2 * (self._mask + 1))
        self._n = 0
        for k, v in old:
            self[k] = v

    def items(self) -> Iterator[tuple[int, int]]:
        for k, v in zip(self._keys, self._vals, strict=True):
            if k:
                yield k, v

    def nbytes(self) -> int:
        """The memory of the store (its arrays and this object)."""
        import sys

        return sys.getsizeof(self._keys) + sys.getsizeof(self._vals) + sys.getsizeof(self)
