"""Deterministic PNG images: real files of the requested size, drawn from (prompt, seed, size).

Each image is a vertical gradient between two colours with a few coloured blocks on it, all
chosen from a digest of the prompt and seed, so different prompts look visibly different and
the same request gives the same bytes. Rows are built from runs of one colour (no per-pixel
Python), so a 2048 x 2048 image takes a fraction of a second; callers run it off the event loop.
"""

from __future__ import annotations

import hashlib
import random
import struct
import zlib
from dataclasses import dataclass

BLOCKS = 6


@dataclass(frozen=True)
class Block:
    left: int
    top: int
    right: int
    bottom: int
    colour: bytes


def _colour(rng: random.Random) -> bytes:
    return bytes(rng.randrange(256) for _ in range(3))


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def paint(prompt: str, seed: int, width: int, height: int) -> bytes:
    """A PNG (8-bit RGB) of `width` x `height` for this prompt and seed."""
    rng = random.Random(hashlib.sha256(f"{seed}\0{prompt}".encode()).digest())
    top, bottom = _colour(rng), _colour(rng)
    blocks = []
    for _ in range(BLOCKS):
        w, h = rng.randint(width // 10, width // 3), rng.randint(height // 10, height // 3)
        x, y = rng.randrange(max(1, width - w)), rng.randrange(max(1, height - h))
        blocks.append(Block(x, y, x + w, y + h, _colour(rng)))
    rows = bytearray()
    for y in range(height):
        t = y / max(1, height - 1)
        background = bytes(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        row = bytearray(background * width)
        for block in blocks:
            if block.top <= y < block.bottom:
                row[block.left * 3 : block.right * 3] = block.colour * (block.right - block.left)
        rows += b"\x00" + row  # filter type 0 (None) on every row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(rows), 6))
        + _chunk(b"IEND", b"")
    )
