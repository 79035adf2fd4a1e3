"""Stored responses of the Responses API: what GET /responses/{id} returns and what
`previous_response_id` continues, kept 7 days of emulator-clock time (docs/responses-api.md).

Each account has its own: a Token Plan key cannot read a pay-as-you-go response. Memory is
bounded: at most `limit` responses, the oldest forgotten first. The caller passes `now`; this
module never reads a clock.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from emulator.engine.types import Message

RETENTION_SECONDS = 7 * 86400
LIMIT = 2_000


@dataclass(frozen=True)
class StoredResponse:
    body: dict[str, Any]  # the response object, as it was returned
    conversation: tuple[Message, ...]  # input and output so far, instructions left out
    expires: float


class ResponseStore:
    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._kept: OrderedDict[tuple[str, str], StoredResponse] = OrderedDict()

    def keep(self, account: str, ident: str, stored: StoredResponse) -> None:
        self._kept[(account, ident)] = stored
        while len(self._kept) > self.limit:
            self._kept.popitem(last=False)

    def get(self, account: str, ident: str, now: float) -> StoredResponse | None:
        stored = self._kept.get((account, ident))
        if stored is not None and stored.expires <= now:
            del self._kept[(account, ident)]
            return None
        return stored

    def delete(self, account: str, ident: str, now: float) -> bool:
        if self.get(account, ident, now) is None:
            return False
        del self._kept[(account, ident)]
        return True

    def clear(self) -> None:
        self._kept.clear()

    def __len__(self) -> int:
        return len(self._kept)
