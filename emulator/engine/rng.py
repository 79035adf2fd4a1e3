"""`random.Random(seed)` without random.py's Python frames: the engine seeds a generator for every
answer (and every streamed text), and random.py's `__init__` and `seed()` cost more bytecodes than
the seeding itself (tests/test_seeds.py holds the generators equal)."""

from __future__ import annotations

import _random
import hashlib
import random

# The C type's allocation (random.Random's __init__ is what seeds it) and its seeding.
_NEW = random.Random.__new__
_SEED = _random.Random.seed


def seeded(seed: int | bytes) -> random.Random:
    """`random.Random(seed)`, the same generator, seeded as random.py's `seed()` seeds it: an
    int as it is, bytes (version 2) as the number they and their SHA-512 spell, big-endian."""
    rng = _NEW(random.Random)
    if isinstance(seed, bytes):
        seed = int.from_bytes(seed + hashlib.sha512(seed).digest())
    _SEED(rng, seed)
    rng.gauss_next = None  # type: ignore[attr-defined]  # (as seed() sets it: getstate reads it)
    return rng
