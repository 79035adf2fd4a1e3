"""The JSON admin API under /_emulator/: read the plan, move the clock, run the console's moves.

Bound to loopback: a request from another address gets 403 unless the emulator was told
otherwise. Full keys are returned (a test double's convenience); the usage page masks them.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from emulator.admin import views
from emulator.admin.dashboard import add_dashboard_routes
from emulator.admin.health import problems
from emulator.bodies import ClientGone, read_body
from emulator.catalog import CATALOGS
from emulator.config import ConfigError, load_scenario, scenario_names
from emulator.errors import ApiError
from emulator.image_routes import FILES
from emulator.plan.calendar import iso
from emulator.plan.clock import parse_instant, parse_step
from emulator.plan.ledger import PlanError
from emulator.runtime import RUNTIME, Runtime

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
USAGE_WINDOWS = (1, 7, 30)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False))


def _refuse(message: str, status: int = 400) -> web.Response:
    return _json({"error": message}, status)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        raw = await read_body(request)
    except ApiError as error:  # too large, a bad encoding, too slow: said in the admin's form
        raise PlanError(error.message, error.status) from None
    except ClientGone:
        raise PlanError("the client hung up before its body was complete") from None
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise PlanError("the body must be JSON") from None
    if not isinstance(body, dict):
        raise PlanError("the body must be a JSON object")
    return body


def _months(body: dict[str, Any]) -> int:
    """A term in whole months (default 1), from an admin call's body."""
    months = body.get("months", 1)
    if not isinstance(months, int) or isinstance(months, bool) or months < 1:
        raise PlanError("months must be a whole number of at least 1")
    return months


