"""What the pytest plugin hands a test: a `TokenPlan` handle and an `Admin` client over HTTP.

The emulator runs in a background thread with its own event loop, so a test never touches its
runtime directly: every read and every move goes through the JSON admin API (`/_emulator/`),
which is safe from any thread, and from sync and async tests alike (a call blocks the test for
a millisecond; the server, in its own thread, is not blocked by it). The plugin's own move
before and after each test, the scenario switch, is the admin API's too, but run on the
server's thread without HTTP (`RunningEmulator.run`): it is paid by every test of a suite.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from emulator.admin.api import switch
from emulator.admin.values import Body
from emulator.config import Config
from emulator.harness import Endpoints, RunningEmulator, start_emulator
from emulator.plan.ledger import PlanError
from emulator.runtime import Runtime

# Straight to the loopback server, whatever HTTP(S)_PROXY the environment sets.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class AdminError(RuntimeError):
    """The admin API refused a call: its HTTP status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class Admin:
    """A client of one emulator's admin API (`/_emulator/...`). Each call is one HTTP request:
    no state is shared, so a handle may be used from any thread."""

    def __init__(self, url: str, timeout: float = 10) -> None:
        self.base = url + "/_emulator"
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The JSON answer; AdminError when the API refuses."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                message = str(json.loads(raw).get("error", raw.decode()))
            except (ValueError, AttributeError):
                message = raw.decode(errors="replace")
            raise AdminError(error.code, message) from None

    def get(self, path: str, **query: Any) -> Any:
        given = {k: v for k, v in query.items() if v is not None}
        return self.call("GET", path + ("?" + urllib.parse.urlencode(given) if given else ""))

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.call("POST", path, body or {})

    # ---- reading the plan ------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Subscription, seats (with keys), packs, the clock: `GET /_emulator/state`."""
        state: dict[str, Any] = self.get("/state")
        return state

    def seat(self, seat_id: str = "seat-1") -> dict[str, Any]:
        return next(seat for seat in self.state()["seats"] if seat["id"] == seat_id)

    def key(self, member: str) -> str:
        """The current key of a member's seat."""
        return str(next(s["key"] for s in self.state()["seats"] if s["member"] == member))

    def journal(self, limit: int = 100, status: int | None = None) -> list[dict[str, Any]]:
        """The last `limit` requests (only those answered `status`, if given), oldest first."""
        entries: list[dict[str, Any]] = self.get("/journal", limit=limit, status=status)["entries"]
        return entries[::-1]

    def last(self) -> dict[str, Any]:
        """The journal entry of the latest request."""
        return self.journal(1)[-1]

    def usage(self, days: int = 30) -> dict[str, Any]:
        """Credits by model, member and day over 1, 7 or 30 days."""
        usage: dict[str, Any] = self.get("/usage", days=days)
        return usage

    def stats(self) -> dict[str, Any]:
        """The management API's GetSubscriptionStats."""
        stats: dict[str, Any] = self.get("/stats")
        return stats

    # ---- the clock -------------------------------------------------------------------------

    def now(self) -> str:
        return str(self.get("/clock")["now"])

    def set_clock(self, instant: str, freeze: bool | None = None) -> str:
        """Put the clock at an ISO instant; the new time."""
        body: dict[str, Any] = {"set": instant}
        if freeze is not None:
            body["freeze"] = freeze
        return str(self.post("/clock", body)["now"])

    def advance(self, step: str) -> str:
        """Move the clock on by a step such as "+31d", "+1h", "+90s"; the new time."""
        return str(self.post("/clock", {"advance": step})["now"])

    def freeze(self, frozen: bool = True) -> str:
        return str(self.post("/clock", {"freeze": frozen})["now"])

    # ---- the console's moves ---------------------------------------------------------------

    def buy_pack(self) -> dict[str, Any]:
        """Buy a shared usage pack; the pack."""
        pack: dict[str, Any] = self.post("/packs")
        return pack

    def add_seat(self, tier: str = "pro", member: str | None = None) -> dict[str, Any]:
        seat: dict[str, Any] = self.post("/seats", {"tier": tier, "member": member})
        return seat

    def seat_action(self, seat_id: str, action: str, **body: Any) -> dict[str, Any]:
        """assign (member=...), reclaim, upgrade (tier=...), reset-key, suspend, unsuspend."""
        seat: dict[str, Any] = self.post(f"/seats/{seat_id}/{action}", body)
        return seat

    def renew(self, months: int = 1) -> dict[str, Any]:
        renewed: dict[str, Any] = self.post("/subscription/renew", {"months": months})
        return renewed

    def subscribe(self, months: int = 1) -> dict[str, Any]:
        """A new subscription once the old one has expired (new keys)."""
        state: dict[str, Any] = self.post("/subscription", {"months": months})
        return state

    # ---- scenarios -------------------------------------------------------------------------

    def scenarios(self) -> dict[str, str]:
        """name -> description of every scenario the server can switch to."""
        names: dict[str, str] = self.get("/scenarios")["scenarios"]
        return names

    def switch(
        self,
        name: str,
        seed: int | None = None,
        clock: str | None = None,
        catalog: str | None = None,
    ) -> dict[str, Any]:
        """Serve another scenario of the same file from its start (on the `launch` or
        `current` model list if `catalog` is given); the new state."""
        body: dict[str, Any] = {"name": name}
        given = (("seed", seed), ("clock", clock), ("catalog", catalog))
        body.update({k: v for k, v in given if v is not None})
        state: dict[str, Any] = self.post("/scenario", body)
        return state

    def reset(self) -> dict[str, Any]:
        """Back to the current scenario's start; the new state."""
        state: dict[str, Any] = self.post("/reset")
        return state


