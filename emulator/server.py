"""build_app(config): the aiohttp application serving every site on one port.

Data flow: the gateway middleware gives every request its id and journal entry and checks the
key for the site it came to (flat 401s on every path of the Token Plan, before routing, as the
real gateway does); handlers parse the body with the protocol adapter, check the model and the
input length, ask the plan to admit the call, ask the engine for the answer, charge it, and
render it. Any ApiError is rendered in the envelope of the protocol that was called.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any, NamedTuple

from aiohttp import web

from emulator.admin.api import add_admin_routes, admin_guard, guarded
from emulator.admin.health import describe
from emulator.auth import presented_key
from emulator.bodies import LIMITS, ClientGone, read_body
from emulator.call import CALL, Call
from emulator.completion import complete, response_meta, text_model
from emulator.config import Config
from emulator.engine import tokens
from emulator.errors import ApiError
from emulator.image_routes import add_image_routes
from emulator.journal import Entry, clip, mask
from emulator.plan.accounts import Caller
from emulator.protocols import anthropic_messages, dashscope, fields, openai_chat
from emulator.protocols.meta import glance
from emulator.responses_routes import add_responses_routes, is_responses, refuse
from emulator.runtime import RUNTIME, Runtime
from emulator.scenarios.faults import Fault
from emulator.scenarios.rules import Probe, rule_error
from emulator.sites import SITES, Site, is_management, site_of
from emulator.streaming import (
    CLIENT_GONE,
    NOT_SENT,
    STOPPING,
    answering_rule,
    journal_once,
    no_answer,
    sse_response,
)
from emulator.web import (
    ARRIVED,
    CALLER,
    REQUEST_ID,
    Answer,
    json_response,
    rendered_response,
)

log = logging.getLogger("emulator")


ADMIN_BASE = "/_emulator"
OPENAI_BASE = "/compatible-mode/v1"
ANTHROPIC_BASE = "/apps/anthropic"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# ---- responses ----------------------------------------------------------------------------


def error_body(error: ApiError, site: Site, request_id: str) -> dict[str, Any]:
    if error.kind.gateway or site.protocol == "dashscope":
        return dashscope.error_body(error, request_id)
    if site.protocol == "anthropic":
        return anthropic_messages.error_body(error, request_id)
    return openai_chat.error_body(error, request_id)


def error_response(request: web.Request, error: ApiError, site: Site) -> Answer:
    call = request[CALL]
    entry = call.entry
    entry.error = error.kind.name
    if entry.model is None:  # refused before the model was looked up: the model it named is
        entry.model = named_model(call.body)  # what a user debugging a 404 needs
    return json_response(request, error_body(error, site, call.request_id), error.status)


# ---- the gateway --------------------------------------------------------------------------


class _Place(NamedTuple):
    """Where a request's path leads, as the gateway sorts requests."""

    guarded: bool  # the admin API's, kept to loopback (admin_guard)
    admin: bool  # the emulator's own: its API and its pages
    site: Site | None  # the site an API call came to (None: the emulator's own, or no site)
    management: bool  # the management API's, signed with an AccessKey


# Remembered: a server sees the same few paths again and again (a bounded cache, as any path
# may come in).
@functools.lru_cache(maxsize=256)
def _place(path: str) -> _Place:
    admin = path.startswith(ADMIN_BASE + "/") or path == ADMIN_BASE
    site = None if admin else site_of(path)
    return _Place(guarded(path), admin, site, is_management(path))


