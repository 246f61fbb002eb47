"""The state budgets the commands default to: a module of its own, so the
CLI's help names them without importing the explorer (startup time)."""

EXPLORE_MAX_STATES = 2_000_000  # explorer.explore, per phase
SHRINK_MAX_STATES = 200_000  # shrink.shrink, each search
