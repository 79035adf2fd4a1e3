"""The fallback token counter, for where Qwen's vocabulary cannot be loaded (vocabulary.py).

Rule (docs/fidelity.md): every run of ASCII letters and digits counts one token per four
characters (rounded up); every other non-space character (punctuation, CJK, emoji) counts one
token; white space counts nothing. Close to Qwen's BPE for plain English, off for code, CJK and
JSON; the emulator used it for every count before it counted with the real vocabulary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TOKEN = re.compile(r"[A-Za-z0-9]{1,4}|\S")


@dataclass(frozen=True)
class Heuristic:
    name: str = "heuristic"

    def count(self, text: str) -> int:
        return len(TOKEN.findall(text))

    def ends(self, text: str) -> list[int]:
        return [match.end() for match in TOKEN.finditer(text)]

    def cut(self, text: str, cap: int) -> tuple[int, int | None]:
        ends = self.ends(text)
        return len(ends), (ends[cap - 1] if cap > 0 else 0) if len(ends) > cap else None


COUNTER = Heuristic()
