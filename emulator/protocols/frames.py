"""Stream frames rendered once and filled per frame: the delta frames of a stream differ only
in their text, so the rest of each frame is encoded once per stream, by the same encoder and
from the same dict as before, and only the text is encoded per frame (the Responses API's
deltas, which differ in their number too, are cut at SLOT the same way, in
openai_responses.Stream.deltas). The bytes are those the generic encoder writes
(tests/test_stream_frames.py).
"""

from __future__ import annotations

from dataclasses import dataclass

# Stands for a value still to come; its encoding cannot come out of anything else a frame holds
# (a NUL is always escaped, and never part of a template's fixed fields).
SLOT = "\x00slot\x00"


@dataclass(frozen=True)
class Template:
    """A frame's text cut at its slots: `parts[0] value parts[1] value ... parts[-1]`."""

    parts: tuple[bytes, ...]

    @classmethod
    def of(cls, rendered: str, encoded_slot: str, slots: int = 1) -> Template:
        """`rendered`: the frame made with SLOT for each value to come, as `encoded_slot` in
        the text; the values fill the slots in the order they appear in it."""
        parts = tuple(part.encode() for part in rendered.split(encoded_slot))
        if len(parts) != slots + 1:
            raise ValueError(f"expected {slots} slots, found {len(parts) - 1}")
        return cls(parts)

    def fill(self, value: str) -> bytes:
        """The frame with its one slot filled by `value` (already in its wire form)."""
        head, tail = self.parts
        return head + value.encode() + tail

    def around(self, head: str, tail: str) -> Template:
        """This one-slot frame with `head` and `tail` around its slot: a frame whose value is
        itself a frame's text around a slot, e.g. a delta chunk within a stream's envelope."""
        before, after = self.parts
        return Template((before + head.encode(), tail.encode() + after))