class TokenPlan(Endpoints):
    """A running emulator as one test sees it: `url`, `openai_base_url`, `anthropic_base_url`,
    `api_key` (the first seat's key at the scenario's start), `openai_kwargs()`,
    `anthropic_kwargs()`, `env()`, `scenario`, and `admin` to read and move the plan."""

    def __init__(self, url: str, admin: Admin, state: dict[str, Any]) -> None:
        self.url = url
        self.admin = admin
        self.scenario: str = state["scenario"]
        keys = [seat["key"] for seat in state["seats"] if seat["member"] and seat["key"]]
        self._key: str = keys[0] if keys else ""

    @property
    def api_key(self) -> str:
        return self._key

    def access_key(self) -> tuple[str, str]:
        """The management API's AccessKey pair (id, secret): derived from the seed, so read
        from the server each time (a switch to another seed changes it)."""
        pair = self.admin.state()["access_key"]
        return pair["id"], pair["secret"]

    def management_config(self, **extra: Any) -> Any:
        """An `alibabacloud_tea_openapi.models.Config` for the official ModelStudio SDK
        (`alibabacloud_modelstudio20260210.client.Client(config)`): this emulator's endpoint
        over plain HTTP, and its AccessKey. The SDK is imported here, not at module load, so
        the plugin works without it installed."""
        from alibabacloud_tea_openapi.models import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
            Config as OpenApiConfig,
        )

        key_id, secret = self.access_key()
        endpoint = self.url.split("://", 1)[1]
        settings: dict[str, Any] = {
            "access_key_id": key_id,
            "access_key_secret": secret,
            "endpoint": endpoint,
            "protocol": "http",
        }
        return OpenApiConfig(**(settings | extra))

    def __repr__(self) -> str:
        return f"TokenPlan({self.url!r}, scenario={self.scenario!r})"


@dataclass(frozen=True)
class Wanted:
    """What a test asks for with `@pytest.mark.token_plan(...)`."""

    scenario: str = "default"
    seed: int | None = None
    clock: str | None = None
    scenarios_file: str | None = None
    catalog: str | None = None  # "launch" or "current": overrides the scenario's `catalog`

    @classmethod
    def from_marks(cls, marks: list[tuple[tuple[Any, ...], dict[str, Any]]], here: Path) -> Wanted:
        """The marks' (args, kwargs), closest first: a test's own mark wins over its class's and
        its module's, key by key. A relative `scenarios_file` is taken from the test's folder."""
        chosen: dict[str, Any] = {}
        known = {f.name for f in fields(cls)}
        for args, kwargs in marks:
            given = {**({"scenario": args[0]} if args else {}), **kwargs}
            unknown = set(given) - known
            if unknown or len(args) > 1:
                wrong = ", ".join(sorted(unknown)) or "more than one positional argument"
                raise TypeError(
                    "@pytest.mark.token_plan takes scenario, seed, clock, scenarios_file and "
                    f"catalog; not {wrong}"
                )
            for name, value in given.items():
                chosen.setdefault(name, value)
        if chosen.get("scenarios_file") is not None:
            chosen["scenarios_file"] = str((here / chosen["scenarios_file"]).resolve())
        return cls(**chosen)


class Servers:
    """The emulators of one pytest session (so one per xdist worker, each on its own port):
    the session's, on the embedded scenarios, and one per user scenarios file, started when a
    test first names it. A test gets its scenario from the start on one of them."""

    def __init__(self, shared: RunningEmulator) -> None:
        self.shared = shared
        self.by_file: dict[str, RunningEmulator] = {}

    def server(self, scenarios_file: str | None) -> RunningEmulator:
        if scenarios_file is None:
            return self.shared
        if scenarios_file not in self.by_file:
            self.by_file[scenarios_file] = start_emulator(Config(scenarios_file=scenarios_file))
        return self.by_file[scenarios_file]

    def open(self, wanted: Wanted) -> TokenPlan:
        """The wanted scenario, seed and clock, from their start: no state left by a test
        before. AdminError when the admin API would refuse the switch."""
        server = self.server(wanted.scenarios_file)
        given = {
            "name": wanted.scenario,
            "seed": wanted.seed,
            "clock": wanted.clock,
            "catalog": wanted.catalog,
        }
        body = Body({name: value for name, value in given.items() if value is not None})
        state = _switched(server, body)
        return TokenPlan(server.url, Admin(server.url), state)

    def close(self, plan: TokenPlan) -> None:
        """After a test: the shared server back on `default`, for tests that use it directly
        (`token_plan_emulator`) rather than through `token_plan`."""
        if plan.url == self.shared.url:
            _switched(self.shared, Body({"name": "default"}))

    def stop(self) -> None:
        for server in self.by_file.values():
            server.stop()


def _switched(server: RunningEmulator, body: Body) -> dict[str, Any]:
    """`POST /scenario` with `body`, on the server's thread; of the state it would answer,
    what a TokenPlan reads (the whole `GET /state` also derives the AccessKey and the
    organisation, which a test that wants them reads through its `admin`)."""
    try:
        return server.run(lambda runtime: _start_of(runtime, body))
    except PlanError as error:
        raise AdminError(error.status, error.message) from None


def _start_of(runtime: Runtime, body: Body) -> dict[str, Any]:
    switch(runtime, body)
    seats = [{"member": seat.member, "key": seat.key} for seat in runtime.ledger.seats.values()]
    return {"scenario": runtime.config.scenario, "seats": seats}
