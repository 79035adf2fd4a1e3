"""A small client of the emulator's JSON admin API (`/_emulator/...`), over real HTTP.

The plan tests move the clock and read the books only through this API, as a user's own test
suite would; they poke the runtime only where the API has no way in (and say why).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from decimal import Decimal
from typing import Any

import anthropic
import openai

from emulator.harness import RunningEmulator

KEY_FORMAT = r"^sk-sp-[0-9a-f]{32}$"
USER = [{"role": "user", "content": "Hello"}]


def credits(value: float | str) -> Decimal:
    """A Credits amount from the admin JSON as an exact Decimal. Floats there are micro-Credits
    / 1e6, so their shortest repr is the exact amount (at most six decimals)."""
    return Decimal(repr(value) if isinstance(value, float) else str(value))


class Admin:
    """`GET` / `POST` on `/_emulator/...` of one running emulator."""

    def __init__(self, emulator: RunningEmulator) -> None:
        self.emulator = emulator
        self.base = emulator.url + "/_emulator"

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def get(self, path: str) -> Any:
        status, body = self.call("GET", path)
        assert status == 200, body
        return body

    def post(self, path: str, body: dict[str, Any] | None = None, status: int = 200) -> Any:
        answered, reply = self.call("POST", path, body or {})
        assert answered == status, reply
        return reply

    # ---- the clock -------------------------------------------------------------------------

    def set_clock(self, instant: str) -> str:
        now: str = self.post("/clock", {"set": instant})["now"]
        return now

    def advance(self, step: str) -> str:
        now: str = self.post("/clock", {"advance": step})["now"]
        return now

    # ---- reading the books -----------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.get("/state")
        return state

    def seat(self, seat_id: str = "seat-1") -> dict[str, Any]:
        return next(s for s in self.state()["seats"] if s["id"] == seat_id)

    def pack(self, pack_id: str) -> dict[str, Any]:
        return next(p for p in self.state()["packs"] if p["id"] == pack_id)

    def key(self, member: str) -> str:
        return str(next(s["key"] for s in self.state()["seats"] if s["member"] == member))

    def journal(self, limit: int = 1000) -> list[dict[str, Any]]:
        """The journal, oldest first."""
        entries: list[dict[str, Any]] = self.get(f"/journal?limit={limit}")["entries"]
        return entries[::-1]

    def last(self) -> dict[str, Any]:
        return self.journal(1)[-1]

    def books(self) -> dict[str, Any]:
        """Everything a request could change in the Token Plan's ledger."""
        state = self.state()
        return {
            "seats": state["seats"],
            "packs": state["packs"],
            "usage": self.get("/usage?days=30"),
        }


# ---- SDK clients --------------------------------------------------------------------------


def openai_client(
    emulator: RunningEmulator, key: str | None = None, base: str | None = None
) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=emulator.url + (base or "/compatible-mode/v1"),
        api_key=key or emulator.api_key,
        max_retries=0,
    )


def anthropic_client(
    emulator: RunningEmulator, key: str | None = None, base: str | None = None
) -> anthropic.Anthropic:
    """The key goes in `Authorization: Bearer`, as the Token Plan documents."""
    return anthropic.Anthropic(
        base_url=emulator.url + (base or "/apps/anthropic"),
        auth_token=key or emulator.api_key,
        api_key=None,
        max_retries=0,
    )


def async_openai_client(emulator: RunningEmulator, key: str | None = None) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=emulator.openai_base_url, api_key=key or emulator.api_key, max_retries=0
    )


def async_anthropic_client(
    emulator: RunningEmulator, key: str | None = None
) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=emulator.anthropic_base_url,
        auth_token=key or emulator.api_key,
        api_key=None,
        max_retries=0,
    )
