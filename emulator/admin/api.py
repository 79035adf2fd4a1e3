"""The JSON admin API under /_emulator/: read the plan, move the clock, run the console's moves.

Bound to loopback (admin/guard.py: the peer, the Host header, and for writes the Origin and a
JSON content type), and every value read through admin/values.py's bounded readers. Full keys
are returned (a test double's convenience); the usage page masks them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from emulator.admin import views
from emulator.admin.dashboard import add_dashboard_routes
from emulator.admin.guard import AdminPolicy
from emulator.admin.health import problems
from emulator.admin.values import Body, query_choice, query_whole, shown
from emulator.bodies import ClientGone, read_body
from emulator.catalog import CATALOGS
from emulator.config import Config, ConfigError, load_scenario, scenario_names
from emulator.errors import ApiError
from emulator.image_routes import FILES
from emulator.journal import DEFAULT_LIMIT as JOURNAL_LIMIT
from emulator.plan.calendar import iso
from emulator.plan.credits import TIER_CREDITS
from emulator.plan.ledger import MAX_PACK_LIMIT, MAX_TERM_MONTHS, PlanError
from emulator.runtime import RUNTIME, Runtime
from emulator.seeds import MAX_SEED

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
USAGE_WINDOWS = (1, 7, 30)
TIERS = tuple(TIER_CREDITS)
MAX_SCENARIO_NAME_CHARS = 200
log = logging.getLogger("emulator.admin")


def _json(body: Any, status: int = 200) -> web.Response:
    # Names stay readable (ensure_ascii=False); a lone surrogate, which UTF-8 cannot carry,
    # becomes its JSON escape `\ud800` instead of failing the answer: whatever the plan or
    # the journal holds, the admin API can always show it.
    text = json.dumps(body, ensure_ascii=False)
    return web.Response(
        body=text.encode("utf-8", "backslashreplace"),
        status=status,
        content_type="application/json",
    )


def _refuse(message: str, status: int = 400) -> web.Response:
    return _json({"error": message}, status)


async def _body(request: web.Request, *known: str) -> Body:
    try:
        raw = await read_body(request)
    except ApiError as error:  # too large, a bad encoding, too slow: said in the admin's form
        raise PlanError(error.message, error.status) from None
    except ClientGone:
        raise PlanError("the client hung up before its body was complete") from None
    return Body.parse(raw, known)


def _runtime(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


def _policy(config: Config) -> AdminPolicy:
    return AdminPolicy(anywhere=config.admin_anywhere, bound_host=config.host)


def guarded(path: str) -> bool:
    """Whether `path` is the admin API's, which admin_guard keeps to loopback. The picture
    URLs stand in for OSS's signed URLs: whoever got one may fetch it."""
    return path.startswith("/_emulator") and not path.startswith(FILES + "/")


async def admin_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer an admin request (a `guarded` path) through `handler` if the policy allows it.
    Called by the gateway middleware (server.py), not a middleware of its own: every API call
    would pay for a second middleware's frame only to learn that it is not an admin call."""
    runtime = _runtime(request)
    refusal = _policy(runtime.config).refusal(request.method, request.remote, request.headers)
    if refusal is not None:
        log.info("admin request refused: %s %s: %s", request.method, request.path, refusal.message)
        return _refuse(refusal.message, refusal.status)
    try:
        return await handler(request)
    except PlanError as error:
        return _refuse(error.message, error.status)
    except web.HTTPMethodNotAllowed as error:
        allowed = ", ".join(sorted(error.allowed_methods))
        return _refuse(f"{request.method} is not allowed on {shown(request.path)}: {allowed}", 405)
    except web.HTTPNotFound:  # no such admin path (or page file): said in the API's JSON
        return _refuse(f"no admin endpoint {shown(request.path)}; the README lists them", 404)
    finally:
        # --state: every change (clock, seats, keys, packs, subscription) is committed before
        # its answer goes out; a refused one may have changed something too (a seat added, its
        # assignment refused), and a save with nothing changed writes nothing.
        if request.method not in ("GET", "HEAD"):
            runtime.persist()


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
    """GET: the clock. POST {"set": ISO, "advance": "+31d", "freeze": bool}: move it first
    (set, then advance), only ever inside the calendar's window."""
    runtime = _runtime(request)
    if request.method == "POST":
        body = await _body(request, "set", "advance", "freeze")
        freeze = body.flag("freeze", runtime.clock.frozen)
        instant = body.instant("set")
        start = runtime.clock.now() if instant is None else instant
        step = body.step("advance", start)  # checked before anything moves
        if instant is not None:
            runtime.clock.set(instant, freeze=freeze)
        elif freeze != runtime.clock.frozen:
            runtime.clock.set(runtime.clock.now(), freeze=freeze)
        if step is not None:
            runtime.clock.advance(step)
    elif request.method not in ("GET", "HEAD"):
        raise PlanError(f"{request.method} is not allowed here: GET or POST", 405)
    return _json({"now": iso(runtime.clock.now()), "frozen": runtime.clock.frozen})


async def journal(request: web.Request) -> web.StreamResponse:
    """GET ?limit=1..10000 (100) &status=100..599 &bodies=0|1: the newest entries first."""
    limit = query_whole(request.query, "limit", 1, JOURNAL_LIMIT, 100)
    status = query_whole(request.query, "status", 100, 599, 0) or None
    bodies = query_choice(request.query, "bodies", ("0", "1"), "1") == "1"
    entries = _runtime(request).journal.newest(limit, status)
    return _json({"entries": [entry.to_json(bodies) for entry in entries]})


