"""Check the simulator against the kernel this machine runs (`spftui kernel-check`).

`sequence` makes seeded random op sequences, `host` runs one on the real
kernel through ctypes, `model` runs it in the simulator, and `compare` turns
both into per-op observations, compares them and minimises a mismatch.
Standard library only.
"""