def _runtime(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


def _loopback(remote: str | None) -> bool:
    try:
        address = ipaddress.ip_address(remote) if remote is not None else None
    except ValueError:
        return remote == "localhost"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1, as a dual-stack socket reports it
    return address is not None and address.is_loopback


@web.middleware
async def admin_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    # The picture URLs stand in for OSS's signed URLs: whoever got one may fetch it.
    if not request.path.startswith("/_emulator") or request.path.startswith(FILES + "/"):
        return await handler(request)
    if not _loopback(request.remote) and not _runtime(request).config.admin_anywhere:
        return _refuse("the admin API answers on loopback only", 403)
    try:
        return await handler(request)
    except PlanError as error:
        return _refuse(error.message, error.status)
    finally:
        # --state: every change (clock, seats, keys, packs, subscription) is committed before
        # its answer goes out; a refused one may have changed something too (a seat added, its
        # assignment refused), and a save with nothing changed writes nothing.
        if request.method not in ("GET", "HEAD"):
            _runtime(request).persist()


async def health(request: web.Request) -> web.StreamResponse:
    """200 `ok` while the plan can be served; 503 `degraded` with the reasons when not."""
    runtime = _runtime(request)
    found = problems(runtime)
    if not found:
        return _json({"status": "ok", "scenario": runtime.config.scenario})
    body = {"status": "degraded", "scenario": runtime.config.scenario, "reasons": found}
    return _json(body, 503)


async def state(request: web.Request) -> web.StreamResponse:
    return _json(views.overview(_runtime(request)))


async def clock(request: web.Request) -> web.StreamResponse:
    """GET: the clock. POST {"set": ISO, "advance": "+31d", "freeze": bool}: move it first."""
    runtime = _runtime(request)
    if request.method == "POST":
        body = await _body(request)
        freeze = body.get("freeze", runtime.clock.frozen)
        if not isinstance(freeze, bool):
            raise PlanError("freeze must be true or false")
        try:
            if "set" in body:
                runtime.clock.set(parse_instant(str(body["set"])), freeze=freeze)
            elif freeze != runtime.clock.frozen:
                runtime.clock.set(runtime.clock.now(), freeze=freeze)
            if "advance" in body:
                runtime.clock.advance(parse_step(str(body["advance"])))
        except ValueError as exc:
            raise PlanError(str(exc)) from None
    return _json({"now": iso(runtime.clock.now()), "frozen": runtime.clock.frozen})


async def journal(request: web.Request) -> web.StreamResponse:
    try:
        limit = int(request.query.get("limit", "100"))
        status = int(request.query["status"]) if "status" in request.query else None
    except ValueError:
        raise PlanError("limit and status must be integers") from None
    entries = _runtime(request).journal.newest(limit, status)
    bodies = request.query.get("bodies", "1") != "0"  # the usage page's list leaves them out
    return _json({"entries": [entry.to_json(bodies) for entry in entries]})


async def journal_entry(request: web.Request) -> web.StreamResponse:
    """GET /journal/{request_id}: one entry, with the bodies it kept."""
    wanted = request.match_info["request_id"]
    for entry in reversed(_runtime(request).journal.entries):
        if entry.request_id == wanted:
            return _json(entry.to_json())
    raise PlanError(f"no journal entry {wanted!r}", 404)


async def reset(request: web.Request) -> web.StreamResponse:
    _runtime(request).reset()
    return _json(views.overview(_runtime(request)))


async def usage(request: web.Request) -> web.StreamResponse:
    days = request.query.get("days", "30")
    if not days.isdigit() or int(days) not in USAGE_WINDOWS:
        raise PlanError("days must be 1, 7 or 30")
    return _json(views.usage(_runtime(request), int(days)))


async def stats(request: web.Request) -> web.StreamResponse:
    runtime = _runtime(request)
    request_id = runtime.seeds.uuid("stats", runtime.clock.now(), runtime.requests_seen)
    return _json(views.subscription_stats(runtime, request_id))


async def buy_pack(request: web.Request) -> web.StreamResponse:
    runtime = _runtime(request)
    pack = runtime.ledger.buy_pack()
    return _json(views.pack_view(pack, runtime.clock.now()), 201)


async def add_seat(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    ledger = _runtime(request).ledger
    seat = ledger.add_seat(str(body.get("tier", "pro")))
    if body.get("member") is not None:
        seat = ledger.assign(seat.id, str(body["member"]))
    return _json(views.seat_view(seat, ledger), 201)


async def seat_action(request: web.Request) -> web.StreamResponse:
    """POST /seats/{id}/{assign|reclaim|upgrade|reset-key|suspend|unsuspend}."""
    ledger = _runtime(request).ledger
    seat_id, action = request.match_info["seat"], request.match_info["action"]
    body = await _body(request)
    if action == "assign":
        if not isinstance(body.get("member"), str) or not body["member"]:
            raise PlanError("assign needs a member name")
        seat = ledger.assign(seat_id, body["member"])
    elif action == "reclaim":
        seat = ledger.reclaim(seat_id)
    elif action == "upgrade":
        seat = ledger.upgrade(seat_id, str(body.get("tier", "")))
    elif action == "reset-key":
        seat = ledger.reset_key(seat_id)
    elif action in ("suspend", "unsuspend"):
        seat = ledger.suspend(seat_id, action == "suspend")
    else:
        raise PlanError(f"unknown seat action {action!r}", 404)
    return _json(views.seat_view(seat, ledger))


async def renew(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    _runtime(request).ledger.renew(_months(body))
    return _json(views.overview(_runtime(request))["subscription"])


async def subscribe(request: web.Request) -> web.StreamResponse:
    """A new subscription: refused while one is active (one per account, the FAQ)."""
    runtime = _runtime(request)
    if not runtime.ledger.expired():
        raise PlanError(
            "Each Alibaba Cloud account can have only one active Token Plan Team Edition "
            "subscription.",
            409,
        )
    body = await _body(request)
    runtime.resubscribe(_months(body))
    return _json(views.overview(runtime), 201)


async def scenarios(request: web.Request) -> web.StreamResponse:
    """The scenarios of the file the running one came from, and which one is served."""
    config = _runtime(request).config
    path = Path(config.scenarios_file) if config.scenarios_file else None
    return _json({"current": config.scenario, "scenarios": scenario_names(path)})


async def switch_scenario(request: web.Request) -> web.StreamResponse:
    """POST {"name": ..., "seed"?, "clock"?, "catalog"?}: serve that scenario from its start
    (same file), on another model list if `catalog` says so."""
    runtime = _runtime(request)
    body = await _body(request)
    name = body.get("name", runtime.config.scenario)
    if not isinstance(name, str):
        raise PlanError("name must be a scenario name")
    catalog = body.get("catalog")
    if catalog is not None and catalog not in CATALOGS:
        raise PlanError(f"catalog must be one of {', '.join(CATALOGS)}")
    path = Path(runtime.config.scenarios_file) if runtime.config.scenarios_file else None
    try:
        loaded = load_scenario(name, path)
    except ConfigError as exc:
        raise PlanError(str(exc), 404) from None
    old = runtime.config
    config = loaded.with_overrides(
        host=old.host,
        port=old.port,
        state_file=old.state_file,
        admin_anywhere=old.admin_anywhere,
        seed=body.get("seed"),
        clock=body.get("clock"),
        catalog=catalog,
    )
    if config.clock is not None:
        try:
            parse_instant(config.clock)
        except ValueError as exc:
            raise PlanError(f"clock: {exc}") from None
    runtime.switch(config)
    return _json(views.overview(runtime))


def add_admin_routes(app: web.Application, base: str) -> None:
    app.middlewares.insert(0, admin_guard)
    router = app.router
    router.add_get(f"{base}/health", health)
    router.add_get(f"{base}/state", state)
    router.add_route("*", f"{base}/clock", clock)
    router.add_get(f"{base}/journal", journal)
    router.add_get(f"{base}/journal/{{request_id}}", journal_entry)
    router.add_post(f"{base}/reset", reset)
    router.add_get(f"{base}/usage", usage)
    router.add_get(f"{base}/stats", stats)
    router.add_post(f"{base}/packs", buy_pack)
    router.add_post(f"{base}/seats", add_seat)
    router.add_post(f"{base}/seats/{{seat}}/{{action}}", seat_action)
    router.add_post(f"{base}/subscription/renew", renew)
    router.add_post(f"{base}/subscription", subscribe)
    router.add_get(f"{base}/scenarios", scenarios)
    router.add_post(f"{base}/scenario", switch_scenario)
    add_dashboard_routes(app, base)