@web.middleware
async def gateway(
    request: web.Request, handler: Handler, *, guard_passed: bool = False
) -> web.StreamResponse:
    # The only middleware (each is a coroutine frame every request pays for): the admin API's
    # guard comes first, then this again, its guard passed.
    path = request.path
    place = _place(path)
    if not guard_passed and place.guarded:
        return await admin_guard(
            request, functools.partial(gateway, handler=handler, guard_passed=True)
        )
    runtime = request.app[RUNTIME]
    arrived = runtime.clock.now()
    request[ARRIVED] = arrived
    runtime.requests_seen += 1
    admin, site = place.admin, place.site
    raw, refused, gone = b"", None, False
    if site is not None and request.match_info.http_exception is None:
        # Only a routed API call's body is read (a 404's or a 405's never is; the admin API
        # reads its own): the limit is enforced as it arrives (bodies.py).
        try:
            raw = await read_body(request)
        except ApiError as error:
            refused = error
        except ClientGone:
            gone = True
    # Under a frozen clock the same request must get the same id (determinism); on the real
    # clock the running count keeps identical requests within one clock tick apart.
    sequence = 0 if runtime.clock.frozen else runtime.requests_seen
    request_id = request[REQUEST_ID] = runtime.seeds.request_id(
        request.method, request.path_qs, raw, arrived, sequence
    )
    if place.management:  # signed with an AccessKey, not a Bearer key: its own
        # check and envelope. Imported with the first management call: the module is the
        # largest a start would otherwise compile or load (8 ms from source), for a path
        # most runs never see.
        from emulator.management_routes import serve as serve_management

        managed = await serve_management(request)
        await _persisted(runtime)
        return managed
    if admin:
        return await handler(request)
    if site is None:
        return web.Response(status=404, headers={"x-request-id": request_id})
    entry = Entry(request_id, arrived, request.method, path, site.plan, site.protocol)
    request[CALL] = Call(runtime, request_id, arrived, raw, entry)
    if gone:  # hung up mid-body: nothing to answer, but the journal says what happened
        log.info("%s %r: the client hung up before its body was complete", request.method, path)
        entry.error = CLIENT_GONE
        journal_once(request, NOT_SENT)
        return web.Response(status=NOT_SENT)
    entry.request_body = clip(raw)
    response = await _answer(request, handler, site, refused)
    if isinstance(response, (Answer, web.Response)) and isinstance(response.body, bytes):
        entry.response_body = clip(response.body)
    journal_once(request, response.status)  # a whole answer: committed with its charge
    if runtime.commit_pending:  # (in memory never: no frames to await for nothing)
        await _persisted(runtime)
    if response.status < 500:
        runtime.last_failure = None
    return response


async def _persisted(runtime: Runtime) -> None:
    """Wait for the commit of what this request changed (--state), before its answer goes out."""
    try:
        await runtime.persisted()
    except Exception as exc:  # the state file cannot be written (health.py): a 500
        runtime.last_failure = describe(exc)
        raise


async def _answer(
    request: web.Request, handler: Handler, site: Site, refused: ApiError | None
) -> web.StreamResponse:
    call = request[CALL]
    runtime = call.runtime
    refused_route = request.match_info.http_exception
    # (isinstance of None against aiohttp's exception, an ABC, takes a Python-level check)
    unrouted = refused_route is not None and isinstance(refused_route, web.HTTPNotFound)
    if unrouted and not site.wrong_path_is_url_error:
        # The Coding Plan and pay-as-you-go hosts answer a wrong path with a bare 404 whatever
        # the key (docs/sources.md); only the Token Plan gateway checks the key first.
        return web.Response(status=404, headers={"x-request-id": call.request_id})
    try:
        if refused is not None:  # a body that could not be read: refused before the key check
            raise refused
        # The Token Plan gateway takes the key only from `Authorization: Bearer` (FAQ) unless
        # configured otherwise; the other plans' Anthropic endpoints document x-api-key too.
        accept_x = runtime.config.accept_x_api_key or site.plan != "token_plan"
        key = presented_key(request.headers, accept_x)
        entry = call.entry
        entry.key = mask(key)
        caller = request[CALLER] = runtime.accounts.authenticate(site.plan, key)
        if caller.seat is not None:
            entry.member, entry.seat = caller.seat.member, caller.seat.id
        if runtime.rules.rules:  # (most scenarios have none: no rule to consult)
            early = await _consult_rules(request, site, caller)
            if early is not None:
                return early
        return await handler(request)
    except ApiError as error:
        if is_responses(request.path) and not error.kind.gateway:
            return await refuse(request, error)
        return error_response(request, error, site)
    except web.HTTPNotFound:
        return error_response(request, ApiError("url_error"), site)
    except web.HTTPMethodNotAllowed:
        refusal = ApiError("method_not_allowed", method=request.method, path=request.path)
        return error_response(request, refusal, site)
    except Exception as exc:
        log.exception("unexpected failure on %s %r", request.method, request.path)
        runtime.last_failure = describe(exc)
        if is_responses(request.path):
            return await refuse(request, ApiError("internal_error"))
        return error_response(request, ApiError("internal_error"), site)


# ---- scenario rules -----------------------------------------------------------------------