async def journal_entry(request: web.Request) -> web.StreamResponse:
    """GET /journal/{request_id}: one entry, with the bodies it kept."""
    wanted = request.match_info["request_id"]
    for entry in reversed(_runtime(request).journal.entries):
        if entry.request_id == wanted:
            return _json(entry.to_json())
    raise PlanError(f"no journal entry {shown(wanted)}", 404)


async def reset(request: web.Request) -> web.StreamResponse:
    await _body(request)
    _runtime(request).reset()
    return _json(views.overview(_runtime(request)))


async def usage(request: web.Request) -> web.StreamResponse:
    days = query_choice(request.query, "days", tuple(map(str, USAGE_WINDOWS)), "30")
    return _json(views.usage(_runtime(request), int(days)))


async def stats(request: web.Request) -> web.StreamResponse:
    runtime = _runtime(request)
    request_id = runtime.seeds.uuid("stats", runtime.clock.now(), runtime.requests_seen)
    return _json(views.subscription_stats(runtime, request_id))


async def buy_pack(request: web.Request) -> web.StreamResponse:
    await _body(request)
    runtime = _runtime(request)
    pack = runtime.ledger.buy_pack()
    return _json(views.pack_view(pack, runtime.clock.now()), 201)


async def add_seat(request: web.Request) -> web.StreamResponse:
    body = await _body(request, "tier", "member")
    tier = body.choice("tier", TIERS, "pro") or "pro"
    member = body.name("member")
    ledger = _runtime(request).ledger
    seat = ledger.add_seat(tier, member)
    return _json(views.seat_view(seat, ledger), 201)


async def seat_action(request: web.Request) -> web.StreamResponse:
    """POST /seats/{id}/{assign|reclaim|upgrade|reset-key|suspend|unsuspend|pack-limit}."""
    ledger = _runtime(request).ledger
    seat_id, action = request.match_info["seat"], request.match_info["action"]
    if action == "assign":
        member = (await _body(request, "member")).name("member")
        if member is None:
            raise PlanError("assign needs a member name")
        seat = ledger.assign(seat_id, member)
    elif action == "upgrade":
        tier = (await _body(request, "tier")).choice("tier", TIERS)
        if tier is None:
            raise PlanError(f"upgrade needs a tier: one of {', '.join(TIERS)}")
        seat = ledger.upgrade(seat_id, tier)
    elif action == "pack-limit":
        limit = (await _body(request, "limit")).credits("limit", MAX_PACK_LIMIT)
        seat = ledger.set_pack_limit(seat_id, limit)
    elif action in ("reclaim", "reset-key", "suspend", "unsuspend"):
        await _body(request)
        if action == "reclaim":
            seat = ledger.reclaim(seat_id)
        elif action == "reset-key":
            seat = ledger.reset_key(seat_id)
        else:
            seat = ledger.suspend(seat_id, action == "suspend")
    else:
        raise PlanError(f"unknown seat action {shown(action)}", 404)
    return _json(views.seat_view(seat, ledger))


async def renew(request: web.Request) -> web.StreamResponse:
    """POST {"months": 1..}: the term grows, up to MAX_TERM_MONTHS in all."""
    body = await _body(request, "months")
    _runtime(request).ledger.renew(body.whole("months", 1, MAX_TERM_MONTHS, 1) or 1)
    return _json(views.overview(_runtime(request))["subscription"])


async def subscribe(request: web.Request) -> web.StreamResponse:
    """A new subscription: refused while one is active (one per account, the FAQ)."""
    runtime = _runtime(request)
    body = await _body(request, "months")
    months = body.whole("months", 1, MAX_TERM_MONTHS, 1) or 1
    if not runtime.ledger.expired():
        raise PlanError(
            "Each Alibaba Cloud account can have only one active Token Plan Team Edition "
            "subscription.",
            409,
        )
    runtime.resubscribe(months)
    return _json(views.overview(runtime), 201)


async def scenarios(request: web.Request) -> web.StreamResponse:
    """The scenarios of the file the running one came from, and which one is served."""
    config = _runtime(request).config
    path = Path(config.scenarios_file) if config.scenarios_file else None
    return _json({"current": config.scenario, "scenarios": scenario_names(path)})


SWITCH_FIELDS = ("name", "seed", "clock", "catalog")


async def switch_scenario(request: web.Request) -> web.StreamResponse:
    """POST {"name": ..., "seed"?, "clock"?, "catalog"?}: serve that scenario from its start
    (same file), on another model list if `catalog` says so."""
    runtime = _runtime(request)
    switch(runtime, await _body(request, *SWITCH_FIELDS))
    return _json(views.overview(runtime))


def switch(runtime: Runtime, body: Body) -> None:
    """What `POST /scenario` does with its body, also called by the pytest plugin on the
    server's own thread (testing.py), so a test's start is the admin API's, checks and all;
    PlanError when refused, before anything changes."""
    name = body.name("name", MAX_SCENARIO_NAME_CHARS) or runtime.config.scenario
    seed = body.whole("seed", 0, MAX_SEED)
    body.instant("clock")  # refused here, before anything changes
    catalog = body.choice("catalog", CATALOGS)
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
        seed=seed,
        clock=body.fields.get("clock"),
        catalog=catalog,
    )
    runtime.switch(config)


def add_admin_routes(app: web.Application, base: str) -> None:
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
