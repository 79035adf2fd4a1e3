"""The plan's books: clock, seats and keys (Credits ledger and resets build on these)."""
