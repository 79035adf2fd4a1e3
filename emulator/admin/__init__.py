"""Everything under /_emulator/: the JSON admin API (and, later, the usage page)."""