async def _consult_rules(
    request: web.Request, site: Site, caller: Caller
) -> web.StreamResponse | None:
    """Let the scenario's rules answer: a fault that ends the request here, an error, or (for
    the handler) a scripted reply and stream faults. None: the handler answers."""
    runtime = request.app[RUNTIME]
    look = glance(_lenient_json(request[CALL].body))
    probe = Probe(
        plan=site.plan,
        protocol=site.protocol,
        path=request.path,
        model=look.model,
        key=caller.key,
        member=caller.seat.member if caller.seat is not None else None,
        stream=look.stream,
        tools=look.tools,
        last_user=look.last_user,
        system=look.system,
    )
    answering = await answering_rule(request, probe)
    if answering is None:
        return None
    rule = answering.rule
    fault = rule.fault or Fault()
    if fault.drop or fault.stall:
        return await no_answer(request, stall=fault.stall)
    if fault.status is not None:
        request[CALL].entry.error = f"fault:status {fault.status}"
        headers = {
            "x-request-id": request[REQUEST_ID],
            "Server": "istio-envoy",
            "Date": formatdate(runtime.clock.now(), usegmt=True),  # the emulator's clock
        }
        return web.Response(status=fault.status, text=fault.gateway_body(), headers=headers)
    streamed_error = look.stream and fault.error_after is not None
    if rule.error is not None and not streamed_error:
        raise rule_error(rule, probe)
    return None


def named_model(raw: bytes) -> str | None:
    """The `model` a request body names, read leniently (None when it names none)."""
    model = _lenient_json(raw).get("model")
    return model if isinstance(model, str) else None


def _lenient_json(raw: bytes) -> dict[str, Any]:
    try:  # parse_object, as the handlers do: lone surrogates replaced, so they render
        return fields.parse_object(raw) if raw else {}
    except ApiError:
        return {}


# ---- text endpoints -----------------------------------------------------------------------


async def chat_completions(request: web.Request) -> web.StreamResponse:
    call = request[CALL]
    runtime = call.runtime
    body = fields.parse_object(call.body)
    model = text_model(runtime, body, "openai")
    chat = openai_chat.parse(body, model)
    result = complete(request, chat)
    meta = response_meta(request, model)
    if chat.stream:
        frames = openai_chat.stream_frames(chat, result, meta)
        return await sse_response(request, frames, openai_chat.stream_error_frame)
    return rendered_response(request, openai_chat.completion_json(chat, result, meta))


async def list_models(request: web.Request) -> web.StreamResponse:
    catalog = request.app[RUNTIME].catalog
    ids = catalog.all_ids()
    return json_response(
        request, openai_chat.models_body(ids, {mid: catalog.created(mid) for mid in ids})
    )


async def messages(request: web.Request) -> web.StreamResponse:
    call = request[CALL]
    runtime = call.runtime
    body = fields.parse_object(call.body)
    model = text_model(runtime, body, "anthropic")
    chat = anthropic_messages.parse(body, model)
    result = complete(request, chat)
    meta = response_meta(request, model)
    if chat.stream:
        frames = anthropic_messages.stream_frames(result, meta)
        return await sse_response(request, frames, anthropic_messages.stream_error_frame)
    return rendered_response(request, anthropic_messages.message_json(result, meta))


async def count_tokens(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    body = fields.parse_object(request[CALL].body)
    model = text_model(runtime, body, "anthropic")
    chat = anthropic_messages.parse_for_count(body, model)
    counted = tokens.prompt_tokens(chat.messages, chat.tools)
    return json_response(request, anthropic_messages.count_tokens_body(counted))


async def _let_stalls_go(app: web.Application) -> None:
    app[STOPPING].set()


def build_app(config: Config | None = None) -> web.Application:
    """The emulator as an aiohttp application; all its state hangs off the app."""
    config = config or Config()
    # aiohttp's own limit too, for anything that reads a body with request.read()
    app = web.Application(middlewares=[gateway], client_max_size=config.http.max_body)
    app[LIMITS] = config.http
    app[RUNTIME] = Runtime.from_config(config)
    app[STOPPING] = asyncio.Event()
    app.on_shutdown.append(_let_stalls_go)
    for site in SITES:
        if site.protocol == "openai":
            app.router.add_post(f"{site.base}/chat/completions", chat_completions)
            app.router.add_get(f"{site.base}/models", list_models)
        elif site.protocol == "anthropic":
            app.router.add_post(f"{site.base}/v1/messages", messages)
            app.router.add_post(f"{site.base}/v1/messages/count_tokens", count_tokens)
    add_image_routes(app, [site.base for site in SITES if site.protocol == "dashscope"])
    add_responses_routes(
        app, [site.base for site in SITES if is_responses(site.base + "/responses")]
    )
    add_admin_routes(app, ADMIN_BASE)
    return app
