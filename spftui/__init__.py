"""spftui: a time-travel debugger for Linux page-fault concurrency."""

__version__ = "0.1.0"
