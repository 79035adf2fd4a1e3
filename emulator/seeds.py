"""The one seeded source of randomness: everything random is derived from (server seed, parts)."""

from __future__ import annotations

import hashlib
import random
import struct
from collections.abc import Callable

# The seeds a caller may choose (admin API, scenario files): a signed 64-bit number, which any
# tool and a state file carry as it is.
MAX_SEED = 2**63 - 1


class Seeds:
    """Derives independent, reproducible streams from the server seed and a tuple of parts, so
    the same seed and the same inputs always give the same ids, keys and text."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        # The seed's part of every digest, hashed once: each digest copies this state.
        self._base = hashlib.sha256(str(seed).encode())
        # ... and a request id's first parts, for the digest every request draws.
        self._request_id_base = self._prefixed(("uuid", "request"))

    @property
    def seed(self) -> int:
        return self._seed

    def digest(self, *parts: object) -> bytes:
        return _hashed(self._base, parts)

    def digester(self, *first: object) -> Callable[..., bytes]:
        """`digest` with its first parts fixed and hashed once, for digests that all start
        with them: `digester(*a)(*b) == digest(*a, *b)`."""
        base = self._prefixed(first)
        return lambda *parts: _hashed(base, parts)

    def _prefixed(self, first: tuple[object, ...]) -> hashlib._Hash:
        """The hash of the seed and `first`, to copy for each digest that starts with them."""
        base = self._base.copy()
        base.update(_encoded(first))
        return base

    def integer(self, *parts: object) -> int:
        return int.from_bytes(self.digest(*parts)[:8], "big")

    def rng(self, *parts: object) -> random.Random:
        return random.Random(self.integer(*parts))

    def hex(self, length: int, *parts: object) -> str:
        text = self.digest(*parts).hex()
        while len(text) < length:
            text += self.digest(text, *parts).hex()
        return text[:length]

    def uuid(self, *parts: object) -> str:
        """A UUID-shaped id (8-4-4-4-12 hex, not RFC-4122 versioned, like DashScope's)."""
        return uuid_shaped(self.digest("uuid", *parts).hex())

    def request_id(
        self, method: str, target: str, body: bytes, arrived: float, sequence: int
    ) -> str:
        """`uuid("request", method, target, body, arrived, sequence)`, its first two parts
        hashed once and the rest encoded as `_encoded` would, without its loop: every request
        draws one (tests/test_seeds.py checks the two agree)."""
        verb = method.encode("utf-8", "surrogatepass")
        path = target.encode("utf-8", "surrogatepass")
        instant, count = str(arrived).encode(), str(sequence).encode()
        hasher = self._request_id_base.copy()
        hasher.update(
            b"".join(
                (
                    _LENGTH(len(verb)),
                    verb,
                    _LENGTH(len(path)),
                    path,
                    _LENGTH(len(body)),
                    body,
                    _LENGTH(len(instant)),
                    instant,
                    _LENGTH(len(count)),
                    count,
                )
            )
        )
        return uuid_shaped(hasher.hexdigest())


def _hashed(base: hashlib._Hash, parts: tuple[object, ...]) -> bytes:
    # sha256(what `base` holds, then each part as its length and its bytes), fed in one update:
    # the same digest as one update per piece, at a fraction of the calls.
    hasher = base.copy()
    hasher.update(_encoded(parts))
    return hasher.digest()


_LENGTH = struct.Struct(">Q").pack  # a part's length as _encoded writes it: 8 bytes, big-endian


def _encoded(parts: tuple[object, ...]) -> bytes:
    """Parts as a digest takes them: each its length (8 bytes) and its bytes (text as UTF-8)."""
    pieces: list[bytes] = []
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode("utf-8", "surrogatepass")
        pieces.append(len(data).to_bytes(8, "big"))
        pieces.append(data)
    return b"".join(pieces)


def uuid_shaped(digits: str) -> str:
    """The first 32 of `digits` in the 8-4-4-4-12 shape of a UUID."""
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:32]}"


def randint(rng: random.Random, low: int, high: int) -> int:
    """`rng.randint(low, high)`: the same number, drawn the same way (random.py's
    `_randbelow_with_getrandbits`, unchanged from Python 3.10 to 3.13, and checked against
    randint by tests/test_seeds.py), without randint's three Python frames on the hot path."""
    width = high - low + 1
    bits = width.bit_length()
    drawn = rng.getrandbits(bits)
    while drawn >= width:
        drawn = rng.getrandbits(bits)
    return low + drawn


def plan_key(seeds: Seeds, *parts: object) -> str:
    """A key in the real format: `sk-sp-` and 32 lowercase hex digits."""
    return "sk-sp-" + seeds.hex(32, "key", *parts)
